"""SparseMSELoss: MSE between the student's sparse embeddings and teacher embeddings (knowledge distillation).

Unlike the other Sparse* losses it can be used on its own (as in sentence-transformers), e.g. to distil a SPLADE
teacher into a student.

Reference: sentence-transformers ``sparse_encoder/losses/sparse_mse.py`` (v6.2); the math is
:class:`embedkit.sentence_transformer.losses.MSELoss`.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.mse import MSELoss
from embedkit.sparse_encoder.losses._wrapped import _WrappedDenseLoss


class SparseMSELoss(_WrappedDenseLoss):
    """``MSE(student(x), teacher_embedding)``, averaged over the input columns.

    Args:
        model: the student SparseEncoder.

    Inputs:
        +-----------------------------+------------------------------------------------+
        | Texts                       | Labels                                         |
        +=============================+================================================+
        | sentence                    | teacher embedding (B, V)                       |
        +-----------------------------+------------------------------------------------+
        | sentence_1, ..., sentence_N | (B, V) shared, or (B, N, V) one per column     |
        +-----------------------------+------------------------------------------------+

    Example:
        >>> import torch
        >>> loss = SparseMSELoss(None)
        >>> loss.compute_loss_from_embeddings([torch.ones(2, 3)], torch.zeros(2, 3)).item()
        1.0
    """

    def __init__(self, model: nn.Module | None) -> None:
        super().__init__(model, MSELoss(model))

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        return self.inner(sentence_features, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | list[Tensor] | None = None
                                     ) -> Tensor:
        """Teacher ``labels``: (B, V) shared by all columns, (B, N, V) one per column, or a list of N (B, V)."""
        if labels is None:
            raise ValueError("SparseMSELoss needs precomputed teacher embeddings as labels; got None")
        if isinstance(labels, Tensor):
            if labels.dim() == 2:
                labels = [labels] * len(embeddings)
            elif labels.dim() == 3 and labels.size(1) == len(embeddings):
                labels = list(labels.unbind(1))
            else:
                raise ValueError(f"labels must be (B, V) or (B, {len(embeddings)}, V), got {tuple(labels.shape)}")
        return self.inner.compute_loss_from_embeddings(embeddings, [t.detach() for t in labels])
