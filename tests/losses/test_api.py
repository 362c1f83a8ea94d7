"""Public surface of embedkit.sentence_transformer.losses: the LOSSES table, constructor signatures (vs
sentence-transformers 6.2), and the errors raised for invalid arguments or inputs."""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from torch import nn

import embedkit.sentence_transformer.losses as L
from tests.losses.helpers import golden, load_model


def _default_repr(value) -> str:
    if value is inspect.Parameter.empty:
        return "<required>"
    if isinstance(value, nn.Module):
        return f"{type(value).__name__}()"
    if callable(value):
        return getattr(value, "__qualname__", getattr(value, "__name__", repr(value)))
    return repr(list(value) if isinstance(value, tuple) else value)


def test_losses_table_lists_every_loss_by_class_name():
    assert set(golden()["signatures"]) <= set(L.LOSSES)  # cached/wrapper losses are checked in their own tests
    for name, cls in L.LOSSES.items():
        assert cls.__name__ == name and issubclass(cls, nn.Module)


@pytest.mark.parametrize("name", sorted(golden()["signatures"]))
def test_constructor_signature_matches_sentence_transformers(name):
    params = list(inspect.signature(L.LOSSES[name].__init__).parameters.values())[1:]
    ours = [[p.name, _default_repr(p.default)] for p in params]
    assert ours == golden()["signatures"][name]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: L.MultipleNegativesRankingLoss(None, scale=0.0), "Scale must be a positive value."),
        (lambda: L.MultipleNegativesRankingLoss(None, directions=()), "direction"),
        (lambda: L.MultipleNegativesRankingLoss(None, directions=("query_to_doc", "sideways")), "sideways"),
        (lambda: L.MultipleNegativesRankingLoss(None, directions=("doc_to_query",)), "query_to_doc"),
        (lambda: L.MultipleNegativesRankingLoss(None, partition_mode="both"), "partition_mode"),
        (lambda: L.MultipleNegativesRankingLoss(None, directions=("query_to_doc", "query_to_query"),
                                                partition_mode="per_direction"), "per_direction"),
        (lambda: L.MultipleNegativesRankingLoss(None, hardness_mode="hardest"), "hardness_mode"),
        (lambda: L.MultipleNegativesRankingLoss(None, hardness_strength=-1.0), "hardness_strength"),
        (lambda: L.EmbedDistillLoss(None, distance_metric="kl"), "distance_metric"),
        (lambda: L.DistillKLDivLoss(None, temperature=0.0), "temperature"),
        (lambda: L.DistillKLDivLoss(None, teacher_temperature=float("inf")), "teacher_temperature"),
        (lambda: L.GlobalOrthogonalRegularizationLoss(None, mean_weight=0, second_moment_weight=None), "weight"),
        (lambda: L.GlobalOrthogonalRegularizationLoss(None, aggregation="max"), "aggregation"),
        (lambda: L.MegaBatchMarginLoss(None, mini_batch_num_tokens=0), "mini_batch_num_tokens"),
        (lambda: L.ContrastiveTensionDataLoader(["a"] * 20, batch_size=6, pos_neg_ratio=4), "divisible"),
    ],
)
def test_invalid_arguments_raise_value_error(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_invalid_arguments_needing_a_model():
    model = load_model("tiny_bert_v6")
    with pytest.raises(ValueError, match="margin_strategy"):
        L.GISTEmbedLoss(model, load_model("tiny_bert_v6"), margin_strategy="percent")
    with pytest.raises(ValueError, match="concatenation"):
        L.SoftmaxLoss(model, 16, 3, concatenation_sent_rep=False, concatenation_sent_difference=False)


@pytest.mark.parametrize(
    ("loss", "embeddings", "labels", "message"),
    [
        (L.MultipleNegativesRankingLoss(None), [torch.randn(3, 4)], None, "at least 2"),
        (L.CoSENTLoss(None), [torch.randn(3, 4)] * 2, torch.ones(4), "expects 3 labels"),
        (L.CosineSimilarityLoss(None), [torch.randn(3, 4)] * 2, torch.ones(2), "expects 3 labels"),
        (L.ContrastiveLoss(None), [torch.randn(3, 4)] * 2, torch.ones(3, 2), "expects 3 labels"),
        (L.AnglELoss(None), [torch.randn(3, 4)] * 2, None, "needs labels"),
        (L.TripletLoss(None), [torch.randn(3, 4)] * 2, None, "3 input columns"),
        (L.BatchHardTripletLoss(None), [torch.randn(3, 4)], torch.ones(5), "expects 3 labels"),
        (L.MarginMSELoss(None), [torch.randn(3, 4)] * 4, torch.ones(3, 5), "labels must have shape"),
        (L.DistillKLDivLoss(None), [torch.randn(3, 4)] * 2, torch.ones(3, 1), "at least 3 columns"),
        (L.DistillKLDivLoss(None), [torch.randn(3, 4)] * 3, torch.ones(3, 3), "teacher scores of shape"),
        (L.DistillKLDivLoss(None), [torch.randn(3, 4)] * 3, torch.full((3, 2), float("nan")), "NaN"),
    ],
)
def test_invalid_inputs_raise_value_error(loss, embeddings, labels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        loss.compute_loss_from_embeddings(embeddings, labels)


def test_forward_input_checks():
    model = load_model("tiny_bert_v6")
    feats = [model.preprocess(["a b", "c d"]) for _ in range(3)]
    with pytest.raises(ValueError, match="exactly 2 input columns"):
        L.MegaBatchMarginLoss(model)(feats, None)
    with pytest.raises(ValueError, match="2 or 3 input columns"):
        L.GISTEmbedLoss(model, load_model("tiny_bert_v6"))(feats + feats[:1], None)
    with pytest.raises(ValueError, match="teacher embeddings"):
        L.MSELoss(model)(feats[:1], None)
    with pytest.raises(ValueError, match="columns"):
        L.MSELoss(model)(feats[:2], torch.zeros(2, 3, 16))


def test_binary_label_warning_is_given_once():
    loss = L.ContrastiveLoss(None)
    emb = [torch.randn(2, 4), torch.randn(2, 4)]
    with pytest.warns(UserWarning, match="binary"):
        loss.compute_loss_from_embeddings(emb, torch.tensor([0.3, 1.0]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss.compute_loss_from_embeddings(emb, torch.tensor([0.3, 1.0]))


def test_mnsrl_is_deprecated_and_equals_symmetric_mnrl():
    with pytest.warns(DeprecationWarning):
        old = L.MultipleNegativesSymmetricRankingLoss(None)
    new = L.MultipleNegativesRankingLoss(None, directions=("query_to_doc", "doc_to_query"),
                                         partition_mode="per_direction")
    emb = [torch.randn(4, 8), torch.randn(4, 8)]
    expected = new.compute_loss_from_embeddings(emb, None)
    torch.testing.assert_close(old.compute_loss_from_embeddings(emb, None), expected)
