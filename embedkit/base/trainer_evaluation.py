"""The trainer's evaluation: the eval ``DataLoader`` (cached per eval dataset with persistent workers), the eval
loss over it (the mean over batches, all ranks together), the evaluators' metrics, and the tracking of the metric that
picks the best checkpoint.

The functions take the trainer and call its overridable methods (``get_eval_dataloader``, ``evaluation_loop``,
``compute_loss``, ``evaluate``, ...) through it, so a subclass's override takes effect.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from embedkit import distributed as dist_utils
from embedkit.base import trainer_log
from embedkit.base.trainer_optimizer import _Losses
from embedkit.base.trainer_state import EvalLoopOutput, speed_metrics
from embedkit.data import as_datasets

if TYPE_CHECKING:
    from embedkit.base.trainer import BaseTrainer


def get_eval_dataloader(trainer: BaseTrainer, eval_dataset: Any = None) -> torch.utils.data.DataLoader:
    """The eval ``DataLoader`` of ``eval_dataset`` (a dataset, or an eval dataset's name) or of the trainer's eval
    dataset(s) (:meth:`BaseTrainer.get_eval_dataloader`)."""
    if eval_dataset is None and not trainer.eval_datasets:
        raise ValueError(f"Evaluation requires specifying an eval_dataset to the {type(trainer).__name__}.")
    key = eval_dataset if isinstance(eval_dataset, str) else "eval"
    cacheable = eval_dataset is None or isinstance(eval_dataset, str)
    if cacheable and trainer.args.dataloader_persistent_workers and key in trainer._eval_dataloaders:
        return trainer._eval_dataloaders[key]
    if isinstance(eval_dataset, str):
        datasets, multi = {eval_dataset: trainer.eval_datasets[eval_dataset]}, True
    elif eval_dataset is None:
        datasets, multi = trainer.eval_datasets, list(trainer.eval_datasets) != [""]
    else:
        datasets, multi = as_datasets(eval_dataset, "eval_dataset")
    loader = trainer._build_dataloader(datasets, multi, trainer.args.per_device_eval_batch_size)
    if cacheable and trainer.args.dataloader_persistent_workers:
        trainer._eval_dataloaders[key] = loader
    return loader


def evaluation_loop(trainer: BaseTrainer, dataloader: Any, metric_key_prefix: str = "eval") -> EvalLoopOutput:
    """The eval loss over ``dataloader`` as ``{metric_key_prefix}_loss`` (:meth:`BaseTrainer.evaluation_loop`)."""
    model = trainer.model
    losses = _Losses(trainer.losses)
    total, batches, rows = 0.0, 0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in dataloader:
            if not batch.features or not batch.num_rows:
                continue
            name = batch.dataset_name if batch.dataset_name in trainer.losses else next(iter(trainer.losses))
            loss, parts = trainer.compute_loss(losses, batch, model.device, name)
            if parts:  # a loss of several components: their means are logged beside the eval loss, as in ST
                trainer.track_loss_components(parts)
            total, batches, rows = total + float(loss), batches + 1, rows + batch.num_rows
    if was_training:
        model.train()
    # the mean over batches, each counting once whatever its size, as transformers' evaluation loop weighs them
    mean_batches = dist_utils.mean_over_ranks(float(batches))
    loss_value = dist_utils.mean_over_ranks(total) / mean_batches if mean_batches else float("nan")
    return EvalLoopOutput(None, None, {f"{metric_key_prefix}_loss": loss_value}, int(rows))


def evaluate(trainer: BaseTrainer, eval_dataset: Any = None, metric_key_prefix: str = "eval") -> dict[str, float]:
    """Eval loss(es) with their runtime keys and the evaluators' metrics, prefixed ``metric_key_prefix``; logged
    and passed to ``on_evaluate`` (:meth:`BaseTrainer.evaluate`)."""
    if eval_dataset is not None:
        trainer.validate_column_names(eval_dataset, "eval")
        datasets, multi = as_datasets(eval_dataset, "eval_dataset")
    else:
        datasets, multi = trainer.eval_datasets, list(trainer.eval_datasets) != [""]
    if not datasets and not trainer.evaluators:
        raise ValueError(f"Evaluation requires specifying an eval_dataset to the {type(trainer).__name__}.")
    model, args = trainer.model, trainer.args
    metrics: dict[str, float] = {}
    logged_only: dict[str, float] = {}  # the loss components: in the log, not in the returned metrics (as ST)
    was_training = model.training
    model.eval()
    for name, dataset in datasets.items():
        start = time.perf_counter()
        if eval_dataset is None:
            loader = trainer.get_eval_dataloader(name if multi else None)
        else:
            loader = trainer._build_dataloader({name: dataset}, multi, args.per_device_eval_batch_size)
        prefix = f"{metric_key_prefix}_{name}" if name else metric_key_prefix
        output = trainer.evaluation_loop(loader, description="Evaluation", metric_key_prefix=prefix)
        logged_only.update({f"{prefix}_{key}": value
                            for key, value in trainer_log.drain_loss_components(trainer, "eval").items()})
        # as transformers counts them: every rank's rows (the dataset's length), in global batches
        batch_size = args.per_device_eval_batch_size * dist_utils.get_world_size()
        rows = len(dataset) if hasattr(dataset, "__len__") else output.num_samples * dist_utils.get_world_size()
        metrics.update(output.metrics)
        metrics.update(speed_metrics(prefix, start, rows, math.ceil(rows / batch_size)))
    start = time.perf_counter()
    evaluator_metrics: dict[str, float] = {}
    if dist_utils.is_main_process():
        eval_dir = Path(args.output_dir or "trainer_output") / "eval"  # where ST's trainer has evaluators write CSVs
        eval_dir.mkdir(parents=True, exist_ok=True)
        for evaluator in trainer.evaluators:
            out = evaluator(model, output_path=str(eval_dir), epoch=trainer.state.epoch,
                            steps=trainer.state.global_step)
            evaluator_metrics.update({k if k.startswith(f"{metric_key_prefix}_") else f"{metric_key_prefix}_{k}":
                                      float(v) for k, v in out.items()})
    metrics.update(dist_utils.broadcast_object(evaluator_metrics))
    if not datasets:  # evaluators only: transformers still times its (empty) evaluation loop, which runs them
        metrics.update(speed_metrics(metric_key_prefix, start, 0, 0))
    if was_training:
        model.train()
    state = trainer.state
    epoch = {"epoch": round(state.epoch, 4)}  # logged as transformers 5 logs it (0 before training)
    if "eval_loss" not in metrics:  # ST logs a copy of the metrics holding "eval_loss"; transformers adds the epoch
        metrics.update(epoch)       # to the very dict it returns and hands to on_evaluate otherwise
    trainer._log({**metrics, **epoch, **logged_only, "step": state.global_step},
                 Path(args.output_dir or "trainer_output"), None)
    trainer._callback("on_evaluate", metrics=metrics)
    return metrics


def evaluate_and_track(trainer: BaseTrainer, output_dir: Path) -> dict[str, float]:
    """Evaluate (which logs the metrics and calls ``on_evaluate``); with ``metric_for_best_model``, note whether
    this step improved it (the next checkpoint saved at this step then becomes the best one)."""
    metrics = trainer.evaluate()  # logs the metrics and calls on_evaluate
    state, args = trainer.state, trainer.args
    if args.metric_for_best_model:
        key = args.metric_for_best_model
        key = key if key.startswith("eval_") else f"eval_{key}"
        if key not in metrics:
            raise KeyError(f"metric_for_best_model {key!r} not among the evaluation metrics {sorted(metrics)}")
        value = metrics[key]
        better = state.best_metric is None or (value > state.best_metric if args.greater_is_better
                                               else value < state.best_metric)
        trainer._improved = (state.global_step, value) if better else None
        if isinstance(trainer.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            trainer.lr_scheduler.step(value)
    return metrics
