"""SparseEncoderTrainer: the shared training loop (:mod:`embedkit.base.trainer`) for SparseEncoder models."""

from __future__ import annotations

from embedkit.base.trainer import SparseEncoderTrainer

__all__ = ["SparseEncoderTrainer"]
