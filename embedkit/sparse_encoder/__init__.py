"""SparseEncoder: sparse (SPLADE-style) embeddings, its modules, losses, evaluators and training classes."""

from __future__ import annotations

from embedkit.lazy_exports import lazy_exports

_EXPORTS = {
    "SparseEncoder": "embedkit.sparse_encoder.model",
    "SparseEncoderModelCardData": "embedkit.sparse_encoder.model_card",
    "SparseEncoderDataCollator": "embedkit.sparse_encoder.data_collator",
    "SparseEncoderTrainer": "embedkit.sparse_encoder.trainer",
    "SparseEncoderTrainingArguments": "embedkit.sparse_encoder.training_args",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
