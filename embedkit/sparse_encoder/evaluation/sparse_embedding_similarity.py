"""SparseEmbeddingSimilarityEvaluator: EmbeddingSimilarityEvaluator on sparse embeddings, plus sparsity keys."""

from __future__ import annotations

from typing import Any, Literal

from embedkit.sentence_transformer.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin
from embedkit.util import SimilarityFunction


class SparseEmbeddingSimilarityEvaluator(SparsityStatsMixin, EmbeddingSimilarityEvaluator):
    """Pearson/Spearman of gold scores vs. sparse-embedding similarities (default: the model's ``dot``), plus
    ``active_dims`` and ``sparsity_ratio`` (mean over the two sides); primary ``spearman_{fn}``.

    Args:
        sentences1 / sentences2 / scores / batch_size / main_similarity / similarity_fn_names / name /
            show_progress_bar / write_csv: as
            :class:`embedkit.sentence_transformer.evaluation.EmbeddingSimilarityEvaluator`.
        max_active_dims: keep at most this many non-zero values per embedding (None: the model's setting).

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sparse_encoder import SparseEncoder
        >>> from embedkit.sparse_encoder.modules import SparseStaticEmbedding
        >>> model = SparseEncoder(modules=[SparseStaticEmbedding(default_model_path())], device="cpu")
        >>> evaluator = SparseEmbeddingSimilarityEvaluator(["a cat", "a dog", "rain"], ["a kitten", "a car", "snow"],
        ...                                                [0.9, 0.2, 0.5], name="toy")
        >>> sorted(evaluator(model))
        ['toy_active_dims', 'toy_pearson_dot', 'toy_sparsity_ratio', 'toy_spearman_dot']
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        scores: list[float],
        batch_size: int = 16,
        main_similarity: str | SimilarityFunction | None = None,
        similarity_fn_names: list[Literal["cosine", "euclidean", "manhattan", "dot"]] | None = None,
        name: str = "",
        show_progress_bar: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
    ) -> None:
        self._init_sparse(max_active_dims)
        super().__init__(sentences1, sentences2, scores, batch_size=batch_size, main_similarity=main_similarity,
                         similarity_fn_names=similarity_fn_names, name=name, show_progress_bar=show_progress_bar,
                         write_csv=write_csv, precision=None)

    def _append_csv_headers(self, fn_names: list[str]) -> None:
        super()._append_csv_headers(fn_names)
        if fn_names:
            self.csv_headers += ["active_dims", "sparsity_ratio"]

    def embed_inputs(self, model: Any, sentences: list[str], **kwargs: Any) -> Any:
        embeddings = self._encode_sparse(model, sentences, **kwargs)
        self._record_sparsity(model, embeddings)
        return embeddings

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        self._init_sparse(self.max_active_dims)
        metrics = super().__call__(model, output_path=output_path, epoch=epoch, steps=steps)
        return self._add_sparsity_metrics(model, metrics, output_path, epoch, steps)

    def get_config_dict(self) -> dict[str, Any]:
        return self._sparse_config(super().get_config_dict())
