"""CachedMultipleNegativesSymmetricRankingLoss: the symmetric MNRL (query->doc and doc->query) with GradCache."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from embedkit.util import cos_sim


class CachedMultipleNegativesSymmetricRankingLoss(CachedMultipleNegativesRankingLoss):
    """Cached MNRL with ``directions=("query_to_doc", "doc_to_query")`` and ``partition_mode="per_direction"``.

    Inputs:
        (anchor, positive) pairs; no labels.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = CachedMultipleNegativesSymmetricRankingLoss(model, mini_batch_size=2)
        >>> loss([model.preprocess(["a", "b"]), model.preprocess(["c", "d"])], None).item() > 0
        True
    """

    def __init__(self, model: nn.Module, scale: float = 20.0,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim, mini_batch_size: int = 32,
                 mini_batch_num_tokens: int | None = None,
                 gather_across_devices: bool = False, show_progress_bar: bool = False) -> None:
        super().__init__(model, scale=scale, similarity_fct=similarity_fct, mini_batch_size=mini_batch_size,
                         mini_batch_num_tokens=mini_batch_num_tokens, gather_across_devices=gather_across_devices,
                         directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction",
                         show_progress_bar=show_progress_bar)
