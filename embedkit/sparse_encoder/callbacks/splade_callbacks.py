"""SpladeRegularizerWeightSchedulerCallback: warm the SpladeLoss regulariser weights up from 0.

At the start of optimizer step ``s`` (0-based, ``state.global_step``) both weights are set to

    w(s) = w_max * r(s / warmup_steps)  for s < warmup_steps,  w_max afterwards,
    r(x) = x^2 ("quadratic", default) or x ("linear"),  warmup_steps = max(1, int(max_steps * warmup_ratio)),

as in SPLADE's training recipe: the regularisers only bite once the ranking loss has shaped the representations.
SparseEncoderTrainer adds this callback automatically for a SpladeLoss / CachedSpladeLoss.

Reference: sentence-transformers ``sparse_encoder/callbacks/splade_callbacks.py`` (v6.2), the same module path.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from embedkit.base.trainer import TrainerCallback, TrainerControl, TrainerState
from embedkit.sparse_encoder.losses import CachedSpladeLoss, SpladeLoss

logger = logging.getLogger(__name__)


class SchedulerType(Enum):
    """Shapes of the warm-up ramp."""

    LINEAR = "linear"
    QUADRATIC = "quadratic"


class SpladeRegularizerWeightSchedulerCallback(TrainerCallback):
    """Ramp ``document_regularizer_weight`` and ``query_regularizer_weight`` of a SpladeLoss from 0 to their values.

    Args:
        loss: the SpladeLoss (or CachedSpladeLoss) whose weights are scheduled; its current weights are the maxima.
        scheduler_type: ``"quadratic"`` (default) or ``"linear"`` (an unknown name falls back to quadratic).
        warmup_ratio: fraction of the training steps over which the weights ramp up, in (0, 1].

    Raises:
        ValueError: ``loss`` is not a SpladeLoss.

    Example:
        >>> from embedkit.sparse_encoder.losses import SparseMultipleNegativesRankingLoss
        >>> loss = SpladeLoss(None, SparseMultipleNegativesRankingLoss(None), 3e-5, 5e-5)
        >>> callback = SpladeRegularizerWeightSchedulerCallback(loss)
        >>> callback.on_train_begin(None, TrainerState(max_steps=9), TrainerControl())
        >>> callback.on_step_begin(None, TrainerState(global_step=1, max_steps=9), TrainerControl())
        >>> round(loss.query_regularizer_weight / 5e-5, 4)
        0.1111
    """

    def __init__(self, loss: SpladeLoss | CachedSpladeLoss, scheduler_type: str | SchedulerType =
                 SchedulerType.QUADRATIC, warmup_ratio: float = 1 / 3) -> None:
        if isinstance(scheduler_type, str):
            try:
                scheduler_type = SchedulerType(scheduler_type.lower())
            except ValueError:
                logger.warning(f"Invalid scheduler_type: {scheduler_type}. Using default: "
                               f"{SchedulerType.QUADRATIC.value}")
                scheduler_type = SchedulerType.QUADRATIC
        self.scheduler_type = scheduler_type
        if not 0 < warmup_ratio <= 1:
            logger.warning(f"warmup_ratio should be between 0 and 1, got {warmup_ratio}. Setting to default 1/3.")
            warmup_ratio = 1 / 3
        if not isinstance(loss, (SpladeLoss, CachedSpladeLoss)):
            logger.warning(
                f"SpladeRegularizerWeightSchedulerCallback is only compatible with SpladeLoss, "
                f"but got {type(loss).__name__}. This callback won't have any effect."
            )
            raise ValueError("loss must be an instance of SpladeLoss")
        self.loss = loss
        self.max_document_regularizer_weight = loss.document_regularizer_weight
        self.max_query_regularizer_weight = loss.query_regularizer_weight
        self.warmup_ratio = warmup_ratio
        self._current_query_regularizer_weight = 0.0 if self.max_query_regularizer_weight is not None else None
        self._current_document_regularizer_weight = 0.0
        self.total_steps: int | None = None
        self.warmup_steps: int | None = None

    def on_train_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if not state.max_steps or state.max_steps <= 0:
            logger.warning("Cannot determine total steps from TrainerState. Weight scheduling may not work properly.")
            return
        self.total_steps = state.max_steps
        self.warmup_steps = max(1, int(self.total_steps * self.warmup_ratio))
        self.loss.query_regularizer_weight = self._current_query_regularizer_weight
        self.loss.document_regularizer_weight = self._current_document_regularizer_weight

    def _calculate_weight_value(self, step: int, max_value: float | None) -> float | None:
        if self.warmup_steps is None or step >= self.warmup_steps or max_value is None:
            return max_value
        ratio = step / max(self.warmup_steps, 1)
        if self.scheduler_type == SchedulerType.LINEAR:
            return max_value * ratio
        return max_value * ratio**2

    def on_step_begin(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.total_steps is None or self.warmup_steps is None:
            return
        query = self._calculate_weight_value(state.global_step, self.max_query_regularizer_weight)
        document = self._calculate_weight_value(state.global_step, self.max_document_regularizer_weight)
        if query != self._current_query_regularizer_weight or document != self._current_document_regularizer_weight:
            self.loss.query_regularizer_weight = query
            self.loss.document_regularizer_weight = document
            self._current_query_regularizer_weight = query
            self._current_document_regularizer_weight = document

    def on_log(self, args: Any, state: TrainerState, control: TrainerControl, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if logs is None:
            return
        logs["document_regularizer_weight"] = self._current_document_regularizer_weight
        if self._current_query_regularizer_weight is not None:
            logs["query_regularizer_weight"] = self._current_query_regularizer_weight
