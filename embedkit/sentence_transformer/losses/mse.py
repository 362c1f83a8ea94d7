"""MSELoss: mean squared error between student embeddings and teacher embeddings (knowledge distillation).

Since sentence-transformers 6.x this is ``EmbedDistillLoss(distance_metric="mse")``; kept under its own name.

References:
    - Reimers & Gurevych, 2020, "Making Monolingual Sentence Embeddings Multilingual using Knowledge
      Distillation", arXiv:2004.09813.
    - sentence-transformers ``sentence_transformer/losses/mse.py`` (v6.2).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from embedkit.sentence_transformer.losses.embed_distill import EmbedDistillLoss


class MSELoss(EmbedDistillLoss):
    """``MSE(student(x), teacher_embedding)``, averaged over the input columns.

    Args:
        model: The student SentenceTransformer.
        projection_dim: Teacher embedding size if it differs from the student's (adds a trainable projection).

    Inputs:
        +-----------------------------+------------------------------------------------+
        | Texts                       | Labels                                         |
        +=============================+================================================+
        | sentence                    | teacher embedding (B, D_t)                     |
        +-----------------------------+------------------------------------------------+
        | sentence_1, ..., sentence_N | (B, D_t) shared, or (B, N, D_t) one per column |
        +-----------------------------+------------------------------------------------+

    Example:
        >>> import torch
        >>> loss = MSELoss(None)
        >>> loss.compute_loss_from_embeddings([torch.ones(2, 3)], [torch.zeros(2, 3)]).item()
        1.0
    """

    def __init__(self, model: nn.Module | None, projection_dim: int | None = None) -> None:
        super().__init__(model, distance_metric="mse", projection_dim=projection_dim)

    def get_config_dict(self) -> dict[str, Any]:
        return {"projection_dim": self.projection_dim}

    @property
    def citation(self) -> str:
        return """
@inproceedings{reimers-2020-multilingual-sentence-bert,
    title = "Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2020",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/2004.09813",
}
"""
