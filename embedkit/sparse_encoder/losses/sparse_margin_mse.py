"""SparseMarginMSELoss: MarginMSE distillation on sparse embeddings.

Reference: sentence-transformers ``sparse_encoder/losses/sparse_margin_mse.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.MarginMSELoss`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.margin_mse import MarginMSELoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss
from embedkit.util import pairwise_dot_score


class SparseMarginMSELoss(_WrappedDenseLoss):
    """``MSE(s(q, p) - s(q, n_i), teacher_margin_i)``; use it inside :class:`SpladeLoss` or :class:`CSRLoss`.

    Args:
        model: the SparseEncoder.
        similarity_fct: pairwise similarity (default ``pairwise_dot_score``).

    Inputs:
        (query, positive, negative_1, ..., negative_n) with labels ``(B,)`` / ``(B, n)`` margins, or ``(B, n+1)``
        raw teacher scores.

    Example:
        >>> import torch
        >>> loss = SparseMarginMSELoss(None)
        >>> q, p, n = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.0]])
        >>> loss.compute_loss_from_embeddings([q, p, n], torch.tensor([1.0])).item()
        0.0
    """

    def __init__(self, model: nn.Module | None,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score) -> None:
        super().__init__(model, MarginMSELoss(None, similarity_fct=similarity_fct))
