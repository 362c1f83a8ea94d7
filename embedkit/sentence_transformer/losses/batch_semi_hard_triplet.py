"""BatchSemiHardTripletLoss: each anchor-positive pair is matched with its semi-hard negative.

The semi-hard negative of (a, p) is the closest negative that is still farther than p; if there is none, the
farthest negative is used. Port of the TensorFlow Addons / FaceNet mining rule.

References:
    - Schroff, Kalenichenko & Philbin, 2015, "FaceNet", arXiv:1503.03832 (semi-hard mining).
    - Hermans, Beyer & Leibe, 2017, arXiv:1703.07737.
    - sentence-transformers ``sentence_transformer/losses/batch_semi_hard_triplet.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import check_one_label_per_row
from embedkit.sentence_transformer.losses.batch_hard_triplet import BatchHardTripletLossDistanceFunction
from embedkit.sentence_transformer.losses.batch_triplet_base import BatchTripletLossBase


def _masked_maximum(data: Tensor, mask: Tensor, dim: int = 1) -> Tensor:
    """Row maximum of ``data`` over ``mask`` (B, 1); rows with an empty mask give the row minimum."""
    row_min, _ = data.min(dim, keepdim=True)
    masked_max, _ = ((data - row_min) * mask).max(dim, keepdim=True)
    return masked_max + row_min


class BatchSemiHardTripletLoss(BatchTripletLossBase):
    """``sum over (a, p) of relu(d(a, p) - d(a, n_semi_hard) + margin) / #(a, p) pairs``.

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
        >>> loss = BatchSemiHardTripletLoss(None, margin=1.0)
        >>> emb = torch.tensor([[0.0], [1.0], [5.0], [6.0]])
        >>> loss.compute_loss_from_embeddings([emb], torch.tensor([0, 0, 1, 1])).item()
        0.0
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor], Tensor] =
                 BatchHardTripletLossDistanceFunction.euclidean_distance, margin: float = 5) -> None:
        super().__init__(model, distance_metric)
        self.margin = margin

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [(B, D)], ``labels`` (B,) class ids. Returns the scalar loss."""
        return self.batch_semi_hard_triplet_loss(labels, embeddings[0])

    def batch_semi_hard_triplet_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        labels = check_one_label_per_row(self, embeddings.shape[0], labels).unsqueeze(1)  # (B, 1)
        batch_size = labels.numel()
        dist = self.distance_metric(embeddings)  # (B, B): dist[a, p]
        same = labels == labels.t()  # (B, B)
        # For entry (a, p): the smallest negative distance of row a that is strictly greater than dist[a, p].
        sorted_negatives = dist.masked_fill(same, torch.inf).sort(dim=1, stable=True).values  # (B, B), inf last
        position = torch.searchsorted(sorted_negatives.detach().contiguous(), dist.detach().contiguous(), right=True)
        outside = sorted_negatives.gather(1, position.clamp(max=batch_size - 1))  # inf when none is farther
        inside = _masked_maximum(dist, ~same)  # (B, 1) fallback: the farthest negative
        semi_hard = torch.where(torch.isfinite(outside), outside, inside)  # (B, B)
        loss_mat = dist - semi_hard + self.margin
        positive_pairs = same.float() - torch.eye(batch_size, device=labels.device)
        num_positives = positive_pairs.sum()
        return (loss_mat * positive_pairs).clamp(min=0).sum() / num_positives.clamp(min=1e-16)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "margin": self.margin}
