"""SparseNanoBEIREvaluator: NanoBEIREvaluator (local BEIR folders, nothing downloaded) with sparse retrieval."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from embedkit.sentence_transformer.evaluation.nano_beir import NanoBEIREvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin, check_max_active_dims
from embedkit.sparse_encoder.evaluation.sparse_information_retrieval import SparseInformationRetrievalEvaluator
from embedkit.util import SimilarityFunction


class SparseNanoBEIREvaluator(SparsityStatsMixin, NanoBEIREvaluator):
    """:class:`SparseInformationRetrievalEvaluator` on several local BEIR folders and the aggregate; primary
    ``NanoBEIR_{aggregate_key}_{fn}_ndcg@{max(ndcg_at_k)}`` (``fn`` defaults to the model's ``dot``).

    Besides every per-dataset key and the aggregated IR metrics it reports, like sentence-transformers,
    ``NanoBEIR_mean_{query,corpus}_{active_dims,sparsity_ratio}`` (averages weighted by the number of queries /
    documents of each dataset) and ``NanoBEIR_mean_avg_flops`` (from the count vectors summed over all datasets).
    With ``max_active_dims`` the evaluator and dataset names get a ``_{max_active_dims}`` suffix.

    Args:
        dataset_names / dataset_folders / dataset_id / mrr_at_k / ndcg_at_k / accuracy_at_k /
            precision_recall_at_k / map_at_k / show_progress_bar / batch_size / write_csv / score_functions /
            main_score_function / aggregate_fn / aggregate_key / query_prompts / corpus_prompts / write_predictions /
            split / include_title: as :class:`embedkit.sentence_transformer.evaluation.NanoBEIREvaluator`.
        max_active_dims: keep at most this many non-zero values per embedding (None: the model's setting).
    """

    information_retrieval_class = SparseInformationRetrievalEvaluator

    def __init__(
        self,
        dataset_names: list[str] | None = None,
        dataset_folders: dict[str, str | os.PathLike] | str | os.PathLike | None = None,
        dataset_id: str = "sentence-transformers/NanoBEIR-en",
        mrr_at_k: list[int] = [10],  # noqa: B006  (ST's defaults; never mutated)
        ndcg_at_k: list[int] = [10],  # noqa: B006
        accuracy_at_k: list[int] = [1, 3, 5, 10],  # noqa: B006
        precision_recall_at_k: list[int] = [1, 3, 5, 10],  # noqa: B006
        map_at_k: list[int] = [100],  # noqa: B006
        show_progress_bar: bool = False,
        batch_size: int = 32,
        write_csv: bool = True,
        max_active_dims: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        aggregate_fn: Callable[[list[float]], float] = np.mean,
        aggregate_key: str = "mean",
        query_prompts: str | dict[str, str] | None = None,
        corpus_prompts: str | dict[str, str] | None = None,
        write_predictions: bool = False,
        split: str = "test",
        include_title: bool = False,
    ) -> None:
        check_max_active_dims(max_active_dims)
        self.max_active_dims = max_active_dims
        self.sparsity_stats: Any = {}
        super().__init__(dataset_names, dataset_folders, dataset_id=dataset_id, mrr_at_k=mrr_at_k,
                         ndcg_at_k=ndcg_at_k, accuracy_at_k=accuracy_at_k,
                         precision_recall_at_k=precision_recall_at_k, map_at_k=map_at_k,
                         show_progress_bar=show_progress_bar, batch_size=batch_size, write_csv=write_csv,
                         score_functions=score_functions, main_score_function=main_score_function,
                         aggregate_fn=aggregate_fn, aggregate_key=aggregate_key, query_prompts=query_prompts,
                         corpus_prompts=corpus_prompts, write_predictions=write_predictions, split=split,
                         include_title=include_title)
        if max_active_dims is not None:
            self.name += f"_{max_active_dims}"

    def _get_human_readable_name(self, dataset_name: str) -> str:
        name = super()._get_human_readable_name(dataset_name)
        return name + (f"_{self.max_active_dims}" if self.max_active_dims is not None else "")

    def _load_dataset(self, dataset_name: str, folder: Path, split: str, include_title: bool,
                      **ir_kwargs: Any) -> SparseInformationRetrievalEvaluator:
        ir_kwargs.pop("truncate_dim", None)
        ir_kwargs["max_active_dims"] = self.max_active_dims
        return super()._load_dataset(dataset_name, folder, split, include_title, **ir_kwargs)

    def _append_csv_headers(self, names: list[str]) -> None:
        super()._append_csv_headers(names)
        if names:
            self.csv_headers += ["query_active_dims", "query_sparsity_ratio", "corpus_active_dims",
                                 "corpus_sparsity_ratio", "avg_flops"]

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1,
                 *args: Any, **kwargs: Any) -> dict[str, float]:
        results = super().__call__(model, output_path, epoch, steps, *args, **kwargs)
        lengths = {"query": [len(e.queries) for e in self.evaluators],
                   "corpus": [len(e.corpus) for e in self.evaluators]}
        stats: dict[str, float] = {}
        for key in self.evaluators[0].sparsity_stats:
            if key != "avg_flops":
                weights = lengths[key.split("_")[0]]
                values = [e.sparsity_stats[key] for e in self.evaluators]
                stats[key] = sum(v * n for v, n in zip(values, weights)) / sum(weights)
        query_counts = sum(e.count_vectors["query"] for e in self.evaluators)
        corpus_counts = sum(e.count_vectors["corpus"] for e in self.evaluators)
        stats["avg_flops"] = float(torch.dot(query_counts / sum(lengths["query"]),
                                             corpus_counts / sum(lengths["corpus"])))
        return self._add_sparsity_metrics(model, results, output_path, epoch, steps, stats)

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config
