"""BatchAllTripletLoss: average the triplet loss over every valid (anchor, positive, negative) of the batch.

References:
    - Hermans, Beyer & Leibe, 2017, arXiv:1703.07737 (batch-all variant).
    - sentence-transformers ``sentence_transformer/losses/batch_all_triplet.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import check_one_label_per_row
from embedkit.sentence_transformer.losses.batch_hard_triplet import (
    BatchHardTripletLossDistanceFunction,
    anchor_positive_mask,
)
from embedkit.sentence_transformer.losses.batch_triplet_base import BatchTripletLossBase


class BatchAllTripletLoss(BatchTripletLossBase):
    """``sum(relu(d(a, p) - d(a, n) + margin)) / #(triplets with a positive loss)`` over all valid triplets.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: ``(B, D) -> (B, B)`` distances (default Euclidean).
        margin: Required gap between negative and positive distances.

    Inputs:
        +------------------+-------------+
        | Texts            | Labels      |
        +==================+=============+
        | single sentences | class (int) |
        +------------------+-------------+

    Example:
        >>> import torch
        >>> loss = BatchAllTripletLoss(None, margin=2.0)
        >>> emb = torch.tensor([[0.0], [1.0], [2.0]])
        >>> # triplets (0, 1, 2): 1 - 2 + 2 and (1, 0, 2): 1 - 1 + 2
        >>> loss.compute_loss_from_embeddings([emb], torch.tensor([0, 0, 1])).item()
        1.5
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor], Tensor] =
                 BatchHardTripletLossDistanceFunction.euclidean_distance, margin: float = 5) -> None:
        super().__init__(model, distance_metric)
        self.triplet_margin = margin

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [(B, D)], ``labels`` (B,) class ids. Returns the scalar loss."""
        return self.batch_all_triplet_loss(labels, embeddings[0])

    def batch_all_triplet_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        labels = check_one_label_per_row(self, embeddings.shape[0], labels)
        pairwise_dist = self.distance_metric(embeddings)  # (B, B)
        anchors, positives = anchor_positive_mask(labels).nonzero(as_tuple=True)  # P anchor-positive pairs
        ap_dist = pairwise_dist[anchors, positives].unsqueeze(1)  # (P, 1)
        losses = ap_dist - pairwise_dist[anchors] + self.triplet_margin  # (P, B): every k as a candidate negative
        is_negative = labels[anchors].unsqueeze(1) != labels.unsqueeze(0)  # (P, B)
        losses = (is_negative.float() * losses).clamp(min=0)
        num_active = (losses > 1e-16).sum()
        return losses.sum() / (num_active + 1e-16)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "margin": self.triplet_margin}
