"""CrossEncoder: joint scoring of text pairs with a sequence-classification encoder, and its training classes."""

from __future__ import annotations

from embedkit.lazy_exports import lazy_exports

_EXPORTS = {
    "CrossEncoder": "embedkit.cross_encoder.model",
    "CrossEncoderModelCardData": "embedkit.cross_encoder.model_card",
    "CrossEncoderDataCollator": "embedkit.cross_encoder.data_collator",
    "CrossEncoderTrainer": "embedkit.cross_encoder.trainer",
    "CrossEncoderTrainingArguments": "embedkit.cross_encoder.training_args",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
