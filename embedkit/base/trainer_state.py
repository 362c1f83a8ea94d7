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
    should_training_stop: bool = False


class EvalLoopOutput(NamedTuple):
    """What :meth:`BaseTrainer.evaluation_loop` returns (transformers' field names)."""

    predictions: Any
    label_ids: Any
    metrics: dict[str, float]
    num_samples: int


class TrainerCallback:
    """Hooks called by the loop (same names and arguments as transformers' ``TrainerCallback``)."""

    def on_train_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_step_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_log(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_evaluate(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_save(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
    def on_train_end(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None: ...
