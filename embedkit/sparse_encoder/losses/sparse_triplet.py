"""SparseTripletLoss: the triplet margin loss on sparse embeddings.

Reference: sentence-transformers ``sparse_encoder/losses/sparse_triplet.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.TripletLoss`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.triplet import TripletDistanceMetric, TripletLoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss


class SparseTripletLoss(_WrappedDenseLoss):
    """``mean(relu(d(a, p) - d(a, n) + margin))``; use it inside :class:`SpladeLoss` or :class:`CSRLoss`.

    Args:
        model: the SparseEncoder.
        distance_metric: a :class:`~embedkit.sentence_transformer.losses.TripletDistanceMetric` (default Euclidean).
        triplet_margin: the margin.

    Inputs:
        (anchor, positive, negative) triplets; no labels.

    Example:
        >>> import torch
        >>> loss = SparseTripletLoss(None, triplet_margin=1.0)
        >>> a, p, n = torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])
        >>> loss.compute_loss_from_embeddings([a, p, n]).item()
        0.0
    """

    def __init__(self, model: nn.Module | None,
                 distance_metric: Callable[[Tensor, Tensor], Tensor] = TripletDistanceMetric.EUCLIDEAN,
                 triplet_margin: float = 5) -> None:
        super().__init__(model, TripletLoss(None, distance_metric=distance_metric, triplet_margin=triplet_margin))
