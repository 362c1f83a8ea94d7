"""SparseEncoderDataCollator: :class:`~embedkit.base.data_collator.BaseDataCollator` for SparseEncoder models
(one ``{column}_{feature}`` group per input column)."""

from __future__ import annotations

from dataclasses import dataclass

from embedkit.base.data_collator import BaseDataCollator


@dataclass
class SparseEncoderDataCollator(BaseDataCollator):
    """The collator of :class:`~embedkit.sparse_encoder.trainer.SparseEncoderTrainer` (sentence-transformers' name);
    batches are built exactly as for SentenceTransformer models."""


__all__ = ["SparseEncoderDataCollator"]
