"""TripletLoss: the anchor must be closer to the positive than to the negative by a margin.

References:
    - Schroff et al., 2015, "FaceNet", arXiv:1503.03832; Hermans et al., 2017, "In Defense of the Triplet Loss for
      Person Re-Identification", arXiv:1703.07737.
    - sentence-transformers ``sentence_transformer/losses/triplet.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import embed_columns
from embedkit.sentence_transformer.losses.batch_triplet_base import CITATION as _CITATION
from embedkit.sentence_transformer.losses.contrastive import metric_name
from embedkit.util import pairwise_cos_sim, pairwise_euclidean_sim, pairwise_manhattan_sim


class TripletDistanceMetric:
    """Row-wise distances ``(x (B, D), y (B, D)) -> (B,)`` for :class:`TripletLoss` (plain functions, not an Enum)."""

    @staticmethod
    def COSINE(x: Tensor, y: Tensor) -> Tensor:  # noqa: N802 (sentence-transformers names)
        return 1 - pairwise_cos_sim(x, y)

    @staticmethod
    def EUCLIDEAN(x: Tensor, y: Tensor) -> Tensor:  # noqa: N802
        return -pairwise_euclidean_sim(x, y)

    @staticmethod
    def MANHATTAN(x: Tensor, y: Tensor) -> Tensor:  # noqa: N802
        return -pairwise_manhattan_sim(x, y)


_TRIPLET = ("COSINE", "EUCLIDEAN", "MANHATTAN")


class TripletLoss(nn.Module):
    """``mean(relu(d(a, p) - d(a, n) + triplet_margin))``.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: A :class:`TripletDistanceMetric` function (default Euclidean).
        triplet_margin: Required gap between the negative and the positive distance.

    Inputs:
        +---------------------------------------+--------+
        | Texts                                 | Labels |
        +=======================================+========+
        | (anchor, positive, negative) triplets | none   |
        +---------------------------------------+--------+

    Example:
        >>> import torch
        >>> loss = TripletLoss(None, triplet_margin=1.0)
        >>> a = torch.tensor([[0.0, 0.0]]); p = torch.tensor([[1.0, 0.0]]); n = torch.tensor([[3.0, 0.0]])
        >>> loss.compute_loss_from_embeddings([a, p, n], None).item()  # relu(1 - 3 + 1)
        0.0
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor, Tensor], Tensor] =
                 TripletDistanceMetric.EUCLIDEAN, triplet_margin: float = 5) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = distance_metric
        self.triplet_margin = triplet_margin

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """Args: ``embeddings`` = [anchor, positive, negative], each (B, D). Returns the scalar loss."""
        if len(embeddings) != 3:
            raise ValueError(f"TripletLoss expects 3 input columns (anchor, positive, negative), "
                             f"got {len(embeddings)}")
        anchor, positive, negative = embeddings
        distance_pos = self.distance_metric(anchor, positive)  # (B,)
        distance_neg = self.distance_metric(anchor, negative)  # (B,)
        return F.relu(distance_pos - distance_neg + self.triplet_margin).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": metric_name(self.distance_metric, TripletDistanceMetric, _TRIPLET),
                "triplet_margin": self.triplet_margin}

    @property
    def citation(self) -> str:
        return _CITATION
