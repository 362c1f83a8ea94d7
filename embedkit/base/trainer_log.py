"""What the training loop records: each log entry (in ``state.log_history``, the log, the progress bar,
``training_log.jsonl`` and the ``on_log`` callbacks), the running sums of the loss components logged with the next
entry, and the summary of the run a model card reports."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from embedkit import distributed as dist_utils
from embedkit.base.trainer_state import speed_metrics

if TYPE_CHECKING:
    from embedkit.base.trainer import BaseTrainer

logger = logging.getLogger("embedkit.base.trainer")  # the trainer's messages keep the trainer's logger name


def callback_kwargs(trainer: BaseTrainer) -> dict[str, Any]:
    """The keywords transformers' callback handler passes every event: the model, its tokenizer, the optimizer and
    LR scheduler of the run (None before ``train()`` builds them); no DataLoader objects (embedkit's loop has none)."""
    return {"model": trainer.model, "processing_class": getattr(trainer.model, "tokenizer", None),
            "optimizer": trainer._running_optimizer, "lr_scheduler": trainer.lr_scheduler, "train_dataloader": None,
            "eval_dataloader": None}


def log_entry(trainer: BaseTrainer, entry: dict[str, Any], output_dir: Path, bar: Any) -> None:
    """Record ``entry`` in the run's log history, call ``on_log`` (on every rank, as transformers does), then on the
    main process show the logs, with what callbacks added to them (SPLADE's regularizer weights), on stdout, in the
    log, the progress bar's postfix and ``output_dir/training_log.jsonl``. As in transformers, the log history keeps the
    entry as it was before the callbacks."""
    trainer.state.log_history.append(entry)
    logs = {k: v for k, v in entry.items() if k != "step"}  # as transformers: the step is in log_history's
    trainer._callback("on_log", logs=logs)                    # entries, not in the logs handed to callbacks
    if not dist_utils.is_main_process():
        return
    shown = {**logs, "step": entry["step"]} if "step" in entry else logs
    logger.info("%s", shown)
    # printed as transformers' progress / printer callbacks print them (floats to 4 significant digits)
    from tqdm.auto import tqdm

    tqdm.write(str({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in logs.items() if k != "total_flos"}))
    if bar is not None:
        bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items() if k in ("loss", "learning_rate", "grad_norm")})
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / "training_log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(shown) + "\n")


def track_loss_components(trainer: BaseTrainer, loss: dict[str, Tensor]) -> None:
    """Add one step's loss components to the running sums (:meth:`BaseTrainer.track_loss_components`)."""
    kind = "train" if trainer.model.training else "eval"
    sums = trainer.accum_loss_components[kind]
    steps = sums.get("steps", 0)
    value = None
    for key, value in loss.items():
        value = value.detach()
        if trainer.args.logging_nan_inf_filter and not bool(torch.isfinite(value).all()):
            value = sums[key] / steps if key in sums and steps else torch.zeros((), dtype=value.dtype,
                                                                                 device=value.device)
        sums[key] = sums[key] + value if key in sums else value
    device = value.device if value is not None else None
    sums["steps"] = sums.get("steps", torch.tensor(0, device=device)) + 1


def train_summary(trainer: BaseTrainer, started: float, total_loss: float, trained: int, world: int
                  ) -> dict[str, float]:
    """The metrics ``train()`` returns, as transformers 5.25 computes them: speed and mean step loss over the
    ``trained`` steps of this call (a resumed run's own share), the loss averaged over ranks."""
    args, max_steps = trainer.args, trainer.state.max_steps
    train_loss = dist_utils.mean_over_ranks(total_loss) / max(trained, 0.001)
    samples = (args.max_steps * args.per_device_train_batch_size * args.gradient_accumulation_steps * world
               if args.max_steps > 0
               else round(sum(len(d) for d in trainer.train_datasets.values()) * args.num_train_epochs))
    return {**speed_metrics("train", started, samples * trained / max(max_steps, 1), trained), "total_flos": 0.0,
            "train_loss": train_loss}


def drain_loss_components(trainer: BaseTrainer, kind: str) -> dict[str, float]:
    """Each loss component's mean over the ``kind`` ("train" or "eval") steps since the last drain, over all ranks,
    rounded to 4 decimals as sentence-transformers logs it; the running sums are reset."""
    sums = trainer.accum_loss_components.get(kind, {})
    trainer.accum_loss_components[kind] = {}
    steps = sums.pop("steps", None)
    if steps is None:
        return {}
    count = dist_utils.mean_over_ranks(float(steps))
    return {key: round(dist_utils.mean_over_ranks(float(value)) / count, 4) for key, value in sums.items()}


def record_for_model_card(trainer: BaseTrainer) -> None:
    """Attach what a model card reports (datasets, losses, arguments, metrics, log) to the model."""
    info = {
        "datasets": {name or "train": {"rows": len(d), "columns": list(d.column_names)}
                     for name, d in trainer.train_datasets.items()},
        "losses": {name or "train": {"class": type(loss).__name__,
                                     "config": getattr(loss, "get_config_dict", dict)()}
                   for name, loss in trainer.losses.items()},
        "arguments": {k: (v.value if hasattr(v, "value") else v) for k, v in trainer.args.non_default().items()},
        "log_history": trainer.state.log_history,
    }
    trainer.model.training_summary = info
    card = getattr(trainer.model, "model_card_data", None)
    if card is not None and hasattr(card, "evaluation_duration"):  # the card's "Training Time", as ST renders it
        history = trainer.state.log_history
        runtime = next((e["train_runtime"] for e in reversed(history) if "train_runtime" in e), 0.0)
        card._training_start_time = time.time() - runtime
        card.evaluation_duration = sum(e.get("eval_runtime", 0.0) for e in history if "eval_runtime" in e)
