"""SparseAnglELoss: AnglE (CoSENT on angle differences in complex space) on sparse embeddings.

Reference: sentence-transformers ``sparse_encoder/losses/sparse_angle.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.AnglELoss`.
"""

from __future__ import annotations

from torch import nn

from embedkit.sentence_transformer.losses.angle import AnglELoss
from embedkit.sentence_transformer.losses.cosent import CoSENTLoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss


class SparseAnglELoss(_WrappedDenseLoss):
    """CoSENT with ``pairwise_angle_sim``; use it inside :class:`SpladeLoss` or :class:`CSRLoss`.

    As in sentence-transformers, constructing it sets the model's ``similarity_fn_name`` to ``"cosine"``.

    Args:
        model: the SparseEncoder.
        scale: inverse temperature.

    Inputs:
        (sentence_A, sentence_B) pairs with a float similarity label.

    Example:
        >>> import torch
        >>> loss = SparseAnglELoss(None)
        >>> a = torch.tensor([[1.0, 0.0], [1.0, 0.0]]); b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> round(loss.compute_loss_from_embeddings([a, b], torch.tensor([1.0, 0.0])).item(), 4)
        0.6931
    """

    def __init__(self, model: nn.Module | None, scale: float = 20.0) -> None:
        if model is not None:
            model.similarity_fn_name = "cosine"
        super().__init__(model, AnglELoss(None, scale=scale))

    @property
    def citation(self) -> str:
        # sentence-transformers derives SparseAnglELoss from SparseCoSENTLoss, so it reports CoSENT's citation.
        return CoSENTLoss(None).citation
