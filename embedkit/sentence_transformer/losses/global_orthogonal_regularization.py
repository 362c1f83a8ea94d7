"""GlobalOrthogonalRegularizationLoss: spread embeddings out so unrelated texts are near-orthogonal.

Returns a dict of named components (``gor_mean``, ``gor_second_moment``); the trainer sums them and logs each.
Usually added to a main loss such as MultipleNegativesRankingLoss.

References:
    - Zhang et al., 2017, "Learning Spread-out Local Feature Descriptors", arXiv:1708.06320.
    - sentence-transformers ``sentence_transformer/losses/global_orthogonal_regularization.py`` (v6.2, added 5.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import embed_columns
from embedkit.util import cos_sim

VALID_AGGREGATIONS = ("mean", "sum")


class GlobalOrthogonalRegularizationLoss(nn.Module):
    """Per input column, over the off-diagonal similarities ``s_ij`` of the batch: ``M1 = mean(s)`` and
    ``M2 = mean(s^2)``; components ``mean_weight * M1^2`` and ``second_moment_weight * relu(M2 - 1/D)``, each
    aggregated (mean or sum) over columns.

    Args:
        model: The SentenceTransformer to train.
        similarity_fct: ``(a (n, D), b (m, D)) -> (n, m)`` similarity, default ``cos_sim``.
        mean_weight: Weight of the first-moment term (0/None drops it).
        second_moment_weight: Weight of the second-moment term (0/None drops it).
        aggregation: ``"mean"`` or ``"sum"`` over input columns.

    Inputs:
        +------------------------+--------+
        | Texts                  | Labels |
        +========================+========+
        | any number of columns  | none   |
        +------------------------+--------+

    Example:
        >>> import torch
        >>> loss = GlobalOrthogonalRegularizationLoss(None)
        >>> out = loss.compute_loss_from_embeddings([torch.eye(4)])
        >>> {k: v.item() for k, v in out.items()}
        {'gor_mean': 0.0, 'gor_second_moment': 0.0}
    """

    def __init__(self, model: nn.Module | None, similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
                 mean_weight: float | None = 1.0, second_moment_weight: float | None = 1.0,
                 aggregation: Literal["mean", "sum"] = "mean") -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.mean_weight = mean_weight
        self.second_moment_weight = second_moment_weight
        if not mean_weight and not second_moment_weight:
            raise ValueError(f"at least one of mean_weight and second_moment_weight must be non-zero, got "
                             f"{mean_weight!r} and {second_moment_weight!r}")
        if aggregation not in VALID_AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {VALID_AGGREGATIONS}, got {aggregation!r}")
        self.aggregation = aggregation

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
                ) -> dict[str, Tensor]:
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features))

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None
                                     ) -> dict[str, Tensor]:
        """Args: one (B, D) tensor per column. Returns ``{"gor_mean": ..., "gor_second_moment": ...}``."""
        mean_terms, second_terms = zip(*[self.compute_gor(e) for e in embeddings])
        reduce = torch.sum if self.aggregation == "sum" else torch.mean
        out = {}
        if self.mean_weight:
            out["gor_mean"] = self.mean_weight * reduce(torch.stack(mean_terms))
        if self.second_moment_weight:
            out["gor_second_moment"] = self.second_moment_weight * reduce(torch.stack(second_terms))
        return out

    def compute_gor(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        """(B, D) -> (M1^2, relu(M2 - 1/D)) over the B * (B - 1) off-diagonal similarities."""
        batch_size, dim = embeddings.shape
        sims = self.similarity_fct(embeddings, embeddings)  # (B, B)
        sims = sims * (1 - torch.eye(batch_size, device=sims.device, dtype=sims.dtype))  # drop self-similarity
        pairs = max(batch_size * (batch_size - 1), 1)
        mean_term = (sims.sum() / pairs).pow(2)
        second_term = torch.relu(sims.pow(2).sum() / pairs - 1.0 / dim)
        return mean_term, second_term

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity_fct": self.similarity_fct.__name__, "mean_weight": self.mean_weight,
                "second_moment_weight": self.second_moment_weight, "aggregation": self.aggregation}

    @property
    def citation(self) -> str:
        return """
@misc{zhang2017learningspreadoutlocalfeature,
      title={Learning Spread-out Local Feature Descriptors},
      author={Xu Zhang and Felix X. Yu and Sanjiv Kumar and Shih-Fu Chang},
      year={2017},
      eprint={1708.06320},
      archivePrefix={arXiv},
      primaryClass={cs.CV},
      url={https://arxiv.org/abs/1708.06320},
}
"""
