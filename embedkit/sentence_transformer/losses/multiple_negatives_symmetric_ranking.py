"""MultipleNegativesSymmetricRankingLoss: MNRL in both directions (query -> documents and document -> queries).

Deprecated in sentence-transformers 5.3 in favour of
``MultipleNegativesRankingLoss(directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")``,
which is exactly what this class builds; kept for code that uses the old name.

References:
    - Günther et al., 2023, "Jina Embeddings 2", arXiv:2310.19923.
    - sentence-transformers ``sentence_transformer/losses/multiple_negatives_symmetric_ranking.py`` (v6.2).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from embedkit.util import cos_sim


class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """Mean of the query->documents and positive->queries InfoNCE losses (each with its own softmax).

    Args:
        model: The SentenceTransformer to train.
        scale: Inverse temperature multiplying the similarities.
        similarity_fct: ``(a (n, D), b (m, D)) -> (n, m)`` similarity.
        gather_across_devices: Use the other ranks' rows as extra negatives.

    Inputs:
        +--------------------------------------+--------+
        | Texts                                | Labels |
        +======================================+========+
        | (anchor, positive) pairs             | none   |
        +--------------------------------------+--------+

    Example:
        >>> import torch, warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     loss = MultipleNegativesSymmetricRankingLoss(None)
        >>> loss.directions, loss.partition_mode
        (('query_to_doc', 'doc_to_query'), 'per_direction')
    """

    def __init__(
        self,
        model: nn.Module | None,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        gather_across_devices: bool = False,
    ) -> None:
        warnings.warn(
            "MultipleNegativesSymmetricRankingLoss is deprecated; use MultipleNegativesRankingLoss with "
            "directions=('query_to_doc', 'doc_to_query') and partition_mode='per_direction'",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )
