"""ReciprocalRankFusionEvaluator: fuse precomputed dense and sparse rankings with RRF and score all three.

The inputs are rankings, not models: ``dense_samples[i]`` and ``sparse_samples[i]`` hold the same ``query_id`` and
each a ``documents`` list, best first (e.g. the ``results`` of the ``*_predictions_*.jsonl`` files that
``InformationRetrievalEvaluator(write_predictions=True)`` writes); ``query`` and ``positive`` are read from the dense
sample. Fused score of a document: ``sum over the rankings containing it of 1 / (rrf_k + rank)`` (rank from 1);
ties keep dense-then-sparse first-appearance order. Metrics follow sentence-transformers 6.2 exactly: positives
missing from a ranking are appended after it (so they count as retrieved last), a ranking without any positive
scores 0, MAP is uncut average precision, MRR and NDCG are cut at ``at_k``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any

import numpy as np
from tqdm import tqdm

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text

logger = logging.getLogger(__name__)


class ReciprocalRankFusionEvaluator(SentenceEvaluator):
    """MAP, MRR@k and NDCG@k of the dense ranking (``dense_*``), the sparse ranking (``sparse_*``) and their
    reciprocal rank fusion (unprefixed); primary ``ndcg@{at_k}``.

    Args:
        dense_samples: per query ``{"query_id", "query", "positive": str | list[str], "documents": [...]}``.
        sparse_samples: per query ``{"query_id", "documents": [...]}``, in the same query order.
        at_k: cut-off of MRR and NDCG.
        rrf_k: the RRF constant (60 in the original paper).
        name: prefix of the metric keys and part of the CSV file name.
        batch_size: unused (kept for sentence-transformers compatibility: nothing is encoded).
        show_progress_bar: tqdm bar over the queries.
        write_csv: append a row to ``ReciprocalRankFusion_evaluation[_{name}]_results.csv``.
        write_predictions: also write the fused rankings to ``..._predictions.jsonl``.

    Raises:
        ValueError: different numbers of samples, a missing or mismatched ``query_id``, a dense sample without
            ``query``/``positive``/``documents`` or a sparse one without ``documents``, bad ``at_k``/``rrf_k``.

    Example:
        >>> dense = [{"query_id": "q1", "query": "cats?", "positive": ["d1"], "documents": ["d2", "d1", "d3"]}]
        >>> sparse = [{"query_id": "q1", "documents": ["d1", "d3", "d2"]}]
        >>> metrics = ReciprocalRankFusionEvaluator(dense, sparse, at_k=3)()
        >>> metrics["dense_mrr@3"], metrics["sparse_mrr@3"], metrics["mrr@3"]
        (0.5, 1.0, 1.0)
    """

    def __init__(
        self,
        dense_samples: list[dict[str, Any]],
        sparse_samples: list[dict[str, Any]],
        at_k: int = 10,
        rrf_k: int = 60,
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        write_predictions: bool = False,
    ) -> None:
        super().__init__()
        if len(dense_samples) != len(sparse_samples):
            raise ValueError(f"Dense samples ({len(dense_samples)}) and sparse samples ({len(sparse_samples)}) "
                             "must have the same length")
        for i, (dense, sparse) in enumerate(zip(dense_samples, sparse_samples)):
            if "query_id" not in dense or "query_id" not in sparse:
                raise ValueError(f"Sample at index {i} missing 'query_id' field")
            if dense["query_id"] != sparse["query_id"]:
                raise ValueError(f"Query ID mismatch at index {i}: {dense['query_id']} != {sparse['query_id']}")
            missing = [f"dense_samples[{i}][{key!r}]" for key in ("query", "positive", "documents")
                       if key not in dense] + ([f"sparse_samples[{i}]['documents']"] if "documents" not in sparse
                                              else [])
            if missing:
                raise ValueError(f"missing field(s): {', '.join(missing)}")
        if isinstance(at_k, bool) or not isinstance(at_k, int) or at_k < 1:
            raise ValueError(f"at_k must be a positive integer, got {at_k!r}")
        if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float)) or rrf_k < 0:
            raise ValueError(f"rrf_k must be a non-negative number, got {rrf_k!r}")
        self.dense_samples = dense_samples
        self.sparse_samples = sparse_samples
        self.at_k = at_k
        self.rrf_k = rrf_k
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.write_predictions = write_predictions
        suffix = f"_{name}" if name else ""
        self.csv_file = f"ReciprocalRankFusion_evaluation{suffix}_results.csv"
        self.csv_headers = ["epoch", "steps"] + [f"{system}_{metric}" for system in ("Dense", "Sparse", "Fusion")
                                                 for metric in ("MAP", f"MRR@{at_k}", f"NDCG@{at_k}")]
        self.primary_metric = f"ndcg@{at_k}"
        if write_predictions:
            self.predictions_file = f"ReciprocalRankFusion_evaluation{suffix}_predictions.jsonl"

    def __call__(self, model: Any = None, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        """Evaluate the stored rankings. sentence-transformers' signature is ``(output_path, epoch, steps)``: a
        string or path as first argument is taken as ``output_path``; anything else (a model, as the trainer
        passes) is ignored."""
        if isinstance(model, (str, os.PathLike)) and output_path is None:
            output_path = os.fspath(model)
        logger.info("ReciprocalRankFusionEvaluator: Evaluating hybrid search on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps))
        per_system: dict[str, list[tuple[float, float, float]]] = {"dense": [], "sparse": [], "fusion": []}
        fused_results = []
        pairs = zip(self.dense_samples, self.sparse_samples)
        for dense, sparse in tqdm(pairs, desc="Evaluating", disable=not self.show_progress_bar,
                                  total=len(self.dense_samples)):
            positive = dense["positive"]
            positive = [positive] if isinstance(positive, str) else positive
            dense_docs, sparse_docs = list(dense["documents"]), list(sparse["documents"])
            dense_ranks = {doc: rank for rank, doc in enumerate(dense_docs, start=1)}
            sparse_ranks = {doc: rank for rank, doc in enumerate(sparse_docs, start=1)}
            rrf_scores = {}
            for doc in dict.fromkeys([*dense_ranks, *sparse_ranks]):
                score = 0.0
                if doc in dense_ranks:
                    score += 1 / (self.rrf_k + dense_ranks[doc])
                if doc in sparse_ranks:
                    score += 1 / (self.rrf_k + sparse_ranks[doc])
                rrf_scores[doc] = score
            fused_docs = sorted(rrf_scores, key=rrf_scores.__getitem__, reverse=True)  # stable: ties keep order
            for system, docs in (("dense", dense_docs), ("sparse", sparse_docs), ("fusion", fused_docs)):
                per_system[system].append(self.compute_metrics([int(doc in positive) for doc in docs],
                                                               len(positive)))
            if self.write_predictions:
                fused_results.append({"query_id": dense["query_id"], "query": dense["query"], "positive": positive,
                                      "documents": fused_docs})

        means = {system: [float(np.mean(column)) for column in zip(*rows)] if rows else [math.nan] * 3
                 for system, rows in per_system.items()}  # (map, mrr, ndcg) per system
        metrics: dict[str, float] = {}
        for system, prefix in (("dense", "dense_"), ("sparse", "sparse_"), ("fusion", "")):
            ap, mrr, ndcg = means[system]
            metrics.update({f"{prefix}map": ap, f"{prefix}mrr@{self.at_k}": mrr, f"{prefix}ndcg@{self.at_k}": ndcg})
        logger.info("Queries: %d", len(self.dense_samples))
        for label, index in (("MAP", 0), (f"MRR@{self.at_k}", 1), (f"NDCG@{self.at_k}", 2)):
            logger.info("%-8s Dense %.2f%%  Sparse %.2f%%  Fusion %.2f%%", label, means["dense"][index] * 100,
                        means["sparse"][index] * 100, means["fusion"][index] * 100)

        if output_path is not None:
            if self.write_csv:
                row = [epoch, steps] + [value for system in ("dense", "sparse", "fusion") for value in means[system]]
                append_csv_row(output_path, self.csv_file, self.csv_headers, row)
            if self.write_predictions and fused_results:
                os.makedirs(output_path, exist_ok=True)
                with open(os.path.join(output_path, self.predictions_file), "w", encoding="utf-8") as f:
                    for result in fused_results:
                        f.write(json.dumps(result) + "\n")
        return self.prefix_name_to_metrics(metrics, self.name)

    def compute_metrics(self, is_relevant: list[int], num_positives: int) -> tuple[float, float, float]:
        """(AP, MRR@k, NDCG@k) of one ranking given as 0/1 relevance in rank order; all 0 without a hit.

        Positives absent from the ranking are appended at its end (ST's convention); AP is uncut.
        """
        hits = sum(is_relevant)
        if hits == 0:
            return 0.0, 0.0, 0.0
        relevance = is_relevant + [1] * max(num_positives - hits, 0)
        total = sum(relevance)
        found, precision_sum = 0, 0.0
        for rank, rel in enumerate(relevance, start=1):
            if rel:
                found += 1
                precision_sum += found / rank
        ap = precision_sum / total
        first = next((rank for rank, rel in enumerate(relevance[: self.at_k], start=1) if rel), None)
        mrr = 1.0 / first if first is not None else 0.0
        discounts = [1.0 / math.log2(i + 2) for i in range(min(self.at_k, len(relevance)))]
        dcg = sum(rel * d for rel, d in zip(relevance, discounts))
        ideal = sum(discounts[: min(total, len(discounts))])
        return ap, mrr, dcg / ideal

    def get_config_dict(self) -> dict[str, Any]:
        return {"at_k": self.at_k, "rrf_k": self.rrf_k, "write_predictions": self.write_predictions}
