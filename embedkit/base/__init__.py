"""What every model type shares: modules, trainer, training arguments, samplers, data collator, model card."""

from __future__ import annotations

from embedkit.lazy_exports import lazy_exports

_EXPORTS = {
    "BaseDataCollator": "embedkit.base.data_collator",
    "BaseModel": "embedkit.base.model",
    "PeftAdapterMixin": "embedkit.base.peft_mixin",
    "BaseTrainer": "embedkit.base.trainer",
    "BaseTrainingArguments": "embedkit.base.training_args",
    "BatchSamplers": "embedkit.base.training_args",
    "MultiDatasetBatchSamplers": "embedkit.base.training_args",
    "DefaultBatchSampler": "embedkit.base.sampler",
    "GroupByLabelBatchSampler": "embedkit.base.sampler",
    "NoDuplicatesBatchSampler": "embedkit.base.sampler",
    "MultiDatasetDefaultBatchSampler": "embedkit.base.sampler",
    "RoundRobinBatchSampler": "embedkit.base.sampler",
    "ProportionalBatchSampler": "embedkit.base.sampler",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
