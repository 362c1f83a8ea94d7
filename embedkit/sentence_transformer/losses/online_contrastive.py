"""OnlineContrastiveLoss: the contrastive loss restricted to the hard pairs of each batch.

References:
    - Hadsell, Chopra & LeCun, 2006 (contrastive loss); online hard-pair selection as in sentence-transformers
      ``sentence_transformer/losses/online_contrastive.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import check_one_label_per_row, embed_columns
from embedkit.sentence_transformer.losses.contrastive import (
    _SIAMESE,
    SiameseDistanceMetric,
    metric_name,
    warn_if_not_binary,
)


class OnlineContrastiveLoss(nn.Module):
    """``sum(d_pos^2) + sum(relu(margin - d_neg)^2)`` over hard positives and hard negatives only.

    A positive pair is hard when it is farther apart than the closest negative pair of the batch; a negative pair is
    hard when it is closer than the farthest positive pair. (With only one kind of pair in the batch, that kind's
    mean distance is the threshold.) The result is a sum, not a mean.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: A :class:`SiameseDistanceMetric` function (default cosine distance).
        margin: Negative pairs farther apart than this contribute nothing.

    Inputs:
        +--------------------------------+------------------------------+
        | Texts                          | Labels                       |
        +================================+==============================+
        | (anchor, positive/negative)    | 1 (similar) / 0 (dissimilar) |
        +--------------------------------+------------------------------+

    Example:
        >>> import torch
        >>> loss = OnlineContrastiveLoss(None, margin=1.0)
        >>> u = torch.tensor([[1.0, 0.0], [1.0, 0.0]]); v = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> loss.compute_loss_from_embeddings([u, v], torch.tensor([1, 0])).item()  # d_pos=1 > d_neg=0: both hard
        2.0
    """

    def __init__(self, model: nn.Module | None, distance_metric: Callable[[Tensor, Tensor], Tensor] =
                 SiameseDistanceMetric.COSINE_DISTANCE, margin: float = 0.5) -> None:
        super().__init__()
        self.model = model
        self.margin = margin
        self.distance_metric = distance_metric
        self._checked_labels = False

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [u (B, D), v (B, D)], ``labels`` (B,) in {0, 1}. Returns the scalar loss."""
        labels = check_one_label_per_row(self, embeddings[0].shape[0], labels)
        warn_if_not_binary(self, labels, "pairs with other labels are ignored")
        distances = self.distance_metric(embeddings[0], embeddings[1])  # (B,)
        negs, poss = distances[labels == 0], distances[labels == 1]
        hard_negs = negs[negs < (poss.max() if len(poss) else negs.mean())]
        hard_poss = poss[poss > (negs.min() if len(negs) else poss.mean())]
        return hard_poss.pow(2).sum() + F.relu(self.margin - hard_negs).pow(2).sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": metric_name(self.distance_metric, SiameseDistanceMetric, _SIAMESE),
                "margin": self.margin}
