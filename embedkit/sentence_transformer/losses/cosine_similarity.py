"""CosineSimilarityLoss: regress the cosine similarity of a pair onto a gold score.

References:
    - Reimers & Gurevych, 2019, "Sentence-BERT", arXiv:1908.10084.
    - sentence-transformers ``sentence_transformer/losses/cosine_similarity.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import (
    check_one_label_per_row,
    embed_columns,
    refuse_nan_labels,
)
from embedkit.util.misc import fullname


class CosineSimilarityLoss(nn.Module):
    """``loss_fct(cos_score_transformation(cos(u, v)), label)``, by default the MSE to the gold score.

    Args:
        model: The SentenceTransformer to train.
        loss_fct: Criterion comparing predicted and gold scores (default ``nn.MSELoss()``).
        cos_score_transformation: Applied to the cosine scores first (default identity).

    Inputs:
        +--------------------------------+------------------------+
        | Texts                          | Labels                 |
        +================================+========================+
        | (sentence_A, sentence_B) pairs | float similarity score |
        +--------------------------------+------------------------+

    Example:
        >>> import torch
        >>> loss = CosineSimilarityLoss(None)
        >>> u = torch.tensor([[1.0, 0.0], [1.0, 0.0]]); v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> loss.compute_loss_from_embeddings([u, v], torch.tensor([1.0, 1.0])).item()
        0.5
    """

    def __init__(self, model: nn.Module | None, loss_fct: nn.Module = nn.MSELoss(),  # noqa: B008 (ST's defaults)
                 cos_score_transformation: nn.Module = nn.Identity()) -> None:  # noqa: B008
        super().__init__()
        self.model = model
        self.loss_fct = loss_fct
        self.cos_score_transformation = cos_score_transformation

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [u (B, D), v (B, D)], ``labels`` (B,) gold scores. Returns the scalar loss."""
        labels = check_one_label_per_row(self, embeddings[0].shape[0], labels)
        refuse_nan_labels(self, labels)
        scores = self.cos_score_transformation(torch.cosine_similarity(embeddings[0], embeddings[1]))  # (B,)
        return self.loss_fct(scores, labels.float())

    def get_config_dict(self) -> dict[str, Any]:
        return {"loss_fct": fullname(self.loss_fct),
                "cos_score_transformation": fullname(self.cos_score_transformation)}
