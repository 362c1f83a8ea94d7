"""``CrossEncoder.fit``: the pre-4.0 training API (a DataLoader of ``InputExample``) run by CrossEncoderTrainer.

The examples become a dataset (columns ``sentence_0``, ``sentence_1`` and ``label``, the label column left out when
every label is the default 0); the default loss is BinaryCrossEntropyLoss for one label and CrossEntropyLoss
otherwise, and a plain torch loss (``loss_fct=nn.MSELoss()``...) is applied to the activated logits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import score_pairs


class FitMixinLoss(nn.Module):
    """A torch loss on the activated logits of (text, text) pairs, as ``fit(loss_fct=...)`` applies it.

    Args:
        model: the CrossEncoder to train.
        loss_fct: e.g. ``nn.MSELoss()`` or ``nn.BCEWithLogitsLoss()``; called as ``loss_fct(logits, labels)``.
        activation_fn: applied to the logits first.

    Labels are cast to float for a one-label model (logits (B,)) and to long otherwise (logits (B, C)).
    """

    def __init__(self, model: nn.Module, loss_fct: Callable[[Tensor, Tensor], Tensor],
                 activation_fn: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss_fct = loss_fct
        self.activation_fn = nn.Identity() if activation_fn is None else activation_fn

    def forward(self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        if len(inputs) != 2:
            raise ValueError(f"FitMixinLoss expects a dataset with two non-label columns, but got a dataset with "
                             f"{len(inputs)} columns.")
        logits = score_pairs(self.model, list(zip(inputs[0], inputs[1])), prompt, task)
        logits = self.activation_fn(logits)  # (B, num_labels)
        if self.model.num_labels == 1:
            return self.loss_fct(logits.view(-1), labels.to(logits.device).float())
        return self.loss_fct(logits, labels.to(logits.device).long())


def fit(model: Any, train_dataloader: Any, *, evaluator: Any, epochs: int, loss_fct: Any, activation_fct: Any,
        scheduler: str, warmup_steps: int, optimizer_class: type, optimizer_params: dict[str, Any] | None,
        weight_decay: float, evaluation_steps: int, output_path: str | None, save_best_model: bool,
        max_grad_norm: float, use_amp: bool, callback: Callable[[float, int, int], None] | None,
        show_progress_bar: bool) -> None:
    """Train ``model`` on the ``InputExample`` pairs of ``train_dataloader`` (see :meth:`CrossEncoder.fit`)."""
    from embedkit.base.trainer_optimizer import legacy_optimizer
    from embedkit.base.training_args import CrossEncoderTrainingArguments
    from embedkit.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
    from embedkit.cross_encoder.trainer import CrossEncoderTrainer
    from embedkit.data import Dataset
    from embedkit.sentence_transformer.fit_mixin import _SCHEDULERS, LegacyFitCallback

    schedule = _SCHEDULERS.get(str(scheduler).lower())
    if schedule is None:
        raise ValueError(f"unknown scheduler {scheduler!r}; valid: {sorted(_SCHEDULERS)}")
    examples = list(getattr(train_dataloader, "dataset", train_dataloader))
    if not examples:
        raise ValueError("no training examples")
    columns: dict[str, list[Any]] = {f"sentence_{i}": [ex.texts[i] for ex in examples]
                                     for i in range(len(examples[0].texts))}
    labels = [ex.label for ex in examples]
    if any(label != 0 for label in labels):
        columns["label"] = labels
    if loss_fct is None:
        loss: nn.Module = (BinaryCrossEntropyLoss(model, activation_fn=activation_fct) if model.num_labels == 1
                           else CrossEntropyLoss(model, activation_fn=activation_fct))
    else:
        loss = FitMixinLoss(model, loss_fct, activation_fct)
    batch_size = getattr(train_dataloader, "batch_size", None) or 8
    sampler = "no_duplicates" if type(train_dataloader).__name__ == "NoDuplicatesDataLoader" else "batch_sampler"
    eval_every = evaluation_steps if evaluator is not None and evaluation_steps and evaluation_steps > 0 else None
    args = CrossEncoderTrainingArguments(
        output_dir=output_path or "checkpoints/model", num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size, learning_rate=(optimizer_params or {}).get("lr", 2e-5),
        weight_decay=weight_decay, max_grad_norm=max_grad_norm, lr_scheduler_type=schedule, warmup_steps=warmup_steps,
        fp16=use_amp and torch.cuda.is_available(),
        eval_strategy="steps" if eval_every else "no", eval_steps=eval_every,
        save_strategy="no", disable_tqdm=not show_progress_bar, batch_sampler=sampler)

    legacy = LegacyFitCallback(model, evaluator, output_path, save_best_model, callback)
    optimizer = legacy_optimizer(nn.ModuleDict({"model": model, "loss": loss}), optimizer_class, optimizer_params,
                                 weight_decay)
    trainer = CrossEncoderTrainer(model, args, train_dataset=Dataset(columns), loss=loss, evaluator=evaluator,
                                  callbacks=[legacy], optimizers=(optimizer, None))
    legacy.trainer = trainer
    trainer.train()
    if output_path is not None and not legacy.keep_best:
        model.save(output_path)
