"""SparseMultipleNegativesRankingLoss: in-batch-negatives InfoNCE on sparse embeddings (dot product, scale 1).

Reference: sentence-transformers ``sparse_encoder/losses/sparse_multiple_negatives_ranking.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.MultipleNegativesRankingLoss`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss
from embedkit.util import dot_score


class SparseMultipleNegativesRankingLoss(_WrappedDenseLoss):
    """MultipleNegativesRankingLoss for SparseEncoder models; use it inside :class:`SpladeLoss` or :class:`CSRLoss`.

    Args:
        model: the SparseEncoder.
        scale: inverse temperature (1.0: SPLADE dot products are already large).
        similarity_fct: query-document similarity (default ``dot_score``).
        gather_across_devices / directions / partition_mode / hardness_mode / hardness_strength: as in
            :class:`~embedkit.sentence_transformer.losses.MultipleNegativesRankingLoss`.

    Inputs:
        (anchor, positive) pairs or (anchor, positive, negative_1, ..., negative_n); no labels.

    Example:
        >>> import torch
        >>> inner = SparseMultipleNegativesRankingLoss(None)
        >>> round(inner.compute_loss_from_embeddings([torch.eye(2) * 2, torch.eye(2) * 2]).item(), 4)
        0.0181
    """

    def __init__(
        self,
        model: nn.Module | None,
        scale: float = 1.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = dot_score,
        gather_across_devices: bool = False,
        directions: tuple[Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"], ...] = (
            "query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        hardness_mode: Literal["in_batch_negatives", "hard_negatives", "all_negatives"] | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__(model, MultipleNegativesRankingLoss(
            None, scale=scale, similarity_fct=similarity_fct, gather_across_devices=gather_across_devices,
            directions=directions, partition_mode=partition_mode, hardness_mode=hardness_mode,
            hardness_strength=hardness_strength))
