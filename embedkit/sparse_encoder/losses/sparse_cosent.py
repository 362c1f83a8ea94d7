"""SparseCoSENTLoss: CoSENT (pairwise ranking of similarity scores) on sparse embeddings.

Reference: sentence-transformers ``sparse_encoder/losses/sparse_cosent.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.CoSENTLoss`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.cosent import CoSENTLoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss
from embedkit.util import pairwise_cos_sim


class SparseCoSENTLoss(_WrappedDenseLoss):
    """``log(1 + sum_{y_i > y_j} exp(scale * (s_j - s_i)))``; use it inside :class:`SpladeLoss` or :class:`CSRLoss`.

    As in sentence-transformers, constructing it sets the model's ``similarity_fn_name`` to ``"cosine"``.

    Args:
        model: the SparseEncoder.
        scale: inverse temperature.
        similarity_fct: pairwise similarity (default ``pairwise_cos_sim``).

    Inputs:
        (sentence_A, sentence_B) pairs with a float similarity label.

    Example:
        >>> import torch
        >>> loss = SparseCoSENTLoss(None)
        >>> a = torch.tensor([[1.0, 0.0], [1.0, 0.0]]); b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> round(loss.compute_loss_from_embeddings([a, b], torch.tensor([1.0, 0.0])).item(), 6)
        0.0
    """

    def __init__(self, model: nn.Module | None, scale: float = 20.0,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_cos_sim) -> None:
        if model is not None:
            model.similarity_fn_name = "cosine"
        super().__init__(model, CoSENTLoss(None, scale=scale, similarity_fct=similarity_fct))
