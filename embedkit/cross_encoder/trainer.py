"""CrossEncoderTrainer: the shared training loop (:mod:`embedkit.base.trainer`) for CrossEncoder models."""

from __future__ import annotations

from embedkit.base.trainer import CrossEncoderTrainer

__all__ = ["CrossEncoderTrainer"]
