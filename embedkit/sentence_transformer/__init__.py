"""SentenceTransformer (dense embeddings): the model, its modules, losses, evaluators and training classes."""

from __future__ import annotations

from embedkit.lazy_exports import lazy_exports

_EXPORTS = {
    "SentenceTransformer": "embedkit.sentence_transformer.model",
    "SentenceTransformerModelCardData": "embedkit.sentence_transformer.model_card",
    "SentenceTransformerDataCollator": "embedkit.sentence_transformer.data_collator",
    "SentenceTransformerTrainer": "embedkit.sentence_transformer.trainer",
    "SentenceTransformerTrainingArguments": "embedkit.sentence_transformer.training_args",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
