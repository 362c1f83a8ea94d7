"""DistillKLDivLoss: KL divergence between the teacher's and the student's softmax over candidate documents.

References:
    - Lin, Yang & Lin, 2020, "Distilling Dense Representations for Ranking using Tightly-Coupled Teachers",
      arXiv:2010.11386; Hinton et al., 2015, "Distilling the Knowledge in a Neural Network" (temperature, T^2).
    - sentence-transformers ``sentence_transformer/losses/distill_kl_div.py`` (v6.2).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import embed_columns
from embedkit.util import pairwise_dot_score
from embedkit.util.misc import similarity_fct_name

logger = logging.getLogger(__name__)


def check_teacher_scores(teacher_probs: Tensor, teacher_scores: Tensor, temperature: float, loss_name: str) -> None:
    """Raise on NaN teacher scores; warn when the teacher softmax underflows to exact zeros (temperature too low)."""
    scores = teacher_scores.detach().float()
    if scores.isnan().any():
        raise ValueError(f"{loss_name}: the teacher scores contain NaN, so the loss and all gradients would be NaN")
    if scores.isinf().any():  # -inf marks a candidate excluded on purpose
        return
    collapsed = int((teacher_probs == 0).sum())
    if collapsed:
        spread = (scores.max(dim=-1).values - scores.min(dim=-1).values).max().item()
        logger.warning(
            f"{loss_name}: teacher_temperature={temperature} underflows {collapsed} of {teacher_probs.numel()} "
            f"teacher scores to exactly zero, so those candidates carry no gradient. The widest candidate row spans "
            f"{spread:.1f}, and a float32 softmax underflows once a row's spread divided by the temperature exceeds "
            f"about 100. Raise teacher_temperature above {spread / 100:.3g}."
        )


class DistillKLDivLoss(nn.Module):
    """``KL(softmax(teacher / T_t) || softmax(student / T_s)) * T_s^2``, batch-mean.

    Student scores are ``similarity_fct(query, candidate_k)`` for every candidate column; labels are the teacher's
    scores for the same candidates.

    Args:
        model: The student SentenceTransformer.
        similarity_fct: ``(a (B, D), b (B, D)) -> (B,)`` pairwise score, default ``pairwise_dot_score``.
        temperature: Default for both temperatures.
        student_temperature: Temperature of the student softmax (default ``temperature``).
        teacher_temperature: Temperature of the teacher softmax (default ``temperature``).

    Inputs:
        +------------------------------------------------+---------------------------+
        | Texts                                          | Labels                    |
        +================================================+===========================+
        | (query, positive, negative_1, ..., negative_n) | teacher scores (B, 1 + n) |
        +------------------------------------------------+---------------------------+

    Example:
        >>> import torch
        >>> loss = DistillKLDivLoss(None)
        >>> q = torch.tensor([[1.0, 0.0]]); p = torch.tensor([[2.0, 0.0]]); n = torch.tensor([[1.0, 0.0]])
        >>> loss.compute_loss_from_embeddings([q, p, n], torch.tensor([[2.0, 1.0]])).abs().item() < 1e-6
        True
    """

    def __init__(self, model: nn.Module | None,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score, temperature: float = 1.0,
                 student_temperature: float | None = None, teacher_temperature: float | None = None) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.temperature = temperature
        self.student_temperature = student_temperature if student_temperature is not None else temperature
        self.teacher_temperature = teacher_temperature if teacher_temperature is not None else temperature
        for name in ("temperature", "student_temperature", "teacher_temperature"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        self.loss_fct = nn.KLDivLoss(reduction="batchmean")
        self._checked_teacher_scale = False

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [query, candidate_1, ..., candidate_N] each (B, D); ``labels`` (B, N)."""
        if len(embeddings) < 3:
            raise ValueError(f"{type(self).__name__} expects at least 3 columns (query, positive, negative_1, ...), "
                             f"but got {len(embeddings)}: a softmax over one candidate is constant, so the loss and "
                             "its gradient would be zero. Add at least a second candidate column.")
        query, candidates = embeddings[0], embeddings[1:]
        batch_size, n_ways = query.size(0), len(candidates)
        if labels.shape != (batch_size, n_ways):
            raise ValueError(f"{type(self).__name__} expects teacher scores of shape (batch_size, N) = "
                             f"({batch_size}, {n_ways}) for N candidate columns, but got {tuple(labels.shape)}.")
        student = torch.stack([self.similarity_fct(query, c) for c in candidates], dim=1)  # (B, N)
        student_log_probs = torch.log_softmax(student / self.student_temperature, dim=1)
        teacher_probs = torch.softmax(labels.detach() / self.teacher_temperature, dim=1)  # (B, N)
        if not self._checked_teacher_scale:
            self._checked_teacher_scale = True
            check_teacher_scores(teacher_probs, labels, self.teacher_temperature, type(self).__name__)
        return self.loss_fct(student_log_probs, teacher_probs) * self.student_temperature**2

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"similarity_fct": similarity_fct_name(self.similarity_fct),
                                  "temperature": self.temperature}
        if self.student_temperature != self.temperature:
            config["student_temperature"] = self.student_temperature
        if self.teacher_temperature != self.temperature:
            config["teacher_temperature"] = self.teacher_temperature
        return config

    @property
    def citation(self) -> str:
        return """
@misc{lin2020distillingdenserepresentationsranking,
      title={Distilling Dense Representations for Ranking using Tightly-Coupled Teachers},
      author={Sheng-Chieh Lin and Jheng-Hong Yang and Jimmy Lin},
      year={2020},
      eprint={2010.11386},
      archivePrefix={arXiv},
      primaryClass={cs.IR},
      url={https://arxiv.org/abs/2010.11386},
}
"""
