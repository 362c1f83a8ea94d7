"""RerankingEvaluator: rank each query's positives and negatives by embedding similarity and score the ranking.

Reports MAP (average precision over the full candidate list), ``mrr@{at_k}`` and ``ndcg@{at_k}`` (scikit-learn's
tie-averaged nDCG), like sentence-transformers' ``RerankingEvaluator``; the CSV file is
``RerankingEvaluator[_{name}]_results_@{at_k}.csv``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from embedkit.base.evaluation.evaluator import (
    SentenceEvaluator,
    append_csv_row,
    epoch_text,
)
from embedkit.base.evaluation.statistics import average_precision, ndcg
from embedkit.util import cos_sim

logger = logging.getLogger(__name__)


class RerankingEvaluator(SentenceEvaluator):
    """Re-ranking quality of query -> (positives + negatives); primary ``ndcg@{at_k}``.

    Args:
        samples: ``[{"query": str, "positive": [str] or str, "negative": [str] or str}, ...]`` (or a dict of such
            samples); samples without a positive or without a negative are dropped.
        at_k: cut-off of MRR and nDCG.
        name: prefix of the metric keys and part of the CSV file name.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        similarity_fct: ``(query (1, D), docs (N, D)) -> (1, N)`` scores; default cosine.
        batch_size: encoding batch size.
        show_progress_bar: tqdm bar while encoding.
        use_batched_encoding: embed all queries and documents at once (True) or sample by sample.
        truncate_dim: keep the first dimensions of the embeddings.
        mrr_at_k: deprecated alias of ``at_k``.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = RerankingEvaluator([{"query": "What do cats eat?", "positive": ["Cats eat fish."],
        ...                                  "negative": ["Paris is in France.", "Cars need fuel."]}])
        >>> evaluator(model)
        {'map': 1.0, 'mrr@10': 1.0, 'ndcg@10': 1.0}
    """

    def __init__(
        self,
        samples: list[dict[str, Any]] | dict[Any, dict[str, Any]],
        at_k: int = 10,
        name: str = "",
        write_csv: bool = True,
        similarity_fct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cos_sim,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        use_batched_encoding: bool = True,
        truncate_dim: int | None = None,
        mrr_at_k: int | None = None,
    ) -> None:
        super().__init__()
        if mrr_at_k is not None:
            logger.warning("The `mrr_at_k` parameter has been deprecated; please use `at_k=%d` instead.", mrr_at_k)
            at_k = mrr_at_k
        if not isinstance(at_k, int) or at_k < 1:
            raise ValueError(f"at_k must be a positive integer, got {at_k!r}")
        if isinstance(samples, dict):
            samples = list(samples.values())
        normalised = [
            {**s, "positive": [s["positive"]] if isinstance(s["positive"], str) else list(s["positive"]),
             "negative": [s["negative"]] if isinstance(s["negative"], str) else list(s["negative"])}
            for s in samples
        ]
        self.samples = [s for s in normalised if s["positive"] and s["negative"]]
        self.name = name
        self.at_k = at_k
        self.similarity_fct = similarity_fct
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.use_batched_encoding = use_batched_encoding
        self.truncate_dim = truncate_dim
        self.csv_file = "RerankingEvaluator" + (f"_{name}" if name else "") + f"_results_@{at_k}.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{at_k}", f"NDCG@{at_k}"]
        self.write_csv = write_csv
        self.primary_metric = f"ndcg@{at_k}"

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("RerankingEvaluator: Evaluating the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps, self.truncate_dim))
        if not self.samples:
            raise ValueError("RerankingEvaluator has no sample with both a positive and a negative")
        scores = self.compute_metrics(model)
        n_pos = [len(s["positive"]) for s in self.samples]
        n_neg = [len(s["negative"]) for s in self.samples]
        logger.info("Queries: %d\tPositives: Min %.1f, Mean %.1f, Max %.1f\tNegatives: Min %.1f, Mean %.1f, Max %.1f",
                    len(self.samples), min(n_pos), np.mean(n_pos), max(n_pos), min(n_neg), np.mean(n_neg), max(n_neg))
        logger.info("MAP: %.2f\tMRR@%d: %.2f\tNDCG@%d: %.2f", scores["map"] * 100, self.at_k, scores["mrr"] * 100,
                    self.at_k, scores["ndcg"] * 100)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers,
                           [epoch, steps, scores["map"], scores["mrr"], scores["ndcg"]])
        metrics = {"map": scores["map"], f"mrr@{self.at_k}": scores["mrr"], f"ndcg@{self.at_k}": scores["ndcg"]}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def embed_inputs(self, model: Any, sentences: list[str], encode_fn_name: str | None = None,
                     show_progress_bar: bool | None = None) -> torch.Tensor:
        encode = {"query": model.encode_query, "document": model.encode_document}.get(encode_fn_name, model.encode)
        return encode(sentences, batch_size=self.batch_size, show_progress_bar=show_progress_bar,
                      convert_to_tensor=True, truncate_dim=self.truncate_dim)

    def _score_sample(self, query_emb: torch.Tensor, docs_emb: torch.Tensor, num_pos: int) -> tuple[float, ...]:
        pred = self.similarity_fct(query_emb, docs_emb)
        if pred.ndim > 1:
            pred = pred[0]
        pred = pred.float().cpu().numpy()  # (num_pos + num_neg,)
        is_relevant = np.r_[np.ones(num_pos), np.zeros(pred.size - num_pos)]
        ranking = np.argsort(-pred, kind="stable")[: self.at_k]
        first = np.flatnonzero(is_relevant[ranking])
        mrr = 1.0 / (first[0] + 1) if first.size else 0.0
        return mrr, ndcg(is_relevant, pred, k=self.at_k), average_precision(is_relevant, pred)

    def compute_metrics(self, model: Any) -> dict[str, float]:
        """``{"map", "mrr", "ndcg"}`` averaged over samples (batched or per-sample encoding, per
        ``use_batched_encoding``)."""
        if self.use_batched_encoding:
            return self.compute_metrics_batched(model)
        return self.compute_metrics_individual(model)

    def compute_metrics_batched(self, model: Any) -> dict[str, float]:
        """The metrics with all queries encoded in one call and all documents in another."""
        queries = self.embed_inputs(model, [s["query"] for s in self.samples], "query", self.show_progress_bar)
        docs = [d for s in self.samples for d in (*s["positive"], *s["negative"])]
        docs_emb = self.embed_inputs(model, docs, "document", self.show_progress_bar)
        per_sample, offset = [], 0
        for i, sample in enumerate(self.samples):
            n_pos, n = len(sample["positive"]), len(sample["positive"]) + len(sample["negative"])
            per_sample.append(self._score_sample(queries[i], docs_emb[offset: offset + n], n_pos))
            offset += n
        return self._average(per_sample)

    def compute_metrics_individual(self, model: Any) -> dict[str, float]:
        """The metrics with each sample's query and documents encoded separately (less memory)."""
        per_sample = []
        for sample in tqdm(self.samples, disable=not self.show_progress_bar, desc="Samples"):
            query = self.embed_inputs(model, [sample["query"]], "query", False)
            docs = self.embed_inputs(model, [*sample["positive"], *sample["negative"]], "document", False)
            per_sample.append(self._score_sample(query, docs, len(sample["positive"])))
        return self._average(per_sample)

    @staticmethod
    def _average(per_sample: list[tuple[float, ...]]) -> dict[str, float]:
        mrr, ndcg_scores, ap = zip(*per_sample)
        return {"map": float(np.mean(ap)), "mrr": float(np.mean(mrr)), "ndcg": float(np.mean(ndcg_scores))}

    # sentence-transformers' historical spellings
    compute_metrices = compute_metrics
    compute_metrices_batched = compute_metrics_batched
    compute_metrices_individual = compute_metrics_individual

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"at_k": self.at_k}
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config
