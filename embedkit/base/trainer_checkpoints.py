"""The trainer's checkpoints: saving one (model folder, trainable loss parameters, optimizer, scheduler, scaler,
every rank's RNG state and the run's position, see :mod:`embedkit.checkpoint`), finding and loading the one to
resume from (refusing one saved with another batch layout), and saving or reloading model weights.

The functions take the trainer and call its overridable methods (``_check_layout``, ``_load_weights``, ...) through
it, so a subclass's override takes effect.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from embedkit import distributed as dist_utils
from embedkit.checkpoint import (
    DamagedCheckpointError,
    list_checkpoints,
    read_training_state,
    rng_state,
    rotate_checkpoints,
    save_checkpoint,
)

if TYPE_CHECKING:
    from embedkit.base.trainer import BaseTrainer

logger = logging.getLogger("embedkit.base.trainer")  # the trainer's messages keep the trainer's logger name


class NoCheckpointError(FileNotFoundError, ValueError):
    """``resume_from_checkpoint=True`` without a checkpoint: a ``ValueError`` as in transformers, and a
    ``FileNotFoundError`` (what it is)."""


def load_checkpoint_to_resume(trainer: BaseTrainer, resume: str | bool | None, losses: nn.Module, rank: int
                              ) -> tuple[Path, dict] | None:
    """(checkpoint, its training-state files) with the weights loaded, or None when not resuming.

    ``True`` takes the latest checkpoint in ``output_dir`` whose files all read back, skipping damaged ones with
    a warning; an explicit path must be intact. Every checkpoint must come from the same batch layout (batch
    size, accumulation, world size, batches per epoch): the position saved is a count of batches, so another
    layout would skip or repeat rows.
    """
    if not resume:
        return None
    if resume is True:
        candidates = list_checkpoints(trainer.args.output_dir or "trainer_output")[::-1]
        if not candidates:
            raise NoCheckpointError(f"No valid checkpoint found in output directory ({trainer.args.output_dir}): "
                                    "resume_from_checkpoint=True needs a checkpoint-<step> folder there")
    else:
        candidates = [Path(resume)]
        if not (candidates[0] / "trainer_state.json").is_file():
            raise FileNotFoundError(f"{candidates[0]} is not a complete checkpoint (no trainer_state.json)")
    for position, checkpoint in enumerate(candidates):
        try:
            files = read_training_state(checkpoint, rank=rank)
            if "transformers" in files["trainer_state"]:
                files["trainer_state"] = from_transformers_state(trainer, checkpoint, files["trainer_state"])
            trainer._check_layout(checkpoint, files["trainer_state"])
            trainer._load_weights(checkpoint, losses)
            return checkpoint, files
        except (DamagedCheckpointError, OSError, RuntimeError) as exc:  # a layout mismatch is not skipped
            if resume is not True or position == len(candidates) - 1:
                raise
            logger.warning("skipping %s: %s; trying %s", checkpoint, str(exc).splitlines()[0],
                           candidates[position + 1])
    return None


def from_transformers_state(trainer: BaseTrainer, checkpoint: Path, saved: dict[str, Any]) -> dict[str, Any]:
    """The resume state of a checkpoint that transformers' Trainer (sentence-transformers) wrote: its step, epoch,
    log and best metric; the position in the epoch follows from the step and this run's batches per epoch, as
    transformers skips them. Its per-device batch size must be this run's."""
    hf, layout = saved["transformers"], trainer._layout
    if hf.get("train_batch_size") not in (None, layout["per_device_train_batch_size"]):
        raise ValueError(f"{checkpoint} was saved with per_device_train_batch_size {hf['train_batch_size']}, this run "
                         f"uses {layout['per_device_train_batch_size']}; its position counts batches, so resuming "
                         "would skip or repeat rows. Resume with the same settings and data")
    accum = layout["gradient_accumulation_steps"]
    steps_per_epoch = max(1, math.ceil(layout["batches_per_epoch"] / accum))
    step = hf["global_step"]
    state = {"global_step": step, "epoch": float(hf.get("epoch") or 0.0), "epoch_index": step // steps_per_epoch,
             "batch_in_epoch": (step % steps_per_epoch) * accum, "log_history": list(hf.get("log_history") or []),
             "best_metric": hf.get("best_metric"), "best_model_checkpoint": hf.get("best_model_checkpoint")}
    return {"state": state, "layout": {}}


def check_layout(trainer: BaseTrainer, checkpoint: Path, saved: dict[str, Any]) -> None:
    """Refuse a checkpoint whose saved batch layout differs from this run's (``trainer._layout``)."""
    layout = saved.get("layout") or {key: saved.get("args", {}).get(key) for key in
                                     ("per_device_train_batch_size", "gradient_accumulation_steps")}
    changed = [f"{key} {value} -> {trainer._layout[key]}" for key, value in layout.items()
               if value is not None and key in trainer._layout and value != trainer._layout[key]]
    if changed:
        raise ValueError(f"{checkpoint} was saved with another batch layout ({', '.join(changed)}); its position "
                         "counts batches, so resuming would skip or repeat rows. Resume with the same settings "
                         "and data, or start a new run from its weights")


def loss_only_params(model: nn.Module, losses: nn.Module) -> dict[str, Tensor]:
    """The trainable parameters of ``losses`` that are not ``model``'s (e.g. SoftmaxLoss's classifier), by name."""
    model_ids = {id(p) for p in model.parameters()}
    return {n: p for n, p in losses.named_parameters() if id(p) not in model_ids}


