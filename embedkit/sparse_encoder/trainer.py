"""SparseEncoderTrainer: the shared training loop (:mod:`embedkit.base.trainer`) for SparseEncoder models."""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from embedkit.base.trainer import BaseTrainer
from embedkit.base.training_args import SparseEncoderTrainingArguments

logger = logging.getLogger(__name__)

__all__ = ["SparseEncoderTrainer"]


class SparseEncoderTrainer(BaseTrainer):
    """The same loop for SparseEncoder models (default loss: SpladeLoss around SparseMultipleNegativesRankingLoss).

    Every SpladeLoss / CachedSpladeLoss gets a :class:`~embedkit.sparse_encoder.callbacks.
    SpladeRegularizerWeightSchedulerCallback` (quadratic warm-up of its regulariser weights over the first third of
    the steps) unless ``callbacks`` already holds one for that loss; scheduler callbacks run first.
    """

    args_class: type = SparseEncoderTrainingArguments

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from embedkit.sparse_encoder.callbacks import SpladeRegularizerWeightSchedulerCallback
        from embedkit.sparse_encoder.losses import CachedSpladeLoss, SpladeLoss

        for loss in {id(loss): loss for loss in self.losses.values()}.values():
            if not isinstance(loss, (SpladeLoss, CachedSpladeLoss)):
                continue
            given = [c for c in self.callbacks
                     if isinstance(c, SpladeRegularizerWeightSchedulerCallback) and c.loss is loss]
            if given:
                self.callbacks.remove(given[0])
                callback = given[0]
            else:
                logger.warning("SpladeLoss detected without SpladeRegularizerWeightSchedulerCallback. Adding default "
                               "SpladeRegularizerWeightSchedulerCallback to gradually increase weight values from 0 "
                               "to their maximum.")
                callback = SpladeRegularizerWeightSchedulerCallback(loss)
            self.callbacks.insert(0, callback)

    def default_loss(self) -> nn.Module:
        from embedkit.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

        return SpladeLoss(self.model, SparseMultipleNegativesRankingLoss(self.model),
                          document_regularizer_weight=3e-5, query_regularizer_weight=5e-5)
