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
import torch.nn.functional as F
from torch import Tensor, nn


def merge_columns(columns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Stack the rows of several columns' features into one batch, or None if they cannot be stacked.

    Shapes: per column ``input_ids``/``attention_mask``/... (B, T_k) -> (K*B, max T_k), zero right-padding.
    """
    first = columns[0]
    if any(set(c) != set(first) for c in columns[1:]):
        return None
    mask = first.get("attention_mask")
    if not isinstance(mask, Tensor) or mask.ndim != 2:
        return None
    rows = mask.shape[0]
    merged: dict[str, Any] = {}
    for key, value in first.items():
        values = [c[key] for c in columns]
        per_row = isinstance(value, Tensor) and key != "prompt_length"  # a prompt length is one value per batch
        if per_row and value.ndim >= 2:
            if any(not isinstance(v, Tensor) or v.ndim != value.ndim or v.shape[0] != rows
                   or v.shape[2:] != value.shape[2:] for v in values):
                return None
            length = max(v.shape[1] for v in values)
            if any(v.shape[1] != length for v in values):
                if value.is_floating_point():
                    return None
                values = [F.pad(v, [0, 0] * (v.ndim - 2) + [0, length - v.shape[1]]) for v in values]
            merged[key] = torch.cat(values, dim=0)
        elif per_row and value.ndim == 1 and value.shape[0] == rows:
            if any(not isinstance(v, Tensor) or v.shape != value.shape for v in values):
                return None
            merged[key] = torch.cat(values, dim=0)
        else:  # per-batch values (e.g. a prompt length or a task name) must agree
            try:
                same = all(torch.equal(v, value) if isinstance(value, Tensor) else v == value for v in values[1:])
            except (RuntimeError, TypeError, ValueError):
                return None
            if not same:
                return None
            merged[key] = value
    return merged


def embed_columns(model: nn.Module, sentence_features: Iterable[dict[str, Any]]) -> list[Tensor]:
    """One (B, D) embedding tensor per input column: column 0 alone, columns 1.. in one merged pass if possible."""
    columns = list(sentence_features)
    if not columns:
        return []
    embeddings = [model(columns[0])["sentence_embedding"]]
    rest = columns[1:]
    merged = merge_columns(rest) if len(rest) > 1 else None
    if merged is None:
        return embeddings + [model(features)["sentence_embedding"] for features in rest]
    stacked = model(merged)["sentence_embedding"]  # (K*B, D)
    return embeddings + list(stacked.reshape(len(rest), -1, *stacked.shape[1:]).unbind(0))


def check_one_label_per_row(loss: nn.Module, batch_size: int, labels: Tensor) -> Tensor:
    """Return ``labels`` flattened to (B,), or raise if there is not exactly one label per row."""
    if labels.numel() != batch_size:
        raise ValueError(
            f"{type(loss).__name__} expects {batch_size} labels (one per example), got {labels.numel()} labels "
            f"with shape {tuple(labels.shape)}"
        )
    return labels.view(-1)