def load_weights(trainer: BaseTrainer, checkpoint: Path, losses: nn.Module) -> None:
    """Load the checkpoint's model weights into the trainer's model, and its loss parameters into ``losses``."""
    from safetensors.torch import load_file

    reloaded = type(trainer.model)(str(checkpoint), device="cpu",
                                   trust_remote_code=bool(getattr(trainer.model, "trust_remote_code", False)))
    trainer.model.load_state_dict(reloaded.state_dict())
    extra = trainer._loss_only_params(losses)
    if extra and (checkpoint / "loss_params.safetensors").is_file():
        saved = load_file(str(checkpoint / "loss_params.safetensors"))
        with torch.no_grad():
            for name, param in extra.items():
                param.copy_(saved[name])


def load_best_at_end(trainer: BaseTrainer, losses: nn.Module) -> None:
    """``load_best_model_at_end``: load the best checkpoint's weights; one that cannot be loaded is logged as an error
    and the model keeps the weights of the last step, as sentence-transformers does (rather than lose the trained
    model held in memory at the very end)."""
    state, args = trainer.state, trainer.args
    if not state.best_model_checkpoint or not Path(state.best_model_checkpoint).is_dir():
        return
    try:
        trainer._load_weights(Path(state.best_model_checkpoint), losses)
        logger.info("loaded the best model from %s (%s = %s)", state.best_model_checkpoint,
                    args.metric_for_best_model, state.best_metric)
    except Exception as error:
        logger.error(f"Could not load the best model from {state.best_model_checkpoint}; the model keeps the "
                     f"weights of the last step. Error: {error}")


def save_model_folder(trainer: BaseTrainer, output_dir: str | None = None) -> None:
    """Save the trainer's model folder, with ``training_args.json``, to ``output_dir`` (:meth:`BaseTrainer._save`)."""
    path = Path(output_dir if output_dir is not None else (trainer.args.output_dir or "trainer_output"))
    path.mkdir(parents=True, exist_ok=True)
    trainer.model.save(str(path))
    (path / "training_args.json").write_text(json.dumps(trainer.args.to_dict(), indent=2, default=str),
                                             encoding="utf-8")


def resume_state(trainer: BaseTrainer) -> dict[str, Any]:
    """``embedkit_state.json``'s content: what embedkit resumes from (the state, the arguments, the batch layout)."""
    return {"state": asdict(trainer.state), "args": trainer.args.to_dict(), "layout": getattr(trainer, "_layout", {})}


def hf_trainer_state(trainer: BaseTrainer) -> dict[str, Any]:
    """``trainer_state.json``'s content: transformers' ``TrainerState`` keys only (what tools and scripts read:
    ``global_step``, ``best_model_checkpoint``, ``log_history``, ...; sentence-transformers resumes from it)."""
    state, args = trainer.state, trainer.args
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[-1])
    return {
        "best_global_step": best_step,
        "best_metric": state.best_metric,
        "best_model_checkpoint": state.best_model_checkpoint,
        "epoch": state.epoch,
        "eval_steps": args.eval_steps,
        "global_step": state.global_step,
        "is_hyper_param_search": False,
        "is_local_process_zero": True,
        "is_world_process_zero": True,
        "log_history": state.log_history,
        "logging_steps": args.logging_steps,
        "max_steps": state.max_steps,
        "num_input_tokens_seen": 0,
        "num_train_epochs": math.ceil(args.num_train_epochs),
        "save_steps": args.save_steps,
        "stateful_callbacks": {"TrainerControl": {"args": asdict(trainer.control), "attributes": {}}},
        "total_flos": 0.0,
        "train_batch_size": args.per_device_train_batch_size,
        "trial_name": None,
        "trial_params": None,
    }


def save_trainer_checkpoint(trainer: BaseTrainer, output_dir: Path, losses: nn.Module, optimizer: Any,
                            scheduler: Any, scaler: Any) -> None:
    """Save ``output_dir/checkpoint-{global_step}`` (on the main process), rotate old checkpoints, call
    ``on_save``; the best checkpoint is recorded when this step's evaluation improved the tracked metric."""
    state = trainer.state
    path = output_dir / f"checkpoint-{state.global_step}"
    if trainer._improved is not None and trainer._improved[0] == state.global_step:
        # As in transformers, the best model is decided among evaluations that coincide with a checkpoint.
        state.best_metric, state.best_model_checkpoint = trainer._improved[1], str(path)
        trainer._improved = None
    # every rank's RNG, so each resumes its own stream; with save_on_each_node each node's first process writes
    # the checkpoint to its own disk, so each needs every rank's state
    on_each_node = trainer.args.save_on_each_node
    rng_states = (dist_utils.gather_to_all if on_each_node else dist_utils.gather_to_main)(rng_state())
    if dist_utils.is_local_main_process() if on_each_node else dist_utils.is_main_process():
        payload = hf_trainer_state(trainer)
        save_checkpoint(path, trainer.model, trainer._loss_only_params(losses), optimizer, scheduler, scaler,
                        payload, resume_state(trainer), model_only=trainer.args.save_only_model,
                        rng_states=rng_states)
        best = Path(state.best_model_checkpoint) if state.best_model_checkpoint else None
        rotate_checkpoints(output_dir, trainer.args.save_total_limit, best)
    if dist_utils.is_main_process():
        trainer._callback("on_save")
    dist_utils.barrier()
