"""SparseCosineSimilarityLoss: regress the cosine similarity of two sparse embeddings onto a label.

Reference: sentence-transformers ``sparse_encoder/losses/sparse_cosine_similarity.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.CosineSimilarityLoss`.
"""

from __future__ import annotations

from torch import nn

from embedkit.sentence_transformer.losses.cosine_similarity import CosineSimilarityLoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss


class SparseCosineSimilarityLoss(_WrappedDenseLoss):
    """``loss_fct(cos_score_transformation(cos(u, v)), label)``; use it inside :class:`SpladeLoss` or :class:`CSRLoss`.

    As in sentence-transformers, constructing it sets the model's ``similarity_fn_name`` to ``"cosine"``.

    Args:
        model: the SparseEncoder.
        loss_fct: the regression loss (default ``nn.MSELoss()``).
        cos_score_transformation: applied to the cosine before the loss (default identity).

    Inputs:
        (sentence_A, sentence_B) pairs with a float similarity label.

    Example:
        >>> import torch
        >>> loss = SparseCosineSimilarityLoss(None)
        >>> e = torch.tensor([[1.0, 0.0]])
        >>> loss.compute_loss_from_embeddings([e, e], torch.tensor([1.0])).item()
        0.0
    """

    def __init__(self, model: nn.Module | None, loss_fct: nn.Module = nn.MSELoss(),  # noqa: B008 (ST's defaults)
                 cos_score_transformation: nn.Module = nn.Identity()) -> None:  # noqa: B008
        if model is not None:
            model.similarity_fn_name = "cosine"
        super().__init__(model, CosineSimilarityLoss(None, loss_fct=loss_fct,
                                                     cos_score_transformation=cos_score_transformation))
