"""Cached losses equal their plain twins (dropout off): values and every parameter gradient."""

from __future__ import annotations

import pytest
import torch

from embedkit.sentence_transformer.losses import (
    CachedMultipleNegativesRankingLoss,
    CachedMultipleNegativesSymmetricRankingLoss,
    MultipleNegativesRankingLoss,
    MultipleNegativesSymmetricRankingLoss,
)
from tests.test_gradcache import columns
from tests.training.helpers import tiny_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def value_and_grads(loss, features):
    loss.model.zero_grad()
    value = loss(features, None)
    value.backward()
    return value.detach(), {n: p.grad.clone() for n, p in loss.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("plain_cls, cached_cls, max_negatives", [
    (MultipleNegativesRankingLoss, CachedMultipleNegativesRankingLoss, 3),
    (MultipleNegativesSymmetricRankingLoss, CachedMultipleNegativesSymmetricRankingLoss, 0),
])
@pytest.mark.parametrize("negatives", [0, 1, 3])
@pytest.mark.parametrize("mini_batch_size", [1, 3, 6])
def test_cached_matches_plain(plain_cls, cached_cls, max_negatives, negatives, mini_batch_size):
    if negatives > max_negatives:
        pytest.skip("symmetric loss takes pairs only")
    model = tiny_model(dropout=False).double()  # float64: compare the algorithms, not fp32 rounding
    features = columns(model, negatives)
    value, expected = value_and_grads(plain_cls(model), features)
    cached_value, got = value_and_grads(cached_cls(model, mini_batch_size=mini_batch_size), features)
    torch.testing.assert_close(cached_value, value, rtol=1e-10, atol=1e-12)
    assert set(got) == set(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-8, atol=1e-12, msg=name)


def test_cached_config_matches_st_keys():
    model = tiny_model()
    config = CachedMultipleNegativesRankingLoss(model, mini_batch_size=4).get_config_dict()
    assert list(config) == ["scale", "similarity_fct", "mini_batch_size", "mini_batch_num_tokens",
                            "gather_across_devices", "directions", "partition_mode", "hardness_mode",
                            "hardness_strength"]
    assert config["similarity_fct"] == "cos_sim" and config["mini_batch_size"] == 4


@pytest.mark.parametrize("guide_name", ["tiny_bert_v6", "tiny_mpnet_v6"])
@pytest.mark.parametrize("negatives", [0, 1])
def test_cached_gist_matches_gist(guide_name, negatives):
    from embedkit import SentenceTransformer
    from embedkit.sentence_transformer.losses import CachedGISTEmbedLoss, GISTEmbedLoss
    from tests.conftest import FIXTURES

    model = tiny_model(dropout=False).double()
    guide = SentenceTransformer(str(FIXTURES / guide_name), device="cpu").double().eval()  # no dropout noise
    # Distinct texts only: with a repeated text the guide's similarity ties its own threshold exactly, and the
    # last-bit differences between embedding the guide per mini-batch (cached) and per merged batch (plain) flip
    # that tie's mask.
    texts = ["a cat on a mat", "stocks fell today", "the river is wide and deep", "bread", "music in the park",
             "a quick brown fox", "rain again", "the chair is broken", "green tea", "a long train ride",
             "snow in april", "the old library", "fresh paint", "two dogs barking", "an empty stadium",
             "the last bus home", "warm soup", "a broken clock"]
    features = [model.preprocess(texts[6 * i: 6 * i + 6]) for i in range(2 + negatives)]
    value, expected = value_and_grads(GISTEmbedLoss(model, guide, temperature=0.05), features)
    cached_value, got = value_and_grads(CachedGISTEmbedLoss(model, guide, temperature=0.05, mini_batch_size=2),
                                        features)
    torch.testing.assert_close(cached_value, value, rtol=1e-10, atol=1e-12)
    model_params = {n for n, _ in model.named_parameters()}
    assert model_params & set(expected)
    for name in model_params & set(expected):
        torch.testing.assert_close(got.get(name), expected[name], rtol=1e-8, atol=1e-12, msg=name)


def test_mega_batch_margin_mini_batched_equals_full_batch():
    from embedkit.sentence_transformer.losses import MegaBatchMarginLoss

    model = tiny_model(dropout=False).double()
    features = columns(model, 0)
    value, expected = value_and_grads(MegaBatchMarginLoss(model, use_mini_batched_version=False), features)
    cached = MegaBatchMarginLoss(model, use_mini_batched_version=True, mini_batch_size=2)
    assert cached.uses_gradient_cache
    cached_value, got = value_and_grads(cached, features)
    torch.testing.assert_close(cached_value, value, rtol=1e-10, atol=1e-12)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-8, atol=1e-12, msg=name)
