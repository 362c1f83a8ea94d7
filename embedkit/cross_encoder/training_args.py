"""CrossEncoderTrainingArguments: the shared training arguments (:mod:`embedkit.base.training_args`)."""

from __future__ import annotations

from embedkit.base.training_args import CrossEncoderTrainingArguments

__all__ = ["CrossEncoderTrainingArguments"]
