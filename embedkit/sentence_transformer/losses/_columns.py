"""Shared plumbing of the losses: embed every input column, and check a label count.

A loss receives one features dict per dataset column (``sentence_features[i]`` holds the tokenized i-th column) and
turns each into pooled embeddings with ``model(features)["sentence_embedding"]``. As in sentence-transformers, the
first column (queries/anchors) gets its own forward pass and all further columns go through the model together: their
token tensors are right-padded to a common length and stacked, which is one forward pass instead of K and gives the
same embeddings (padding is masked). Columns whose features cannot be stacked (different keys, float inputs of
different lengths, per-batch values that disagree) fall back to one pass each.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.base.losses.merged_forward import embed_columns as _embed_columns
from embedkit.base.losses.merged_forward import merge_feature_batches


def merge_columns(columns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Stack the rows of several columns' features into one batch, or None if they cannot be stacked.

    Shapes: per column ``input_ids``/``attention_mask``/... (B, T_k) -> (K*B, max T_k), zero right-padding. Same as
    :func:`embedkit.base.losses.merged_forward.merge_feature_batches`.
    """
    return merge_feature_batches(columns)


def embed_columns(model: nn.Module, sentence_features: Iterable[dict[str, Any]]) -> list[Tensor]:
    """One (B, D) embedding tensor per input column: column 0 alone, columns 1.. in one merged pass if possible."""
    return _embed_columns(model, sentence_features, separate_first=True)


def check_one_label_per_row(loss: nn.Module, batch_size: int, labels: Tensor) -> Tensor:
    """Return ``labels`` flattened to (B,), or raise if there is not exactly one label per row."""
    if labels.numel() != batch_size:
        raise ValueError(
            f"{type(loss).__name__} expects {batch_size} labels (one per example), got {labels.numel()} labels "
            f"with shape {tuple(labels.shape)}"
        )
    return labels.view(-1)


def refuse_nan_labels(loss: nn.Module, labels: Tensor) -> None:
    """Raise a ValueError naming the batch positions of NaN labels (a NaN score would silently drop out of a
    ranking loss such as CoSENT, or turn a regression loss into NaN)."""
    if labels.is_floating_point():
        nan = torch.isnan(labels.reshape(labels.shape[0], -1)).any(dim=1) if labels.dim() else torch.isnan(labels)
        if bool(nan.any()):
            rows = nan.nonzero().flatten().tolist()
            raise ValueError(f"{type(loss).__name__}: the label of batch row(s) {rows[:10]} is NaN; drop or fix "
                             "those rows (the trainer names them in the dataset)")
