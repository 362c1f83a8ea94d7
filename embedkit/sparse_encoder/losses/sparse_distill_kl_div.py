"""SparseDistillKLDivLoss: KL divergence between teacher and student score distributions, on sparse embeddings.

Reference: sentence-transformers ``sparse_encoder/losses/sparse_distill_kl_div.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.DistillKLDivLoss` (with a default temperature of 2 here).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.distill_kl_div import DistillKLDivLoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss
from embedkit.util import pairwise_dot_score


class SparseDistillKLDivLoss(_WrappedDenseLoss):
    """``KL(softmax(teacher / T_t) || softmax(student / T_s)) * T_s^2``; use it inside :class:`SpladeLoss`.

    Args:
        model: the SparseEncoder.
        similarity_fct: pairwise similarity of query and candidates (default ``pairwise_dot_score``).
        temperature: both temperatures unless given separately.
        student_temperature / teacher_temperature: override ``temperature`` on one side.

    Inputs:
        (query, positive, negative_1, ..., negative_n) with teacher scores ``(B, n+1)``.

    Example:
        >>> import torch
        >>> loss = SparseDistillKLDivLoss(None)
        >>> q = torch.ones(1, 2); c = [torch.ones(1, 2), torch.zeros(1, 2)]
        >>> round(loss.compute_loss_from_embeddings([q, *c], torch.tensor([[2.0, 0.0]])).item(), 6)
        0.0
    """

    def __init__(self, model: nn.Module | None,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score, temperature: float = 2.0,
                 student_temperature: float | None = None, teacher_temperature: float | None = None) -> None:
        super().__init__(model, DistillKLDivLoss(None, similarity_fct=similarity_fct, temperature=temperature,
                                                 student_temperature=student_temperature,
                                                 teacher_temperature=teacher_temperature))
