"""BatchHardTripletLoss: for each anchor, the hardest positive and hardest negative of the batch.

Also holds :class:`BatchHardTripletLossDistanceFunction` (the pairwise distance matrices) and the label masks used
by all the batch-mining triplet losses (``batch_all_triplet``, ``batch_semi_hard_triplet``,
``batch_hard_soft_margin_triplet``).

References:
    - Hermans, Beyer & Leibe, 2017, "In Defense of the Triplet Loss for Person Re-Identification", arXiv:1703.07737.
    - Olivier Moindrot, "Triplet Loss and Online Triplet Mining in TensorFlow" (the masking scheme).
    - sentence-transformers ``sentence_transformer/losses/batch_hard_triplet.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import check_one_label_per_row
from embedkit.sentence_transformer.losses.batch_triplet_base import CITATION, BatchTripletLossBase  # noqa: F401 (CITATION: kept importable from here)
from embedkit.util import cos_sim


class BatchHardTripletLossDistanceFunction:
    """Pairwise distance matrices ``(B, D) -> (B, B)`` for the batch triplet losses."""

    @staticmethod
    def cosine_distance(embeddings: Tensor) -> Tensor:
        """``1 - cos(e_i, e_j)``."""
        return 1 - cos_sim(embeddings, embeddings)

    @staticmethod
    def euclidean_distance(embeddings: Tensor, squared: bool = False) -> Tensor:
        """``||e_i - e_j||`` (or its square) from the Gram matrix, computed in fp32; the zero-distance sqrt gets a
        zero gradient instead of NaN."""
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            if embeddings.dtype in (torch.float16, torch.bfloat16):
                embeddings = embeddings.float()
            dot = embeddings @ embeddings.t()  # (B, B)
        square_norm = torch.diag(dot)  # (B,)
        distances = square_norm.unsqueeze(0) - 2.0 * dot + square_norm.unsqueeze(1)
        distances = distances.clamp(min=0)  # rounding can make tiny negatives
        if not squared:
            zero = distances.eq(0).float()
            distances = (1.0 - zero) * torch.sqrt(distances + zero * 1e-16)
        return distances

    eucledian_distance = euclidean_distance  # sentence-transformers' historical spelling


def anchor_positive_mask(labels: Tensor) -> Tensor:
    """(B, B) bool: ``i != j`` and ``labels[i] == labels[j]``."""
    distinct = ~torch.eye(labels.size(0), device=labels.device, dtype=torch.bool)
    return (labels.unsqueeze(0) == labels.unsqueeze(1)) & distinct


def anchor_negative_mask(labels: Tensor) -> Tensor:
    """(B, B) bool: ``labels[i] != labels[j]``."""
    return labels.unsqueeze(0) != labels.unsqueeze(1)


def triplet_mask(labels: Tensor) -> Tensor:
    """(B, B, B) bool: (i, j, k) distinct, ``labels[i] == labels[j]`` and ``labels[i] != labels[k]``."""
    distinct = ~torch.eye(labels.size(0), device=labels.device, dtype=torch.bool)
    distinct_ijk = distinct.unsqueeze(2) & distinct.unsqueeze(1) & distinct.unsqueeze(0)
    equal = labels.unsqueeze(0) == labels.unsqueeze(1)
    return equal.unsqueeze(2) & ~equal.unsqueeze(1) & distinct_ijk


def hardest_distances(labels: Tensor, pairwise_dist: Tensor) -> tuple[Tensor, Tensor]:
    """(B, 1) hardest-positive and (B, 1) hardest-negative distance per anchor."""
    hardest_positive, _ = (anchor_positive_mask(labels).float() * pairwise_dist).max(1, keepdim=True)
    # Lift non-negatives above every real distance so that min() picks a negative.
    row_max, _ = pairwise_dist.max(1, keepdim=True)
    not_negative = 1.0 - anchor_negative_mask(labels).float()
    hardest_negative, _ = (pairwise_dist + row_max * not_negative).min(1, keepdim=True)
    return hardest_positive, hardest_negative


class BatchHardTripletLoss(BatchTripletLossBase):
    """``mean_i relu(max_pos d(i, p) - min_neg d(i, n) + margin)`` over the anchors of a labeled batch.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: ``(B, D) -> (B, B)`` distances, e.g.
            ``BatchHardTripletLossDistanceFunction.euclidean_distance`` (default) or ``.cosine_distance``.
        margin: Required gap between the hardest negative and the hardest positive.

    Inputs:
        +------------------+-------------+
        | Texts            | Labels      |
        +==================+=============+
        | single sentences | class (int) |
        +------------------+-------------+

    Each batch needs at least two examples per label (use the group-by-label batch sampler).

    Example:
        >>> import torch
        >>> loss = BatchHardTripletLoss(None, margin=1.0)
        >>> emb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [6.0, 0.0]])
        >>> loss.compute_loss_from_embeddings([emb], torch.tensor([0, 0, 1, 1])).item()  # well separated
        0.0
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor], Tensor] =
                 BatchHardTripletLossDistanceFunction.euclidean_distance, margin: float = 5) -> None:
        super().__init__(model, distance_metric)
        self.triplet_margin = margin

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [(B, D)], ``labels`` (B,) class ids. Returns the scalar loss."""
        return self.batch_hard_triplet_loss(labels, embeddings[0])

    def batch_hard_triplet_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        labels = check_one_label_per_row(self, embeddings.shape[0], labels)
        hardest_positive, hardest_negative = hardest_distances(labels, self.distance_metric(embeddings))
        return (hardest_positive - hardest_negative + self.triplet_margin).clamp(min=0).mean()

    get_anchor_positive_triplet_mask = staticmethod(anchor_positive_mask)
    get_anchor_negative_triplet_mask = staticmethod(anchor_negative_mask)
    get_triplet_mask = staticmethod(triplet_mask)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "margin": self.triplet_margin}
