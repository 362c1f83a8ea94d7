"""SparseInformationRetrievalEvaluator: InformationRetrievalEvaluator on sparse embeddings, plus sparsity keys and
``avg_flops``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from embedkit.sentence_transformer.evaluation.information_retrieval import InformationRetrievalEvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin
from embedkit.util import SimilarityFunction


def count_vector(embeddings: Tensor) -> Tensor:
    """(V,) int32: how many rows of a (N, V) (or one (V,)) embedding are non-zero in each dimension."""
    sparse = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    columns = sparse.indices()[-1]
    return torch.bincount(columns, minlength=sparse.shape[-1]).to(torch.int32)


class SparseInformationRetrievalEvaluator(SparsityStatsMixin, InformationRetrievalEvaluator):
    """Retrieval metrics with sparse embeddings (default score function: the model's ``dot``), plus
    ``query_active_dims``, ``query_sparsity_ratio``, ``corpus_active_dims``, ``corpus_sparsity_ratio`` and
    ``avg_flops`` (dot product of the mean query and mean document "non-zero" count vectors: the expected number of
    multiplications per query-document pair); primary ``{fn}_ndcg@{max(ndcg_at_k)}``.

    Query statistics are the mean over query embedding calls, corpus statistics the mean over corpus chunks
    weighted by chunk size (as in sentence-transformers).

    Args:
        queries / corpus / relevant_docs / corpus_chunk_size / mrr_at_k / ndcg_at_k / accuracy_at_k /
            precision_recall_at_k / map_at_k / show_progress_bar / batch_size / name / write_csv /
            score_functions / main_score_function / query_prompt / query_prompt_name / corpus_prompt /
            corpus_prompt_name / write_predictions: as
            :class:`embedkit.sentence_transformer.evaluation.InformationRetrievalEvaluator`.
        max_active_dims: keep at most this many non-zero values per embedding (None: the model's setting).
    """

    def __init__(
        self,
        queries: dict[str, str],
        corpus: dict[str, str],
        relevant_docs: dict[str, set[str]],
        corpus_chunk_size: int = 50000,
        mrr_at_k: list[int] = [10],  # noqa: B006  (ST's defaults; never mutated)
        ndcg_at_k: list[int] = [10],  # noqa: B006
        accuracy_at_k: list[int] = [1, 3, 5, 10],  # noqa: B006
        precision_recall_at_k: list[int] = [1, 3, 5, 10],  # noqa: B006
        map_at_k: list[int] = [100],  # noqa: B006
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        max_active_dims: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        write_predictions: bool = False,
    ) -> None:
        self._init_sparse(max_active_dims)
        self._reset_counts()
        super().__init__(queries, corpus, relevant_docs, corpus_chunk_size=corpus_chunk_size, mrr_at_k=mrr_at_k,
                         ndcg_at_k=ndcg_at_k, accuracy_at_k=accuracy_at_k,
                         precision_recall_at_k=precision_recall_at_k, map_at_k=map_at_k,
                         show_progress_bar=show_progress_bar, batch_size=batch_size, name=name, write_csv=write_csv,
                         score_functions=score_functions, main_score_function=main_score_function,
                         query_prompt=query_prompt, query_prompt_name=query_prompt_name, corpus_prompt=corpus_prompt,
                         corpus_prompt_name=corpus_prompt_name, write_predictions=write_predictions)

    def _reset_counts(self) -> None:
        self.sparsity_stats = {"query": defaultdict(list), "corpus": defaultdict(list)}
        self.count_vectors: dict[str, Tensor] = {}
        self.count_lengths: dict[str, list[int]] = {"query": [], "corpus": []}

    def _append_csv_headers(self, names: list[str]) -> None:
        super()._append_csv_headers(names)
        if names:
            self.csv_headers += ["query_active_dims", "query_sparsity_ratio", "corpus_active_dims",
                                 "corpus_sparsity_ratio", "avg_flops"]

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1,
                 *args: Any, **kwargs: Any) -> dict[str, float]:
        self._reset_counts()
        metrics = super().__call__(model, output_path, epoch, steps, *args, **kwargs)
        stats: dict[str, float] = {}
        for prefix in ("query", "corpus"):
            for key, values in self.sparsity_stats[prefix].items():
                if prefix == "query":
                    stats[f"{prefix}_{key}"] = sum(values) / len(values)
                else:
                    lengths = self.count_lengths[prefix]
                    stats[f"{prefix}_{key}"] = sum(v * n for v, n in zip(values, lengths)) / sum(lengths)
        stats["avg_flops"] = self._calculate_avg_flops()
        return self._add_sparsity_metrics(model, metrics, output_path, epoch, steps, stats)

    def compute_all_metrics(self, model: Any, corpus_model: Any = None, corpus_embeddings: Tensor | None = None,
                            output_path: str | None = None) -> dict[str, dict[str, dict[int, float]]]:
        if corpus_embeddings is not None:  # precomputed: record their statistics once, as one chunk
            corpus_embeddings = corpus_embeddings.cpu()
            self._record(corpus_model if corpus_model is not None else model, corpus_embeddings, "corpus")
        return super().compute_all_metrics(model, corpus_model=corpus_model, corpus_embeddings=corpus_embeddings,
                                           output_path=output_path)

    def embed_inputs(self, model: Any, sentences: list[str], encode_fn_name: str | None = None,
                     prompt_name: str | None = None, prompt: str | None = None, **kwargs: Any) -> Tensor:
        embeddings = self._encode_sparse(model, sentences, encode_fn_name, prompt_name=prompt_name, prompt=prompt,
                                         **kwargs)
        self._record(model, embeddings, "corpus" if encode_fn_name == "document" else "query")
        return embeddings

    def _record(self, model: Any, embeddings: Tensor, prefix: str) -> None:
        for key, value in model.sparsity(embeddings).items():
            self.sparsity_stats[prefix][key].append(value)
        counts = count_vector(embeddings)
        self.count_vectors[prefix] = self.count_vectors[prefix] + counts if prefix in self.count_vectors else counts
        self.count_lengths[prefix].append(len(embeddings))

    def _calculate_avg_flops(self) -> float:
        """``mean query count vector . mean document count vector`` (0.0 when either side is missing)."""
        if "query" not in self.count_vectors or "corpus" not in self.count_vectors:
            return 0.0
        avg_query = self.count_vectors["query"] / sum(self.count_lengths["query"])
        avg_corpus = self.count_vectors["corpus"] / sum(self.count_lengths["corpus"])
        return float(torch.dot(avg_query, avg_corpus))

    def get_config_dict(self) -> dict[str, Any]:
        return self._sparse_config(super().get_config_dict())
