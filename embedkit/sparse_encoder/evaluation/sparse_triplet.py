"""SparseTripletEvaluator: TripletEvaluator on sparse embeddings, plus per-column sparsity keys."""

from __future__ import annotations

from typing import Any, Literal

from embedkit.sentence_transformer.evaluation.triplet import TripletEvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin
from embedkit.util import SimilarityFunction

_COLUMNS = ("anchor", "positive", "negative")


class SparseTripletEvaluator(SparsityStatsMixin, TripletEvaluator):
    """Share of triplets with ``sim(anchor, positive) > sim(anchor, negative) + margin`` on sparse embeddings
    (default: the model's ``dot``), plus ``{anchor,positive,negative}_{active_dims,sparsity_ratio}``; primary
    ``{fn}_accuracy`` (``max_accuracy`` for several functions without a main one).

    Args:
        anchors / positives / negatives / main_similarity_function / margin / name / batch_size /
            show_progress_bar / write_csv / similarity_fn_names: as
            :class:`embedkit.sentence_transformer.evaluation.TripletEvaluator`.
        max_active_dims: keep at most this many non-zero values per embedding (None: the model's setting).
        main_distance_function: accepted for sentence-transformers compatibility and ignored (deprecated there).
    """

    def __init__(
        self,
        anchors: list[str],
        positives: list[str],
        negatives: list[str],
        main_similarity_function: str | SimilarityFunction | None = None,
        margin: float | dict[str, float] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
        main_distance_function: str | SimilarityFunction | None = "deprecated",
    ) -> None:
        self._init_sparse(max_active_dims)
        super().__init__(anchors, positives, negatives, main_similarity_function=main_similarity_function,
                         margin=margin, name=name, batch_size=batch_size, show_progress_bar=show_progress_bar,
                         write_csv=write_csv, similarity_fn_names=similarity_fn_names)

    def _append_csv_headers(self, fn_names: list[str]) -> None:
        super()._append_csv_headers(fn_names)
        if fn_names:
            self.csv_headers += [f"{column}_{key}" for column in _COLUMNS for key in ("active_dims", "sparsity_ratio")]

    def embed_inputs(self, model: Any, sentences: list[str], encode_fn_name: str | None = None,
                     **kwargs: Any) -> Any:
        embeddings = self._encode_sparse(model, sentences, encode_fn_name, **kwargs)
        # Called for anchors, positives, negatives in that order (two keys per call).
        self._record_sparsity(model, embeddings, f"{_COLUMNS[min(len(self.sparsity_stats) // 2, 2)]}_")
        return embeddings

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        self._init_sparse(self.max_active_dims)
        metrics = super().__call__(model, output_path=output_path, epoch=epoch, steps=steps)
        return self._add_sparsity_metrics(model, metrics, output_path, epoch, steps)

    def get_config_dict(self) -> dict[str, Any]:
        return self._sparse_config(super().get_config_dict())
