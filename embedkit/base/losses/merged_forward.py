"""One forward pass for several input columns.

A loss receives one features dict per dataset column. Embedding K columns one by one is K forward passes of B rows,
which leaves an accelerator mostly idle at usual batch sizes; columns that were preprocessed alike can instead be
right-padded to a common width and stacked into one (K*B)-row pass, which gives the same embeddings (padding is
masked) and, up to dropout sampling, the same loss and gradients.

:func:`merge_feature_batches` stacks columns or returns None when they differ in a way that changes the forward pass
(other keys, a router task or modality per column, a per-column prompt length, float inputs that would need padding,
tensors not indexed by sample, flattened token streams). :func:`embed_columns` uses it and falls back to one pass per
column. :func:`column_merging_disabled` turns merging off for a block, for wrapper losses that pass state between
calls through the per-column dicts themselves (AdaptiveLayerLoss).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.base.losses.gradcache import _get_batch_size

logger = logging.getLogger(__name__)

_MERGING_DISABLED: ContextVar[bool] = ContextVar("embedkit_column_merging_disabled", default=False)
_REPORTED: set[str] = set()


def _refuse(reason: str) -> None:
    """Log once per reason why columns get separate forward passes (a speed note: results are the same)."""
    if reason not in _REPORTED:
        _REPORTED.add(reason)
        logger.info("Embedding each input column in its own forward pass because %s; columns preprocessed alike "
                    "share one pass, with the same loss and gradients up to dropout sampling.", reason)


@contextmanager
def column_merging_disabled() -> Iterator[None]:
    """Within this block, :func:`merge_feature_batches` always refuses, so every column gets its own forward pass.

    Example:
        >>> cols = [{"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3)}] * 2
        >>> merge_feature_batches(cols) is None
        False
        >>> with column_merging_disabled():
        ...     merge_feature_batches(cols) is None
        True
    """
    token = _MERGING_DISABLED.set(True)
    try:
        yield
    finally:
        _MERGING_DISABLED.reset(token)


def _same_metadata(values: list[Any]) -> bool | None:
    """Whether all per-batch values agree; None when they cannot be compared."""
    first = values[0]
    try:
        if isinstance(first, Tensor):
            return all(isinstance(v, Tensor) and v.shape == first.shape and torch.equal(v, first) for v in values[1:])
        return all(bool(v == first) for v in values[1:])
    except (RuntimeError, TypeError, ValueError):
        return None


def merge_feature_batches(features_list: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Stack several columns' features into one batch (column-major: all rows of column 0, then column 1, ...).

    Token tensors (B, T_k, ...) are zero-padded on the right to the widest column and concatenated to (K*B, T, ...);
    per-row tensors (B,) are concatenated; everything else (prompt length, task, modality, ...) is batch metadata that
    must be equal in every column. Returns None where the columns cannot share a forward pass.

    Example:
        >>> a = {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.ones(2, 3, dtype=torch.long)}
        >>> b = {"input_ids": torch.ones(2, 5, dtype=torch.long), "attention_mask": torch.ones(2, 5, dtype=torch.long)}
        >>> merge_feature_batches([a, b])["input_ids"].shape
        torch.Size([4, 5])
    """
    if _MERGING_DISABLED.get() or not features_list:
        return None
    first = features_list[0]
    if any(set(features) != set(first) for features in features_list[1:]):
        return _refuse("the columns preprocess to different sets of features")
    if "cu_seq_lens_q" in first:  # flattened rows: concatenation would scramble the offsets
        return None
    if not any(isinstance(first.get(key), Tensor) and first[key].ndim >= 2 for key in ("input_ids", "attention_mask")):
        return None  # no padded batch to align rows by (e.g. StaticEmbedding's flat token stream)
    rows = _get_batch_size(first)
    merged: dict[str, Any] = {}
    for key, value in first.items():
        values = [features[key] for features in features_list]
        # A prompt length is read as one value for the whole batch, whatever its form: metadata, not rows.
        if isinstance(value, Tensor) and key != "prompt_length":
            if any(not isinstance(v, Tensor) or v.ndim != value.ndim for v in values):
                return _refuse(f"the columns give {key!r} different shapes")
            if any(v.ndim == 0 or v.shape[0] != rows for v in values):
                return _refuse(f"{key!r} is not indexed by sample")
            if value.ndim >= 2:
                if any(v.shape[2:] != value.shape[2:] for v in values):
                    return _refuse(f"the columns give {key!r} different shapes")
                width = max(v.shape[1] for v in values)
                if any(v.shape[1] != width for v in values):
                    if value.is_floating_point() or value.is_complex():
                        return _refuse(f"{key!r} is a float tensor that would need padding")
                    values = [F.pad(v, [0, 0] * (v.ndim - 2) + [0, width - v.shape[1]]) for v in values]
            merged[key] = torch.cat(values, dim=0)
        else:
            same = _same_metadata(values)
            if same is None:
                return _refuse(f"the columns cannot be compared on {key!r}")
            if not same:
                return _refuse(f"the columns disagree on {key!r}")
            merged[key] = value
    return merged


def embed_columns(model: nn.Module, features_list: Iterable[dict[str, Any]], separate_first: bool = True
                  ) -> list[Tensor]:
    """One ``sentence_embedding`` tensor (B, D) per column, sharing forward passes where columns merge.

    With ``separate_first`` (the default) column 0 (anchors/queries, usually much shorter than the candidates) keeps
    its own pass and only columns 1.. merge, so a two-column loss makes two passes. Where merging refuses, each column
    gets its own ``model(features)`` pass.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> cols = [model.preprocess(["a", "b"]), model.preprocess(["c", "d"]), model.preprocess(["e f", "g"])]
        >>> [e.shape[0] for e in embed_columns(model, cols)]
        [2, 2, 2]
    """
    columns = list(features_list)
    if separate_first and columns:
        return [model(columns[0])["sentence_embedding"], *embed_columns(model, columns[1:], separate_first=False)]
    merged = merge_feature_batches(columns) if len(columns) > 1 else None
    if merged is None:
        return [model(features)["sentence_embedding"] for features in columns]
    stacked = model(merged)["sentence_embedding"]  # (K*B, D)
    return list(stacked.reshape(len(columns), -1, *stacked.shape[1:]).unbind(0))
