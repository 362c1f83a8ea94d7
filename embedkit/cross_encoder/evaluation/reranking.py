"""CrossEncoderRerankingEvaluator: rerank each query's candidates with a CrossEncoder and score the ranking.

Same parameters, metric keys (``map``, ``mrr@{k}``, ``ndcg@{k}``, plus ``base_*`` for the first-stage order when
samples carry ``documents``), primary metric ``ndcg@{k}`` and CSV file
(``CrossEncoderRerankingEvaluator[_{name}]_results_@{k}.csv``) as sentence-transformers 6.2. nDCG is scikit-learn's
tie-averaged ``ndcg_score`` and MAP its ``average_precision_score`` (both from
:mod:`embedkit.base.evaluation.statistics`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text
from embedkit.base.evaluation.statistics import average_precision, ndcg
from embedkit.cross_encoder.evaluation._predict import predict_pairs

logger = logging.getLogger(__name__)


class CrossEncoderRerankingEvaluator(SentenceEvaluator):
    """MAP, MRR@k and nDCG@k of a CrossEncoder reranking; primary ``ndcg@{at_k}``.

    Each sample is ``{"query": str, "positive": [str, ...], "negative": [str, ...]}`` (rerank positives +
    negatives) or ``{"query": str, "positive": [...], "documents": [str, ...]}`` where ``documents`` is a
    first-stage ranking, best first. With ``documents`` the first-stage order is scored too (``base_*`` keys;
    positives missing from ``documents`` count as ranked last), and ``always_rerank_positives=True`` reranks
    ``positive + (documents without positives)``, so a positive the first stage missed can still be found
    (an upper bound); False reranks ``documents`` only. A sample without any relevant candidate scores 0.

    Args:
        samples: list (or dict of) samples as above; ``positive`` may be a single string.
        at_k: cut-off of MRR and nDCG.
        always_rerank_positives: see above.
        name: prefix of the metric keys and suffix of the CSV file.
        prompt_name: passed to ``model.predict`` (only for models whose ``predict`` takes prompts).
        batch_size: prediction batch size (all pairs go through one ``predict`` call).
        show_progress_bar: tqdm bar while predicting.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        mrr_at_k: deprecated alias of ``at_k``.

    Raises:
        ValueError: (at call time) a sample lacks ``query`` or ``positive``, or has both or neither of
            ``negative`` and ``documents``.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit import CrossEncoder
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> evaluator = CrossEncoderRerankingEvaluator([{"query": "What do cats eat?", "positive": ["Cats eat fish."],
        ...                                              "negative": ["Paris is in France.", "Cars need fuel."]}])
        >>> sorted(evaluator(model)), evaluator.primary_metric
        (['map', 'mrr@10', 'ndcg@10'], 'ndcg@10')
    """

    def __init__(
        self,
        samples: list[dict[str, Any]] | dict[Any, dict[str, Any]],
        at_k: int = 10,
        always_rerank_positives: bool = True,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        mrr_at_k: int | None = None,
    ) -> None:
        super().__init__()
        if mrr_at_k is not None:
            logger.warning("The `mrr_at_k` parameter has been deprecated; please use `at_k=%d` instead.", mrr_at_k)
            at_k = mrr_at_k
        if not isinstance(at_k, int) or at_k < 1:
            raise ValueError(f"at_k must be a positive integer, got {at_k!r}")
        self.samples = list(samples.values()) if isinstance(samples, dict) else samples
        self.at_k = at_k
        self.always_rerank_positives = always_rerank_positives
        self.name = name
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.csv_file = "CrossEncoderRerankingEvaluator" + (f"_{name}" if name else "") + f"_results_@{at_k}.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{at_k}", f"NDCG@{at_k}"]
        self.write_csv = write_csv
        self.primary_metric = f"ndcg@{at_k}"

    def _candidates(self, sample: dict[str, Any]) -> tuple[list[str], list[int], int, tuple[float, ...] | None]:
        """(documents to rerank, their 0/1 relevance, number of positives, base metrics or None)."""
        if "query" not in sample:
            raise ValueError("CrossEncoderRerankingEvaluator requires a 'query' key in each sample.")
        if "positive" not in sample:
            raise ValueError("CrossEncoderRerankingEvaluator requires a 'positive' key in each sample.")
        if ("negative" in sample) == ("documents" in sample):
            raise ValueError("CrossEncoderRerankingEvaluator requires exactly one of 'negative' and 'documents' in "
                             f"each sample; got keys {sorted(sample)}")
        positive = sample["positive"]
        positive = [positive] if isinstance(positive, str) else list(positive)
        documents = sample.get("documents")
        if not documents:  # ST treats an empty "documents" list like a "negative" sample
            negative = sample.get("negative")
            if negative is None:
                raise ValueError("a sample's 'documents' list is empty and it has no 'negative' list")
            negative = [negative] if isinstance(negative, str) else list(negative)
            docs = positive + negative
            return docs, [1] * len(positive) + [0] * len(negative), len(positive), None

        documents = list(documents)
        base_relevant = [int(doc in positive) for doc in documents]
        if sum(base_relevant) == 0:
            base: tuple[float, ...] = (0.0, 0.0, 0.0)
        else:
            base_relevant += [1] * (len(positive) - sum(base_relevant))  # missed positives go last
            base = self.compute_metrics(base_relevant, np.arange(len(base_relevant), 0, -1))
        if self.always_rerank_positives:
            docs = positive + [doc for doc in documents if doc not in positive]
            relevant = [1] * len(positive) + [0] * (len(docs) - len(positive))
        else:
            docs = documents
            relevant = [int(doc in positive) for doc in documents]
        return docs, relevant, len(positive), base

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("CrossEncoderRerankingEvaluator: Evaluating the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps))
        # Pass 1: collect every (query, document) pair, so that one predict call scores them all.
        pairs: list[list[str]] = []
        per_sample: list[tuple[list[int], int] | None] = []
        base_metrics: list[tuple[float, ...]] = []
        num_positives, num_negatives = [], []
        for sample in self.samples:
            docs, relevant, n_pos, base = self._candidates(sample)
            if base is not None:
                base_metrics.append(base)
            num_positives.append(n_pos)
            num_negatives.append(len(relevant) - sum(relevant))
            if sum(relevant) == 0:
                per_sample.append(None)
                continue
            per_sample.append((relevant, len(docs)))
            pairs.extend([sample["query"], doc] for doc in docs)
        if not self.samples:
            raise ValueError("CrossEncoderRerankingEvaluator has no samples")
        scores = (predict_pairs(model, pairs, self.prompt_name, self.batch_size, self.show_progress_bar)
                  if pairs else np.array([]))

        # Pass 2: split the scores per sample and score each ranking.
        results, offset = [], 0
        for meta in per_sample:
            if meta is None:
                results.append((0.0, 0.0, 0.0))
                continue
            relevant, n = meta
            results.append(self.compute_metrics(relevant, scores[offset: offset + n]))
            offset += n
        mean_mrr, mean_ndcg, mean_ap = (float(np.mean(column)) for column in zip(*results))
        k = self.at_k
        metrics: dict[str, Any] = {"map": mean_ap, f"mrr@{k}": mean_mrr, f"ndcg@{k}": mean_ndcg}
        logger.info("Queries: %d\tPositives: Min %.1f, Mean %.1f, Max %.1f\tNegatives: Min %.1f, Mean %.1f, Max %.1f",
                    len(self.samples), np.min(num_positives), np.mean(num_positives), np.max(num_positives),
                    np.min(num_negatives), np.mean(num_negatives), np.max(num_negatives))
        if base_metrics:
            base_mrr, base_ndcg, base_ap = (float(np.mean(column)) for column in zip(*base_metrics))
            logger.info("MAP: %.2f -> %.2f\tMRR@%d: %.2f -> %.2f\tNDCG@%d: %.2f -> %.2f (base -> reranked)",
                        base_ap * 100, mean_ap * 100, k, base_mrr * 100, mean_mrr * 100, k, base_ndcg * 100,
                        mean_ndcg * 100)
            card = {"map": f"{mean_ap:.4f} ({mean_ap - base_ap:+.4f})",
                    f"mrr@{k}": f"{mean_mrr:.4f} ({mean_mrr - base_mrr:+.4f})",
                    f"ndcg@{k}": f"{mean_ndcg:.4f} ({mean_ndcg - base_ndcg:+.4f})"}
            self.store_metrics_in_model_card_data(model, self.prefix_name_to_metrics(card, self.name), epoch, steps)
            metrics.update({"base_map": base_ap, f"base_mrr@{k}": base_mrr, f"base_ndcg@{k}": base_ndcg})
            metrics = self.prefix_name_to_metrics(metrics, self.name)
        else:
            logger.info("MAP: %.2f\tMRR@%d: %.2f\tNDCG@%d: %.2f", mean_ap * 100, k, mean_mrr * 100, k,
                        mean_ndcg * 100)
            metrics = self.prefix_name_to_metrics(metrics, self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, mean_ap, mean_mrr, mean_ndcg])
        return metrics

    def compute_metrics(self, y_true: list[int], y_pred: Any) -> tuple[float, float, float]:
        """(MRR@k, nDCG@k, AP) of one ranking; ties are broken as ST does (reversed NumPy argsort)."""
        y_pred = np.asarray(y_pred)
        ranking = np.argsort(y_pred)[::-1][: self.at_k]
        hits = np.flatnonzero(np.asarray(y_true)[ranking])
        mrr = 1.0 / (hits[0] + 1) if hits.size else 0.0
        return mrr, ndcg(y_true, y_pred, k=self.at_k), average_precision(y_true, y_pred)

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"at_k": self.at_k}
        if self.samples and "documents" in self.samples[0]:
            config["always_rerank_positives"] = self.always_rerank_positives
        return config
