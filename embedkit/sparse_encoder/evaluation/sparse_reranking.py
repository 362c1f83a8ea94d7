"""SparseRerankingEvaluator: RerankingEvaluator on sparse embeddings, plus query/corpus sparsity keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from embedkit.sentence_transformer.evaluation.reranking import RerankingEvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin
from embedkit.util import cos_sim


class SparseRerankingEvaluator(SparsityStatsMixin, RerankingEvaluator):
    """MAP, MRR@k and NDCG@k of reranking each sample's positives and negatives by sparse-embedding similarity,
    plus ``query_``/``corpus_`` ``active_dims`` and ``sparsity_ratio`` (means over embedding calls); primary
    ``ndcg@{at_k}``.

    ``similarity_fct`` defaults to cosine similarity, as in sentence-transformers' SparseRerankingEvaluator (pass
    ``embedkit.util.dot_score`` to rank by the SPLADE dot product).

    Args:
        samples / at_k / name / write_csv / similarity_fct / batch_size / show_progress_bar /
            use_batched_encoding / mrr_at_k: as :class:`embedkit.sentence_transformer.evaluation.RerankingEvaluator`.
        max_active_dims: keep at most this many non-zero values per embedding (None: the model's setting).
    """

    def __init__(
        self,
        samples: list[dict[str, Any]],
        at_k: int = 10,
        name: str = "",
        write_csv: bool = True,
        similarity_fct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cos_sim,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        use_batched_encoding: bool = True,
        max_active_dims: int | None = None,
        mrr_at_k: int | None = None,
    ) -> None:
        self._init_sparse(max_active_dims)
        super().__init__(samples, at_k=at_k, name=name, write_csv=write_csv, similarity_fct=similarity_fct,
                         batch_size=batch_size, show_progress_bar=show_progress_bar,
                         use_batched_encoding=use_batched_encoding, mrr_at_k=mrr_at_k)
        self.csv_headers += ["query_active_dims", "query_sparsity_ratio", "corpus_active_dims",
                             "corpus_sparsity_ratio"]

    def embed_inputs(self, model: Any, sentences: list[str], encode_fn_name: str | None = None,
                     show_progress_bar: bool | None = None, **kwargs: Any) -> list[torch.Tensor]:
        embeddings = self._encode_sparse(model, sentences, encode_fn_name, show_progress_bar=show_progress_bar,
                                         convert_to_tensor=False, **kwargs)
        prefix = "corpus_" if encode_fn_name == "document" else "query_"
        self._record_sparsity(model, torch.stack(embeddings), prefix)
        return embeddings

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        self._init_sparse(self.max_active_dims)
        metrics = super().__call__(model, output_path=output_path, epoch=epoch, steps=steps)
        return self._add_sparsity_metrics(model, metrics, output_path, epoch, steps)

    def get_config_dict(self) -> dict[str, Any]:
        return self._sparse_config(super().get_config_dict())
