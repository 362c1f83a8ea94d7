"""SentenceTransformerDataCollator: :class:`~embedkit.base.data_collator.BaseDataCollator` for SentenceTransformer
models (one ``{column}_{feature}`` group per input column)."""

from __future__ import annotations

from dataclasses import dataclass

from embedkit.base.data_collator import BaseDataCollator


@dataclass
class SentenceTransformerDataCollator(BaseDataCollator):
    """The collator of :class:`~embedkit.sentence_transformer.trainer.SentenceTransformerTrainer` (ST's name)."""


__all__ = ["SentenceTransformerDataCollator"]
