"""ContrastiveLoss (Hadsell et al.) and the distance functions shared with OnlineContrastiveLoss.

References:
    - Hadsell, Chopra & LeCun, 2006, "Dimensionality Reduction by Learning an Invariant Mapping", CVPR,
      doi:10.1109/CVPR.2006.100.
    - sentence-transformers ``sentence_transformer/losses/contrastive.py`` (v6.2).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import check_one_label_per_row, embed_columns


class SiameseDistanceMetric:
    """Row-wise distances ``(x (B, D), y (B, D)) -> (B,)`` for siamese losses (plain functions, not an Enum)."""

    @staticmethod
    def EUCLIDEAN(x: Tensor, y: Tensor) -> Tensor:  # noqa: N802 (sentence-transformers names)
        return F.pairwise_distance(x, y, p=2)

    @staticmethod
    def MANHATTAN(x: Tensor, y: Tensor) -> Tensor:  # noqa: N802
        return F.pairwise_distance(x, y, p=1)

    @staticmethod
    def COSINE_DISTANCE(x: Tensor, y: Tensor) -> Tensor:  # noqa: N802
        return 1 - F.cosine_similarity(x, y)


def metric_name(metric: Callable[..., Tensor], owner: type, names: tuple[str, ...]) -> str:
    """``"Owner.NAME"`` for one of ``owner``'s metrics, else the callable's own name."""
    for name in names:
        if getattr(owner, name) == metric:
            return f"{owner.__name__}.{name}"
    return getattr(metric, "__name__", str(metric))


_SIAMESE = ("EUCLIDEAN", "MANHATTAN", "COSINE_DISTANCE")


def warn_if_not_binary(loss: nn.Module, labels: Tensor, consequence: str) -> None:
    """Warn once per loss object when labels are not all 0/1."""
    if loss._checked_labels:
        return
    loss._checked_labels = True
    if labels.ne(0).logical_and(labels.ne(1)).any().item():
        warnings.warn(f"{type(loss).__name__} expects binary labels (0 or 1); {consequence}", UserWarning,
                      stacklevel=4)


class ContrastiveLoss(nn.Module):
    """``0.5 * (y * d^2 + (1 - y) * relu(margin - d)^2)``: pull positive pairs together, push negatives apart.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: A :class:`SiameseDistanceMetric` function (default cosine distance ``1 - cos``).
        margin: Negative pairs farther apart than this contribute nothing.
        size_average: Mean over the batch if True, else sum.

    Inputs:
        +--------------------------------+------------------------------+
        | Texts                          | Labels                       |
        +================================+==============================+
        | (anchor, positive/negative)    | 1 (similar) / 0 (dissimilar) |
        +--------------------------------+------------------------------+

    Example:
        >>> import torch
        >>> loss = ContrastiveLoss(None)
        >>> u = torch.tensor([[1.0, 0.0]]); v = torch.tensor([[0.0, 1.0]])  # cosine distance 1
        >>> loss.compute_loss_from_embeddings([u, v], torch.tensor([1])).item()
        0.5
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor, Tensor], Tensor] =
                 SiameseDistanceMetric.COSINE_DISTANCE, margin: float = 0.5, size_average: bool = True) -> None:
        super().__init__()
        self.distance_metric = distance_metric
        self.margin = margin
        self.model = model
        self.size_average = size_average
        self._checked_labels = False

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [u (B, D), v (B, D)], ``labels`` (B,) in {0, 1}. Returns the scalar loss."""
        labels = check_one_label_per_row(self, embeddings[0].shape[0], labels)
        warn_if_not_binary(self, labels, "other labels weight the positive term by y and the negative by 1 - y")
        if len(embeddings) != 2:
            raise ValueError(f"ContrastiveLoss expects 2 input columns, got {len(embeddings)}")
        distances = self.distance_metric(embeddings[0], embeddings[1])  # (B,)
        positive = labels.float() * distances.pow(2)
        negative = (1 - labels).float() * F.relu(self.margin - distances).pow(2)
        losses = 0.5 * (positive + negative)
        return losses.mean() if self.size_average else losses.sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": metric_name(self.distance_metric, SiameseDistanceMetric, _SIAMESE),
                "margin": self.margin, "size_average": self.size_average}

    @property
    def citation(self) -> str:
        return """
@inproceedings{hadsell2006dimensionality,
    author={Hadsell, R. and Chopra, S. and LeCun, Y.},
    booktitle={2006 IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR'06)},
    title={Dimensionality Reduction by Learning an Invariant Mapping},
    year={2006},
    volume={2},
    number={},
    pages={1735-1742},
    doi={10.1109/CVPR.2006.100}
}
"""
