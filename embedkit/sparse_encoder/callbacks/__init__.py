"""Trainer callbacks for SparseEncoder training (sentence-transformers' ``sparse_encoder.callbacks``)."""

from __future__ import annotations

from embedkit.sparse_encoder.callbacks.splade_callbacks import SchedulerType, SpladeRegularizerWeightSchedulerCallback

__all__ = ["SchedulerType", "SpladeRegularizerWeightSchedulerCallback"]
