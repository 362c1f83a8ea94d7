"""SentenceTransformerTrainingArguments: the shared training arguments (:mod:`embedkit.base.training_args`)."""

from __future__ import annotations

from embedkit.base.training_args import SentenceTransformerTrainingArguments

__all__ = ["SentenceTransformerTrainingArguments"]
