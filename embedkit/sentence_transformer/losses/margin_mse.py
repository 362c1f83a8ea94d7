"""MarginMSELoss: regress the student's score margin ``s(q, p) - s(q, n)`` onto a teacher's margin.

References:
    - Hofstätter et al., 2020, "Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge
      Distillation", arXiv:2010.02666.
    - sentence-transformers ``sentence_transformer/losses/margin_mse.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import embed_columns
from embedkit.util import pairwise_dot_score
from embedkit.util.misc import similarity_fct_name


class MarginMSELoss(nn.Module):
    """``MSE(s(q, p) - s(q, n_k), label_k)`` over the K negative columns.

    Labels are the teacher margins, (B,) for one negative or (B, K); or the raw teacher scores (B, K + 1) with the
    positive first, which are turned into margins ``t_p - t_{n_k}``.

    Args:
        model: The student SentenceTransformer.
        similarity_fct: ``(a (B, D), b (B, D)) -> (B,)`` pairwise score, default ``pairwise_dot_score``.

    Inputs:
        +--------------------------------------------------+----------------------------------------------+
        | Texts                                            | Labels                                       |
        +==================================================+==============================================+
        | (query, positive, negative)                      | teacher margin (B,)                          |
        +--------------------------------------------------+----------------------------------------------+
        | (query, positive, negative_1, ..., negative_K)   | margins (B, K) or raw scores (B, K + 1)      |
        +--------------------------------------------------+----------------------------------------------+

    Example:
        >>> import torch
        >>> loss = MarginMSELoss(None)
        >>> q = torch.tensor([[1.0, 0.0]]); p = torch.tensor([[2.0, 0.0]]); n = torch.tensor([[0.5, 0.0]])
        >>> loss.compute_loss_from_embeddings([q, p, n], torch.tensor([1.5])).item()  # margin 2 - 0.5 = 1.5
        0.0
    """

    def __init__(self, model: nn.Module | None,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.loss_fct = nn.MSELoss()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [query, positive, negative_1, ...] each (B, D); ``labels`` as above."""
        query, positive, negatives = embeddings[0], embeddings[1], embeddings[2:]
        batch_size, n_neg = query.shape[0], len(negatives)
        if labels.shape == (batch_size, n_neg + 1):  # raw teacher scores -> margins
            labels = labels[:, :1] - labels[:, 1:]
        if labels.shape == (batch_size,):
            labels = labels.unsqueeze(1)
        if labels.shape != (batch_size, n_neg):
            raise ValueError(f"labels must have shape {(batch_size, n_neg)} (margins) or {(batch_size, n_neg + 1)} "
                             f"(raw teacher scores), got {tuple(labels.shape)}")
        scores_pos = self.similarity_fct(query, positive)  # (B,)
        margins = torch.stack([scores_pos - self.similarity_fct(query, neg) for neg in negatives], dim=1)  # (B, K)
        return self.loss_fct(margins, labels.detach())

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity_fct": similarity_fct_name(self.similarity_fct)}

    @property
    def citation(self) -> str:
        return """
@misc{hofstätter2021improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofstätter and Sophia Althammer and Michael Schröder and Mete Sertkan and Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""
