"""The small types the training loop shares with its callbacks: the run's progress (:class:`TrainerState`, saved in
every checkpoint), the stop flag (:class:`TrainerControl`), the callback hooks, and what ``train`` and
``evaluation_loop`` return."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass
class TrainerState:
    """Progress of a run; saved as ``trainer_state.json`` in every checkpoint."""

    global_step: int = 0
    max_steps: int = 0
    epoch: float = 0.0
    epoch_index: int = 0
    batch_in_epoch: int = 0
    """Index, in this epoch's batch list, of the next micro-batch to train on."""
    log_history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_model_checkpoint: str | None = None


def speed_metrics(split: str, start: float, num_samples: int, num_steps: int) -> dict[str, float]:
    """``{split}_runtime`` (s, since ``start`` on ``time.perf_counter``), ``_samples_per_second`` and
    ``_steps_per_second``, rounded as transformers rounds them.

    Example:
        >>> import time
        >>> sorted(speed_metrics("eval", time.perf_counter(), 8, 2))
        ['eval_runtime', 'eval_samples_per_second', 'eval_steps_per_second']
    """
    runtime = max(time.perf_counter() - start, 1e-9)
    return {f"{split}_runtime": round(runtime, 4), f"{split}_samples_per_second": round(num_samples / runtime, 3),
            f"{split}_steps_per_second": round(num_steps / runtime, 3)}


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, Any]


@dataclass
class TrainerControl:
    """What callbacks ask of the loop, as in transformers: stop training, end the epoch, or log / evaluate / save at
    the end of this step (the loop resets those three after acting on them)."""

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False

    def _new_training(self) -> None:
        self.should_training_stop = False

    def _new_epoch(self) -> None:
        self.should_epoch_stop = False

    def _new_step(self) -> None:
        self.should_save = self.should_evaluate = self.should_log = False


class EvalLoopOutput(NamedTuple):
    """What :meth:`BaseTrainer.evaluation_loop` returns (transformers' field names)."""

    predictions: Any
    label_ids: Any
    metrics: dict[str, float]
    num_samples: int


class TrainerCallback:
    """Hooks called by the loop, with transformers' names, arguments and order: ``on_init_end`` (trainer built),
    ``on_train_begin``, per epoch ``on_epoch_begin`` / ``on_epoch_end``, per step ``on_step_begin``,
    ``on_substep_end`` (after each gradient-accumulation micro-batch but the last), ``on_pre_optimizer_step`` (after
    clipping), ``on_optimizer_step``, ``on_step_end``; ``on_log``, ``on_evaluate``, ``on_save``, ``on_train_end``.
    ``on_predict``, ``on_prediction_step`` and ``on_push_begin`` exist for subclasses but are not called (no
    predictions, no Hub pushes from the loop). Setting ``control.should_save`` / ``should_evaluate`` /
    ``should_log`` in ``on_step_end`` or ``on_epoch_end`` makes the loop do it, ``should_epoch_stop`` ends the
    epoch, ``should_training_stop`` the run."""

    def on_init_end(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_train_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_epoch_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_step_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_substep_end(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_pre_optimizer_step(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
                              ) -> None: ...
    def on_optimizer_step(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_epoch_end(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_log(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_evaluate(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_save(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_train_end(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_predict(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_prediction_step(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
                           ) -> None: ...
    def on_push_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
