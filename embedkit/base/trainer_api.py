"""The trainer methods scripts call around ``train()``, with transformers' names and outputs: callbacks added and
removed, which process may print or save, the model saved, metrics logged, printed and written, the state written.

Example:
    >>> import tempfile
    >>> from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    >>> from embedkit.default_model import default_model_path
    >>> model = SentenceTransformer(default_model_path(), device="cpu")
    >>> args = SentenceTransformerTrainingArguments(output_dir=tempfile.mkdtemp())
    >>> trainer = SentenceTransformerTrainer(model, args, train_dataset={"anchor": ["a"], "positive": ["b"]})
    >>> trainer.is_world_process_zero(), trainer.get_num_trainable_parameters() > 0
    (True, True)
    >>> trainer.log_metrics("train", {"train_loss": 0.123456, "train_runtime": 75.5})
    ***** train metrics *****
      train_loss    =     0.1235
      train_runtime = 0:01:15.50
"""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path
from typing import Any

from embedkit import distributed as dist_utils

logger = logging.getLogger("embedkit.base.trainer")


class TrainerAPI:
    """Mixed into :class:`~embedkit.base.trainer.BaseTrainer` (see the module docstring)."""

    # ------------------------------------------------------------------ callbacks
    def add_callback(self, callback: Any) -> None:
        """Add a callback (an instance, or a class to instantiate); a second one of the same class warns."""
        instance = callback() if isinstance(callback, type) else callback
        if type(instance) in {type(c) for c in self.callbacks}:
            logger.warning("You are adding a %s to the callbacks of this Trainer, but there is already one. The "
                           "current list of callbacks is:\n%s", type(instance),
                           "\n".join(type(c).__name__ for c in self.callbacks))
        self.callbacks.append(instance)

    def pop_callback(self, callback: Any) -> Any:
        """Remove and return a callback (given as an instance, or a class: the first of that class); None if absent."""
        for existing in self.callbacks:
            if existing is callback or (isinstance(callback, type) and isinstance(existing, callback)):
                self.callbacks.remove(existing)
                return existing
        return None

    def remove_callback(self, callback: Any) -> None:
        """Remove a callback (an instance, or the first of a class)."""
        self.pop_callback(callback)

    # ------------------------------------------------------------------ optimizer hooks
    def create_optimizer(self) -> Any:
        """The optimizer the training arguments ask for (``optim``, ``learning_rate``, ``weight_decay``, ...) over
        the model's and the losses' trainable parameters; sets ``self.optimizer``. Override it to build your own:
        ``train()`` then calls the override."""
        from embedkit.base.trainer_optimizer import _Losses, build_optimizer

        self.optimizer = build_optimizer(self.args, _Losses(self.losses))  # the loop's parameter names
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        """The LR schedule the training arguments ask for over ``num_training_steps``; sets ``self.scheduler``
        (``self.lr_scheduler`` in transformers). Override it to build your own: ``train()`` then calls the override."""
        from embedkit.base.trainer_optimizer import build_scheduler_from_args

        self.scheduler = build_scheduler_from_args(self.args, optimizer or self.optimizer, num_training_steps)
        return self.scheduler

    # ------------------------------------------------------------------ processes
    def is_world_process_zero(self) -> bool:
        """Whether this is the process that saves and logs (rank 0, or the only one)."""
        return dist_utils.is_main_process()

    def is_local_process_zero(self) -> bool:
        """Whether this is the first process on its node."""
        return dist_utils.is_local_main_process()

    def get_num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ saving and logging
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the model folder (and the arguments) to ``output_dir`` (default ``args.output_dir``), on the process
        that saves; every process waits for it."""
        if self.is_world_process_zero():
            self._save(output_dir)
        dist_utils.barrier()

    def push_to_hub(self, commit_message: str | None = "End of training", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, **kwargs: Any) -> str | None:
        """Save the model to ``output_dir`` and upload it to ``args.hub_model_id`` (default: the output folder's
        name), with ``args.hub_token`` / ``hub_private_repo`` / ``hub_revision`` unless given; returns the commit
        URL (on the process that saves; None elsewhere)."""
        self.save_model()
        if not self.is_world_process_zero():
            return None
        args = self.args
        repo_id = args.hub_model_id or Path(args.output_dir or "trainer_output").resolve().name
        return self.model.push_to_hub(repo_id, token=token or args.hub_token, private=args.hub_private_repo,
                                      commit_message=commit_message, exist_ok=True,
                                      revision=revision or args.hub_revision, **kwargs)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add ``logs`` (with the epoch and step) to the log history and call ``on_log``, as the loop's own logs."""
        entry = dict(logs)
        if self.state.global_step or self.state.epoch:
            entry["epoch"] = round(self.state.epoch, 4)
        entry["step"] = self.state.global_step
        self._log(entry, Path(self.args.output_dir or "trainer_output"), None)

    def log_metrics(self, split: str, metrics: dict[str, Any]) -> None:
        """Print ``metrics`` as transformers does (on the process that logs): runtimes as h:mm:ss.ss, floats to
        four decimals, keys sorted and aligned."""
        if not self.is_world_process_zero():
            return
        print(f"***** {split} metrics *****")
        shown = {key: _format_metric(key, value) for key, value in metrics.items()}
        key_width = max((len(k) for k in shown), default=0)
        value_width = max((len(str(v)) for v in shown.values()), default=0)
        for key in sorted(shown):
            print(f"  {key: <{key_width}} = {shown[key]:>{value_width}}")

    def save_metrics(self, split: str, metrics: dict[str, Any], combined: bool = True) -> None:
        """Write ``metrics`` to ``{output_dir}/{split}_results.json`` and, with ``combined``, merge them into
        ``all_results.json`` (``split="all"`` writes only the latter)."""
        if not self.is_world_process_zero():
            return
        folder = Path(self.args.output_dir or "trainer_output")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}_results.json").write_text(json.dumps(metrics, indent=4, sort_keys=True))
        if combined:
            path = folder / "all_results.json"
            everything = json.loads(path.read_text()) if path.is_file() else {}
            everything.update(metrics)
            path.write_text(json.dumps(everything, indent=4, sort_keys=True))

    def save_state(self) -> None:
        """Write ``trainer_state.json`` (transformers' TrainerState keys) to ``output_dir``."""
        from embedkit.base.trainer_checkpoints import hf_trainer_state

        if not self.is_world_process_zero():
            return
        folder = Path(self.args.output_dir or "trainer_output")
        folder.mkdir(parents=True, exist_ok=True)
        state = hf_trainer_state(self)
        (folder / "trainer_state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def _format_metric(key: str, value: Any) -> Any:
    """One metric as ``log_metrics`` prints it (transformers' ``metrics_format`` rules)."""
    if "_mem_" in key:
        return f"{int(value) >> 20}MB"
    if "_runtime" in key:
        return _duration(value)
    if key == "total_flos":
        return f"{int(value) >> 30}GF"
    if isinstance(value, float):
        return round(value, 4)
    return value


def _duration(seconds: float) -> str:
    """``75.5`` -> ``"0:01:15.50"`` (hundredths truncated, as transformers)."""
    return f"{datetime.timedelta(seconds=int(seconds))}.{int(abs(seconds - int(seconds)) * 100):02d}"
