"""BatchHardSoftMarginTripletLoss: batch-hard mining with a soft margin ``softplus(d_pos - d_neg)``.

References:
    - Hermans, Beyer & Leibe, 2017, arXiv:1703.07737 (soft-margin formulation).
    - sentence-transformers ``sentence_transformer/losses/batch_hard_soft_margin_triplet.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import check_one_label_per_row
from embedkit.sentence_transformer.losses.batch_hard_triplet import (
    BatchHardTripletLossDistanceFunction,
    hardest_distances,
)
from embedkit.sentence_transformer.losses.batch_triplet_base import BatchTripletLossBase


class BatchHardSoftMarginTripletLoss(BatchTripletLossBase):
    """``mean_i log(1 + exp(max_pos d(i, p) - min_neg d(i, n)))``; no margin to tune.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: ``(B, D) -> (B, B)`` distances (default Euclidean).

    Inputs:
        +------------------+-------------+
        | Texts            | Labels      |
        +==================+=============+
        | single sentences | class (int) |
        +------------------+-------------+

    Example:
        >>> import torch
        >>> loss = BatchHardSoftMarginTripletLoss(None)
        >>> emb = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
        >>> round(loss.compute_loss_from_embeddings([emb], torch.tensor([0, 0, 1, 1])).item(), 4)  # softplus(0 - 1)
        0.3133
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor], Tensor] =
                 BatchHardTripletLossDistanceFunction.euclidean_distance) -> None:
        super().__init__(model, distance_metric)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [(B, D)], ``labels`` (B,) class ids. Returns the scalar loss."""
        return self.batch_hard_triplet_soft_margin_loss(labels, embeddings[0])

    def batch_hard_triplet_soft_margin_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        labels = check_one_label_per_row(self, embeddings.shape[0], labels)
        hardest_positive, hardest_negative = hardest_distances(labels, self.distance_metric(embeddings))
        return F.softplus(hardest_positive - hardest_negative).mean()
