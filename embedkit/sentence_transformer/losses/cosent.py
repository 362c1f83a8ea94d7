"""CoSENTLoss: pairwise ranking loss over the similarity scores of all pairs in a batch.

References:
    - Su, 2022, "CoSENT" (blog, kexue.fm/archives/8847); Huang et al., 2024, "CoSENT: Consistent Sentence Embedding
      via Similarity Ranking", IEEE/ACM TASLP, doi:10.1109/TASLP.2024.3402087.
    - sentence-transformers ``sentence_transformer/losses/cosent.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import (
    check_one_label_per_row,
    embed_columns,
    refuse_nan_labels,
)
from embedkit.util import pairwise_cos_sim


def cosent_from_scores(scores: Tensor, labels: Tensor, scale: float) -> Tensor:
    """``log(1 + sum_{(i, j): label_i > label_j} exp(scale * (s_j - s_i)))`` for (B,) scores and labels.

    Computed in O(B log B): sort by label, and for each pair i take a log-sum-exp of ``-scale * s_j`` over every
    pair with a strictly higher label (a suffix of the sorted order) with ``logcumsumexp``. Runs in fp32 at least.
    """
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()
    scores = scores * scale
    if labels.dtype == torch.bool:
        labels = labels.int()
    labels, order = labels.sort()
    scores = scores[order]
    first_higher = torch.searchsorted(labels, labels, right=True)  # (B,) start of the strictly-higher suffix
    suffix = torch.logcumsumexp(-scores.flip(0), dim=0).flip(0)  # (B,) logsumexp of -s over [k, B)
    suffix = torch.cat((suffix, scores.new_full((1,), -torch.inf)))  # empty suffix -> -inf
    terms = scores + suffix[first_higher]  # (B,) log sum_j exp(s_i - s_j) over pairs where j ranks above i
    return torch.logsumexp(torch.cat((scores.new_zeros(1), terms)), dim=0)


class CoSENTLoss(nn.Module):
    """For every two pairs whose gold scores are ordered, penalise the model when its similarities are not.

    Args:
        model: The SentenceTransformer to train.
        scale: Inverse temperature on the similarities (sentence-transformers default 20).
        similarity_fct: ``(a (B, D), b (B, D)) -> (B,)`` pairwise similarity, default ``pairwise_cos_sim``.

    Inputs:
        +--------------------------------+------------------------+
        | Texts                          | Labels                 |
        +================================+========================+
        | (sentence_A, sentence_B) pairs | float similarity score |
        +--------------------------------+------------------------+

    Example:
        >>> import torch
        >>> loss = CoSENTLoss(None, scale=1.0)
        >>> u = torch.tensor([[1.0, 0.0], [1.0, 0.0]]); v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> round(loss.compute_loss_from_embeddings([u, v], torch.tensor([0.0, 1.0])).item(), 4)  # log(1 + e^1)
        1.3133
    """

    def __init__(self, model: nn.Module | None, scale: float = 20.0,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_cos_sim) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.scale = scale

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """Args: ``embeddings`` = [u (B, D), v (B, D)], ``labels`` (B,). Returns the scalar loss."""
        labels = check_one_label_per_row(self, embeddings[0].shape[0], labels)
        refuse_nan_labels(self, labels)
        scores = self.similarity_fct(embeddings[0], embeddings[1])  # (B,)
        if labels.shape != scores.shape:
            raise ValueError(f"labels and scores must have the same shape, got {labels.shape} and {scores.shape}")
        return cosent_from_scores(scores, labels, self.scale)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": self.similarity_fct.__name__}

    @property
    def citation(self) -> str:
        return """
@article{10531646,
    author={Huang, Xiang and Peng, Hao and Zou, Dongcheng and Liu, Zhiwei and Li, Jianxin and Liu, Kay and Wu, Jia and Su, Jianlin and Yu, Philip S.},
    journal={IEEE/ACM Transactions on Audio, Speech, and Language Processing},
    title={CoSENT: Consistent Sentence Embedding via Similarity Ranking},
    year={2024},
    doi={10.1109/TASLP.2024.3402087}
}
"""  # noqa: E501
