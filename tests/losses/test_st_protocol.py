"""sentence-transformers' loss machinery names: merged multi-column forwards, GradCache helpers and protocol."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from embedkit.base.losses.gradcache import (
    CachedLossMixin,
    _create_minibatch,
    _get_batch_size,
    _minibatch_ranges,
    uses_gradient_cache,
)
from embedkit.base.losses.merged_forward import (
    column_merging_disabled,
    embed_columns,
    merge_feature_batches,
)
from embedkit.sentence_transformer import losses as L
from tests.training.helpers import tiny_model


def _column(width: int, rows: int = 2, **extra):
    return {"input_ids": torch.ones(rows, width, dtype=torch.long),
            "attention_mask": torch.ones(rows, width, dtype=torch.long), **extra}


def test_merge_pads_and_respects_metadata():
    merged = merge_feature_batches([_column(3, prompt_length=2), _column(5, prompt_length=2)])
    assert merged["input_ids"].shape == (4, 5) and merged["attention_mask"][:2, 3:].sum() == 0
    assert merged["prompt_length"] == 2
    assert merge_feature_batches([_column(3, task="query"), _column(3, task="document")]) is None
    assert merge_feature_batches([_column(3), _column(3, rows=3)]) is None  # rows must align
    with column_merging_disabled():
        assert merge_feature_batches([_column(3), _column(3)]) is None
    assert merge_feature_batches([_column(3), _column(3)]) is not None


def test_embed_columns_separate_first_counts_forwards():
    model = tiny_model(dropout=False).eval()
    calls = []
    forward = model.forward
    model.forward = lambda features, **kw: calls.append(features["input_ids"].shape[0]) or forward(features, **kw)
    cols = [model.preprocess(["a", "b"]), model.preprocess(["c d", "e"]), model.preprocess(["f", "g h i"])]
    with torch.no_grad():
        merged = embed_columns(model, cols)
        assert calls == [2, 4]
        calls.clear()
        everything = embed_columns(model, cols, separate_first=False)
        assert calls == [6]
    for a, b in zip(merged, everything):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_minibatch_helpers_padded_and_flattened():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]])
    features = {"input_ids": mask * 5, "attention_mask": mask}
    assert _get_batch_size(features) == 3
    assert _create_minibatch(features, 1, 3)["input_ids"].shape == (2, 2)  # trailing padding trimmed
    assert _minibatch_ranges(features, 2) == [(0, 2), (2, 3)]
    assert _minibatch_ranges(features, 1, mini_batch_num_tokens=4) == [(0, 2), (2, 3)]
    flat = {"input_ids": torch.arange(6).unsqueeze(0), "cu_seq_lens_q": torch.tensor([0, 3, 4, 6]),
            "max_length_q": 3}
    part = _create_minibatch(flat, 1, 3)
    assert part["input_ids"].tolist() == [[3, 4, 5]] and part["cu_seq_lens_q"].tolist() == [0, 1, 3]
    assert part["max_length_q"] == 2


class _SumLoss(CachedLossMixin, nn.Module):
    """A minimal host of the sentence-transformers protocol (per-mini-batch reps, ``with_backward``)."""

    def __init__(self, model, use_second: bool = True):
        super().__init__()
        self.model, self.mini_batch_size, self.use_second = model, 2, use_second

    def calculate_loss(self, reps, labels=None, *, with_backward=False):
        loss = torch.cat(reps[0]).pow(2).sum()
        if self.use_second:
            loss = loss + torch.cat(reps[1]).sum()
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def forward(self, features, labels=None):
        return self.forward_cached(features, labels)


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_st_protocol_host_matches_direct_loss():
    model = tiny_model(dropout=False).double()
    cols = [model.preprocess(["a", "b", "c"]), model.preprocess(["d", "e f", "g"])]
    assert uses_gradient_cache(_SumLoss(model))
    model.zero_grad()
    _SumLoss(model)(cols).backward()
    cached = _grads(model)
    model.zero_grad()
    reps = [model(c)["sentence_embedding"] for c in cols]
    (reps[0].pow(2).sum() + reps[1].sum()).backward()
    for name, grad in _grads(model).items():
        torch.testing.assert_close(cached[name], grad, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match=r"did not use input column\(s\) 1"):
        _SumLoss(model, use_second=False)(cols)


def test_cached_loss_validation_and_delegation():
    model = tiny_model()
    with pytest.raises(ValueError, match="mini_batch_num_tokens must be a positive integer or None."):
        L.CachedMultipleNegativesRankingLoss(model, mini_batch_num_tokens=0)
    loss = L.CachedMultipleNegativesRankingLoss(model, scale=10.0)
    loss.scale = 5.0
    assert loss.loss.scale == 5.0 and loss.temperature == pytest.approx(0.2)


def test_calculate_loss_and_cache_gradients():
    loss = L.CachedMultipleNegativesRankingLoss(tiny_model(), mini_batch_size=2)
    reps = [[torch.randn(2, 8).requires_grad_(), torch.randn(1, 8).requires_grad_()] for _ in range(2)]
    value, cache = loss.calculate_loss_and_cache_gradients(reps)
    assert value.requires_grad and value.grad_fn is None
    assert [[g.shape for g in column] for column in cache] == [[(2, 8), (1, 8)]] * 2
