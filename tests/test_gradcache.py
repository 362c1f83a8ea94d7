"""GradCache: cached == uncached (values and gradients), and the replay reproduces the first pass's dropout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from embedkit.base.losses.gradcache import (
    CachedLossMixin,
    RandContext,
    minibatch_ranges,
    slice_features,
)
from tests.training.helpers import tiny_model


def info_nce(reps: list[torch.Tensor]) -> torch.Tensor:
    queries, docs = reps[0], torch.cat(reps[1:])
    scores = F.normalize(queries, dim=-1) @ F.normalize(docs, dim=-1).T * 20  # (B, B * (1 + k))
    return F.cross_entropy(scores, torch.arange(len(queries)))


class Plain(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, features, labels):
        return info_nce([self.model(f)["sentence_embedding"] for f in features])


class Cached(CachedLossMixin, nn.Module):
    def __init__(self, model, mini_batch_size, mini_batch_num_tokens=None):
        super().__init__()
        self.model, self.mini_batch_size, self.mini_batch_num_tokens = model, mini_batch_size, mini_batch_num_tokens

    def calculate_loss(self, reps, labels):
        return info_nce(reps)

    def forward(self, features, labels):
        return self.forward_cached(features, labels)


TEXTS = ["a cat on a mat", "stocks fell today", "the river is wide and deep", "bread", "music in the park tonight",
         "a quick brown fox", "rain again", "the chair is broken"]


def columns(model, negatives: int):
    cols = [TEXTS[:6], TEXTS[2:8]] + [list(reversed(TEXTS[i : i + 6])) for i in range(negatives)]
    return [model.preprocess(c) for c in cols]


def grads(loss_module, features, scale=1.0):
    loss_module.zero_grad()
    loss = loss_module(features, None)
    (loss * scale).backward()
    return loss.detach(), {n: p.grad.clone() for n, p in loss_module.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("negatives", [0, 1, 3])
@pytest.mark.parametrize("mini_batch_size", [1, 3, 6])
def test_cached_equals_uncached(negatives, mini_batch_size):
    model = tiny_model(dropout=False)
    features = columns(model, negatives)
    value, expected = grads(Plain(model), features)
    cached_value, got = grads(Cached(model, mini_batch_size), features)
    torch.testing.assert_close(cached_value, value, rtol=1e-5, atol=1e-6)
    assert set(got) == set(expected) and expected
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_token_budget_packing_equals_uncached():
    model = tiny_model(dropout=False)
    features = columns(model, 1)
    _, expected = grads(Plain(model), features)
    _, got = grads(Cached(model, mini_batch_size=32, mini_batch_num_tokens=12), features)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_grad_output_scaling_is_applied_like_accumulation_or_fp16_scale():
    model = tiny_model(dropout=False)
    features = columns(model, 1)
    _, expected = grads(Cached(model, 2), features)
    _, scaled = grads(Cached(model, 2), features, scale=0.25)
    for name in expected:
        torch.testing.assert_close(scaled[name], expected[name] * 0.25, rtol=1e-5, atol=1e-8)


def test_replay_reproduces_dropout_masks_bitwise():
    model = tiny_model(dropout=True).train()
    seen: list[torch.Tensor] = []

    class Recording(Cached):
        def embed(self, features):
            out = super().embed(features)
            seen.append(out.detach().clone())
            return out

    loss = Recording(model, 2)(columns(model, 1), None)
    first_pass = list(seen)
    seen.clear()
    loss.backward()
    assert len(seen) == len(first_pass) == 9  # 3 columns x 3 mini-batches
    assert all(torch.equal(a, b) for a, b in zip(first_pass, seen))
    other = model(slice_features(columns(model, 1)[0], 0, 2))["sentence_embedding"]
    assert not torch.equal(other, first_pass[0]), "dropout is active, so a fresh pass must differ"


def test_eval_mode_returns_plain_loss_without_hooks():
    model = tiny_model(dropout=False)
    features = columns(model, 1)
    with torch.no_grad():
        torch.testing.assert_close(Cached(model, 2)(features, None), Plain(model)(features, None))


def test_helpers():
    feats = {"input_ids": torch.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6]]),
             "attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]]), "prompt_length": 2}
    assert minibatch_ranges(feats, 2) == [(0, 2), (2, 3)]
    assert minibatch_ranges(feats, 99, mini_batch_num_tokens=3) == [(0, 2), (2, 3)]
    assert slice_features(feats, 0, 2)["input_ids"].tolist() == [[1, 2], [3, 0]]
    assert slice_features(feats, 0, 2)["prompt_length"] == 2
    ctx = RandContext()
    first = torch.rand(2)
    with ctx:
        assert torch.equal(torch.rand(2), first)


def test_replay_accumulates_embedding_gradients_densely_and_restores_the_tables():
    # From the second replayed mini-batch on, lookups carry sparse gradients added into the dense .grad (skipping a
    # vocabulary-sized zero tensor per mini-batch); the result must be the dense gradient of the plain loss.
    model = tiny_model(dropout=False)
    features = columns(model, 1)
    _, want = grads(Plain(model), features)
    _, got = grads(Cached(model, mini_batch_size=2), features)
    tables = [m for m in model.modules() if type(m) is nn.Embedding]
    assert tables and not any(m.sparse for m in tables)
    for name, param in model.named_parameters():
        if name in got:
            assert param.grad.layout == torch.strided, name
    word = next(n for n, p in model.named_parameters() if p is tables[0].weight)
    assert tables[0].num_embeddings > 100  # the word embeddings
    torch.testing.assert_close(got[word], want[word], rtol=1e-5, atol=1e-6)
    assert set(got) == set(want)


def test_frozen_embedding_table_keeps_no_gradient():
    model = tiny_model(dropout=False)
    table = next(m for m in model.modules() if type(m) is nn.Embedding)
    table.weight.requires_grad_(False)
    _, got = grads(Cached(model, mini_batch_size=2), columns(model, 0))
    assert table.weight.grad is None and got
