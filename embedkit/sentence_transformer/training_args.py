"""SentenceTransformerTrainingArguments: the shared training arguments (:mod:`embedkit.base.training_args`)."""

from __future__ import annotations

from embedkit.base.training_args import BatchSamplers, MultiDatasetBatchSamplers, SentenceTransformerTrainingArguments

__all__ = ["SentenceTransformerTrainingArguments", "BatchSamplers", "MultiDatasetBatchSamplers"]
