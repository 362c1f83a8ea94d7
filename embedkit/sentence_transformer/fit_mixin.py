"""``SentenceTransformer.fit``: sentence-transformers' v2 training API mapped onto the one trainer loop.

DataLoaders (or lists) of ``InputExample`` become datasets (columns ``sentence_0..n`` + ``label``); several
objectives train round-robin with one loss each; a ``NoDuplicatesDataLoader`` selects the ``no_duplicates`` batch
sampler; ``WarmupLinear`` & co map to the HF schedule names.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

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
    from embedkit.base.trainer import SentenceTransformerTrainer, TrainerCallback
    from embedkit.base.training_args import SentenceTransformerTrainingArguments

    if optimizer_class is not torch.optim.AdamW:
        raise ValueError("fit() supports optimizer_class=torch.optim.AdamW only")
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
        eval_strategy="steps" if eval_every else ("epoch" if evaluator is not None else "no"),
        eval_steps=eval_every, save_strategy="steps" if checkpoint_path else "no", save_steps=checkpoint_save_steps,
        save_total_limit=checkpoint_save_total_limit or None, disable_tqdm=not show_progress_bar,
        multi_dataset_batch_sampler="round_robin", logging_steps=max(1, checkpoint_save_steps),
        batch_sampler="no_duplicates" if no_duplicates else "batch_sampler")

    keep_best = evaluator is not None and save_best_model and output_path is not None
    primary = getattr(evaluator, "primary_metric", None)
    greater = getattr(evaluator, "greater_is_better", True)

    class _Legacy(TrainerCallback):
        """The v2 behaviour: call ``callback(score, epoch, steps)`` and save the best model to ``output_path``."""

        best: float | None = None

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            scores = {k[len("eval_"):]: v for k, v in (metrics or {}).items() if k != "eval_loss"}
            score = scores.get(primary, next(iter(scores.values()), None))
            if callback is not None:
                callback(score, state.epoch, state.global_step)
            if keep_best and score is not None and (self.best is None or (score > self.best) == greater):
                self.best = score
                model.save(output_path)

    trainer = SentenceTransformerTrainer(model, args, train_dataset=datasets, loss=losses, evaluator=evaluator,
                                         callbacks=[_Legacy()])
    trainer.train(resume_from_checkpoint=True if resume_from_checkpoint and checkpoint_path else None)
    if output_path is not None and not keep_best:
        model.save(output_path)
