"""ADRMSELoss: approximate-discounted-rank MSE between each document's true rank and a differentiable rank.

The approximate rank of document i is ``1 + sum_{j != i} sigmoid(alpha * (s_j - s_i))`` (ApproxRank); the true
rank comes from the labels, with tied documents sharing their average rank. The loss is
``sum_i (r_i - approx_i)^2 / log2(1 + r_i)`` over all real documents, divided by their number.

References:
    - Schlatt et al., 2025, "Rank-DistiLLM: Closing the Effectiveness Gap Between Cross-Encoders and LLMs for
      Passage Re-ranking", ECIR.
    - sentence-transformers ``cross_encoder/losses/adr_mse.py`` (v6.2).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, score_lists
from embedkit.cross_encoder.model import CrossEncoder


def approximate_ranks(scores: Tensor, mask: Tensor, alpha: float) -> Tensor:
    """ApproxRank (B, N): ``1 + sum_{j valid, j != i} sigmoid(alpha * (s_j - s_i))``."""
    beats = torch.sigmoid(alpha * (scores[:, None, :] - scores[:, :, None]))  # (B, i, j): s_j - s_i
    beats = beats * mask[:, None, :]
    return 1.0 + beats.sum(dim=2) - 0.5 * mask  # the self term j = i adds sigmoid(0) = 0.5


def adr_mse_loss(logits: Tensor, labels: Tensor, mask: Tensor, alpha: float) -> Tensor:
    """Shapes: ``logits``, ``labels``, ``mask`` (B, N)."""
    valid_j = mask[:, None, :]
    higher = ((labels[:, None, :] > labels[:, :, None]) & valid_j).sum(dim=2)  # (B, N)
    tied = ((labels[:, None, :] == labels[:, :, None]) & valid_j).sum(dim=2)  # includes i itself
    true_ranks = higher + (tied + 1.0) / 2.0
    error = (true_ranks - approximate_ranks(logits, mask, alpha)) ** 2
    per_doc = error / torch.log2(true_ranks + 1.0)
    return (per_doc * mask).sum() / mask.sum()


class ADRMSELoss(nn.Module):
    """ADR-MSE for a one-label CrossEncoder over ranked lists of any lengths.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        alpha: sharpness of the sigmoid in the approximate rank.
        activation_fn: applied to the logits first (default Identity).
        mini_batch_size: pairs scored per forward pass (default: as many as there are queries).

    Inputs:
        +----------------------------------------+--------------------------------+
        | Texts                                  | Labels                         |
        +========================================+================================+
        | (query, [doc_1, ..., doc_n])           | [score_1, ..., score_n]        |
        +----------------------------------------+--------------------------------+

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> ADRMSELoss(model)([["q1", "q2"], [["d1", "d2", "d3"], ["e1", "e2"]]], [[3.0, 1.0, 2.0], [0.0, 1.0]]
        ...                   ).backward()
    """

    def __init__(self, model: CrossEncoder, alpha: float = 1.0, activation_fn: nn.Module | None = nn.Identity(),
                 mini_batch_size: int | None = None) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.alpha = alpha
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size

    def approximate_ranks(self, scores: Tensor, mask: Tensor) -> Tensor:
        return approximate_ranks(scores, mask, self.alpha)

    def forward(self, inputs: list[Any], labels: list[Tensor] | Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        logits, label_matrix, mask = score_lists(self.model, inputs, labels, self.mini_batch_size,
                                                 self.activation_fn, type(self).__name__, prompt=prompt, task=task)
        return adr_mse_loss(logits, label_matrix, mask, self.alpha)

    def get_config_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "activation_fn": fullname(self.activation_fn),
                "mini_batch_size": self.mini_batch_size}

    @property
    def citation(self) -> str:
        return """
@inproceedings{schlatt2025rankdistillm,
    title={Rank-DistiLLM: Closing the Effectiveness Gap Between Cross-Encoders and LLMs for Passage Re-ranking},
    author={Schlatt, Ferdinand and Fröbe, Maik and Scells, Harrisen and Zhuang, Shengyao and Koopman, Bevan and Zuccon, Guido and Stein, Benno and Potthast, Martin and Hagen, Matthias},
    booktitle={Advances in Information Retrieval (ECIR 2025)},
    year={2025},
    doi={10.1007/978-3-031-88714-7_31},
}
"""  # noqa: E501
