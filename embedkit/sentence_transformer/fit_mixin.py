"""``SentenceTransformer.fit``: sentence-transformers' v2 training API mapped onto the one trainer loop.

DataLoaders (or lists) of ``InputExample`` become datasets (columns ``sentence_0..n`` + ``label``); several
objectives train round-robin with one loss each; a ``NoDuplicatesDataLoader`` selects the ``no_duplicates`` batch
sampler; ``WarmupLinear`` & co map to the HF schedule names.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from embedkit.base.trainer_state import TrainerCallback
from embedkit.data import examples_to_dataset

_SCHEDULERS = {"constantlr": "constant", "warmupconstant": "constant_with_warmup", "warmuplinear": "linear",
               "warmupcosine": "cosine", "warmupcosinewithhardrestarts": "cosine_with_restarts"}


def _examples(loader: Any) -> list[Any]:
    return list(getattr(loader, "dataset", loader))


def fit(model: nn.Module, train_objectives: list[tuple[Any, nn.Module]], *, evaluator: Any, epochs: int,
        steps_per_epoch: int | None, scheduler: str, warmup_steps: int, optimizer_class: type,
        optimizer_params: dict[str, Any] | None, weight_decay: float, evaluation_steps: int, output_path: str | None,
        save_best_model: bool, max_grad_norm: float, use_amp: bool, callback: Any, show_progress_bar: bool,
        checkpoint_path: str | None, checkpoint_save_steps: int, checkpoint_save_total_limit: int,
        resume_from_checkpoint: bool) -> None:
    from embedkit.base.trainer import SentenceTransformerTrainer
    from embedkit.base.trainer_optimizer import legacy_optimizer
    from embedkit.base.training_args import SentenceTransformerTrainingArguments

    name = _SCHEDULERS.get(scheduler.lower())
    if name is None:
        raise ValueError(f"unknown scheduler {scheduler!r}; valid: {sorted(_SCHEDULERS)}")
    datasets, losses = {}, {}
    batch_size = 16
    no_duplicates = any(type(loader).__name__ == "NoDuplicatesDataLoader" for loader, _ in train_objectives)
    for i, (loader, loss) in enumerate(train_objectives):
        datasets[f"_dataset_{i}"] = examples_to_dataset(_examples(loader))
        losses[f"_dataset_{i}"] = loss
        batch_size = getattr(loader, "batch_size", None) or batch_size
    if len(datasets) == 1:
        datasets, losses = next(iter(datasets.values())), next(iter(losses.values()))
    per_epoch = steps_per_epoch
    max_steps = per_epoch * epochs if per_epoch else -1
    eval_every = evaluation_steps if evaluator is not None and evaluation_steps > 0 else None
    args = SentenceTransformerTrainingArguments(
        output_dir=checkpoint_path or output_path or "fit_output", num_train_epochs=epochs, max_steps=max_steps,
        per_device_train_batch_size=batch_size, learning_rate=(optimizer_params or {}).get("lr", 2e-5),
        weight_decay=weight_decay, max_grad_norm=max_grad_norm, lr_scheduler_type=name, warmup_steps=warmup_steps,
        fp16=use_amp and torch.cuda.is_available(),
        eval_strategy="steps" if eval_every else "no",
        eval_steps=eval_every, save_strategy="steps" if checkpoint_path else "no", save_steps=checkpoint_save_steps,
        save_total_limit=checkpoint_save_total_limit or None, disable_tqdm=not show_progress_bar,
        multi_dataset_batch_sampler="round_robin", logging_steps=max(1, checkpoint_save_steps),
        batch_sampler="no_duplicates" if no_duplicates else "batch_sampler")

    legacy = LegacyFitCallback(model, evaluator, output_path, save_best_model, callback)
    optimizer = legacy_optimizer(nn.ModuleDict({"model": model, **(losses if isinstance(losses, dict) else
                                                                   {"loss": losses})}),
                                 optimizer_class, optimizer_params, weight_decay)
    trainer = SentenceTransformerTrainer(model, args, train_dataset=datasets, loss=losses, evaluator=evaluator,
                                         callbacks=[legacy], optimizers=(optimizer, None))
    legacy.trainer = trainer
    trainer.train(resume_from_checkpoint=True if resume_from_checkpoint and checkpoint_path else None)
    if output_path is not None and not legacy.keep_best:
        model.save(output_path)


class LegacyFitCallback(TrainerCallback):
    """What sentence-transformers' ``fit`` adds to the trainer (ST 4+): the evaluator also runs at every epoch's end
    (its CSV files under ``output_path/eval``), ``callback(score, epoch, steps)`` follows every evaluation, and with
    ``save_best_model`` the best model so far is saved to ``output_path``.

    Example:
        >>> LegacyFitCallback(None, None, None, True, None).keep_best
        False
    """

    def __init__(self, model: nn.Module, evaluator: Any, output_path: str | None, save_best_model: bool,
                 callback: Any) -> None:
        self.model, self.evaluator, self.output_path, self.callback = model, evaluator, output_path, callback
        self.keep_best = evaluator is not None and save_best_model and output_path is not None
        self.best: float | None = None
        self.trainer: Any = None

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.evaluator is None:
            return
        eval_path = None
        if self.output_path is not None:
            eval_path = os.path.join(self.output_path, "eval")
            os.makedirs(eval_path, exist_ok=True)
        scores = self.evaluator(self.model, output_path=eval_path, epoch=state.epoch, steps=state.global_step)
        scores = scores if isinstance(scores, dict) else {"evaluator": scores}
        metrics = {k if k.startswith("eval_") else f"eval_{k}": v for k, v in scores.items()}
        if self.trainer is not None:
            self.trainer._callback("on_evaluate", metrics=metrics)  # every callback sees it, as in ST
        else:
            self.on_evaluate(args, state, control, metrics=metrics)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None,
                    **kwargs: Any) -> None:
        key = getattr(self.evaluator, "primary_metric", "evaluator")
        score = next((v for k, v in (metrics or {}).items() if k.endswith(key)), None)
        if score is None:
            return
        if self.callback is not None:
            self.callback(score, state.epoch, state.global_step)
        greater = getattr(self.evaluator, "greater_is_better", True)
        if self.keep_best and (self.best is None or (score > self.best if greater else score < self.best)):
            self.best = score
            self.model.save(self.output_path)
