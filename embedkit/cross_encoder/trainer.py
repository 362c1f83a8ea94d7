"""CrossEncoderTrainer: the shared training loop (:mod:`embedkit.base.trainer`) for CrossEncoder models."""

from __future__ import annotations

from typing import Any

from torch import nn

from embedkit.base.trainer import BaseTrainer
from embedkit.base.training_args import CrossEncoderTrainingArguments
from embedkit.data import LABEL_COLUMNS

__all__ = ["CrossEncoderTrainer"]


class CrossEncoderTrainer(BaseTrainer):
    """The same loop for CrossEncoder models: texts stay raw in the batch (the losses build pairs)."""

    tokenize_inputs = False
    args_class: type = CrossEncoderTrainingArguments

    def __init__(self, model: nn.Module | None = None, args: Any = None, train_dataset: Any = None,
                 eval_dataset: Any = None, *rest: Any, **kwargs: Any) -> None:
        for split, dataset in (("train", train_dataset), ("eval", eval_dataset)):
            values = dataset.values() if isinstance(dataset, dict) else [dataset]
            if any(type(d).__name__ == "IterableDataset" for d in values):
                raise ValueError(
                    f"CrossEncoderTrainer does not support an IterableDataset for the `{split}_dataset`. "
                    "Please convert the dataset to a `Dataset` or `DatasetDict` before passing it to the trainer."
                )
        super().__init__(model, args, train_dataset, eval_dataset, *rest, **kwargs)

    def _default_collator(self) -> Any:
        from embedkit.cross_encoder.data_collator import CrossEncoderDataCollator

        return CrossEncoderDataCollator(preprocess_fn=self.model.preprocess, valid_label_columns=list(LABEL_COLUMNS),
                                        router_mapping=self.args.router_mapping, prompts=self.args.prompts)

    def default_loss(self) -> nn.Module:
        from embedkit.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss

        return BinaryCrossEntropyLoss(self.model) if self.model.num_labels == 1 else CrossEntropyLoss(self.model)
