"""InformationRetrievalEvaluator: retrieve the top documents of a corpus for each query and score the ranking.

For each score function (default: the model's ``similarity``) it reports ``accuracy@k``, ``precision@k``,
``recall@k``, ``mrr@k``, ``ndcg@k`` (binary gains) and ``map@k``, with sentence-transformers' key names
(``{fn}_ndcg@10``), definitions, CSV file (``Information-Retrieval_evaluation[_{name}]_results.csv``, written with
plain ``",".join`` like ST) and predictions file. Queries go through ``encode_query`` and documents through
``encode_document``; the corpus is embedded and searched in chunks of ``corpus_chunk_size``.

Ranking is a total order: decreasing score, then increasing corpus id, so ties never depend on the chunk size or
on ``torch.topk``'s tie breaking.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import trange

from embedkit.base.evaluation.evaluator import SentenceEvaluator, epoch_text
from embedkit.util import SimilarityFunction

logger = logging.getLogger(__name__)

ScoreFunction = Callable[[Tensor, Tensor], Tensor]
_METRIC_GROUPS = ("accuracy@k", "precision@k", "recall@k", "ndcg@k", "mrr@k", "map@k")  # order of the keys


def top_k_in_chunk(scores: Tensor, id_ranks: Tensor, k: int) -> tuple[list[list[float]], list[list[int]]]:
    """Per row, the ``k`` best columns under (score descending, ``id_ranks`` ascending).

    Args:
        scores: (Q, C) scores of Q queries against C documents.
        id_ranks: (C,) position of each document id in ascending id order (the tie breaker).
        k: how many to keep (<= C).

    Returns:
        (values, columns), two lists of Q lists of length ``k``.

    Example:
        >>> import torch
        >>> values, columns = top_k_in_chunk(torch.tensor([[0.5, 0.9, 0.5, 0.5]]), torch.tensor([3, 0, 1, 2]), 2)
        >>> columns  # column 1 (0.9), then the tied 0.5 with the smallest id rank (column 2, rank 1)
        [[1, 2]]
    """
    values, columns = torch.topk(scores, k, dim=1, largest=True, sorted=False)
    kth = values.min(dim=1, keepdim=True).values  # (Q, 1)
    tied_rows = torch.nonzero((scores >= kth).sum(dim=1) > k).flatten()  # ties straddle the cut-off
    if tied_rows.numel():
        # Reorder the columns by id rank, then a stable descending sort by score keeps id order inside ties.
        by_rank = torch.argsort(id_ranks.to(scores.device))
        sub = scores[tied_rows][:, by_rank]
        order = torch.sort(sub, dim=1, descending=True, stable=True).indices[:, :k]
        chosen = by_rank[order]  # (R, k) original columns
        columns[tied_rows] = chosen
        values[tied_rows] = scores[tied_rows].gather(1, chosen)
    return values.cpu().tolist(), columns.cpu().tolist()


class InformationRetrievalEvaluator(SentenceEvaluator):
    """Dense retrieval metrics over a corpus; primary ``{fn}_ndcg@{max(ndcg_at_k)}``.

    Args:
        queries: ``{qid: text}``; only queries with at least one relevant document are evaluated.
        corpus: ``{cid: text}``.
        relevant_docs: ``{qid: set of relevant cids}``.
        corpus_chunk_size: documents embedded and searched at once.
        mrr_at_k / ndcg_at_k / accuracy_at_k / precision_recall_at_k / map_at_k: cut-offs of each metric.
        show_progress_bar: tqdm bars while encoding and over corpus chunks.
        batch_size: encoding batch size.
        name: prefix of the metric keys and part of the CSV file name.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        truncate_dim: keep the first dimensions of the embeddings.
        score_functions: ``{name: fn(queries (Q, D), docs (C, D)) -> (Q, C)}``; default: ``{model.similarity_fn_name:
            model.similarity}`` of the model passed to each call.
        main_score_function: whose ``ndcg`` is primary (default: the best one at the first call).
        query_prompt / query_prompt_name: prompt for the queries (default: the model's ``query`` prompt).
        corpus_prompt / corpus_prompt_name: prompt for the documents (default: the model's ``document`` prompt).
        write_predictions: also write ``..._predictions_{fn}.jsonl`` (top hits per query) to ``output_path``.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = InformationRetrievalEvaluator(
        ...     queries={"q1": "What do cats eat?"},
        ...     corpus={"d1": "Cats eat fish and meat.", "d2": "Paris is in France.", "d3": "Cars need fuel."},
        ...     relevant_docs={"q1": {"d1"}}, name="toy")
        >>> metrics = evaluator(model)
        >>> evaluator.primary_metric, metrics["toy_cosine_accuracy@1"]
        ('toy_cosine_ndcg@10', 1.0)
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
        truncate_dim: int | None = None,
        score_functions: dict[str, ScoreFunction] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        write_predictions: bool = False,
    ) -> None:
        super().__init__()
        for label, ks in (("mrr_at_k", mrr_at_k), ("ndcg_at_k", ndcg_at_k), ("accuracy_at_k", accuracy_at_k),
                          ("precision_recall_at_k", precision_recall_at_k), ("map_at_k", map_at_k)):
            if not ks or any(not isinstance(k, int) or k < 1 for k in ks):
                raise ValueError(f"{label} must be a non-empty list of positive integers, got {ks!r}")
        if corpus_chunk_size < 1:
            raise ValueError(f"corpus_chunk_size must be positive, got {corpus_chunk_size!r}")
        self.queries_ids = [qid for qid in queries if qid in relevant_docs and len(relevant_docs[qid]) > 0]
        if not self.queries_ids:
            raise ValueError("no query has a relevant document: check that relevant_docs uses the query ids")
        self.queries = [queries[qid] for qid in self.queries_ids]
        self.corpus_ids = list(corpus.keys())
        self.corpus = [corpus[cid] for cid in self.corpus_ids]
        self._corpus_id_ranks: Tensor | None = None

        self.query_prompt = query_prompt
        self.query_prompt_name = query_prompt_name
        self.corpus_prompt = corpus_prompt
        self.corpus_prompt_name = corpus_prompt_name
        self.relevant_docs = relevant_docs
        self.corpus_chunk_size = corpus_chunk_size
        self.mrr_at_k = mrr_at_k
        self.ndcg_at_k = ndcg_at_k
        self.accuracy_at_k = accuracy_at_k
        self.precision_recall_at_k = precision_recall_at_k
        self.map_at_k = map_at_k
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.name = name
        self.write_csv = write_csv
        self.score_functions = score_functions
        self.score_function_names = sorted(score_functions) if score_functions else []
        self._score_functions_from_model = score_functions is None
        self.main_score_function = SimilarityFunction(main_score_function) if main_score_function else None
        self.truncate_dim = truncate_dim

        suffix = f"_{name}" if name else ""
        self.csv_file = f"Information-Retrieval_evaluation{suffix}_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.score_function_names)
        self.write_predictions = write_predictions
        if write_predictions:
            self.predictions_file = f"Information-Retrieval_evaluation{suffix}_predictions.jsonl"

    def _append_csv_headers(self, names: list[str]) -> None:
        for fn in names:
            self.csv_headers += [f"{fn}-Accuracy@{k}" for k in self.accuracy_at_k]
            for k in self.precision_recall_at_k:
                self.csv_headers += [f"{fn}-Precision@{k}", f"{fn}-Recall@{k}"]
            self.csv_headers += [f"{fn}-MRR@{k}" for k in self.mrr_at_k]
            self.csv_headers += [f"{fn}-NDCG@{k}" for k in self.ndcg_at_k]
            self.csv_headers += [f"{fn}-MAP@{k}" for k in self.map_at_k]

    def _csv_values(self, scores: dict[str, dict[str, dict[int, float]]]) -> list[float]:
        row = []
        for fn in self.score_function_names:
            row += [scores[fn]["accuracy@k"][k] for k in self.accuracy_at_k]
            for k in self.precision_recall_at_k:
                row += [scores[fn]["precision@k"][k], scores[fn]["recall@k"][k]]
            row += [scores[fn]["mrr@k"][k] for k in self.mrr_at_k]
            row += [scores[fn]["ndcg@k"][k] for k in self.ndcg_at_k]
            row += [scores[fn]["map@k"][k] for k in self.map_at_k]
        return row

    def _model_score_functions(self, model: Any) -> dict[str, ScoreFunction]:
        return {model.similarity_fn_name: model.similarity}

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1,
                 *args: Any, **kwargs: Any) -> dict[str, float]:
        logger.info("Information Retrieval Evaluation of the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps, self.truncate_dim))
        headers_changed = False
        if self._score_functions_from_model:
            # Resolved on every call so that a reused evaluator follows each model's own similarity.
            self.score_functions = self._model_score_functions(model)
            if self.score_function_names != sorted(self.score_functions):
                headers_changed = bool(self.score_function_names)
                self.score_function_names = sorted(self.score_functions)
                self.csv_headers = ["epoch", "steps"]
                self._append_csv_headers(self.score_function_names)
                self.primary_metric = None

        scores = self.compute_all_metrics(model, *args, output_path=output_path, **kwargs)

        if output_path is not None and self.write_csv:
            os.makedirs(output_path, exist_ok=True)
            csv_path = os.path.join(output_path, self.csv_file)
            new_file = not os.path.isfile(csv_path)
            if not new_file and headers_changed:
                logger.warning("%s was written with other score function columns; rows for %s are appended under "
                               "the old header", self.csv_file, self.score_function_names)
            with open(csv_path, mode="w" if new_file else "a", encoding="utf-8") as f:
                if new_file:
                    f.write(",".join(self.csv_headers) + "\n")
                f.write(",".join(map(str, [epoch, steps, *self._csv_values(scores)])) + "\n")

        if not self.primary_metric:
            top_k = max(self.ndcg_at_k)
            if self.main_score_function is None:
                best = max(self.score_function_names, key=lambda fn: scores[fn]["ndcg@k"][top_k])
            else:
                best = self.main_score_function.value
            self.primary_metric = f"{best}_ndcg@{top_k}"

        metrics = {
            f"{fn}_{group.replace('@k', f'@{k}')}": value
            for fn, groups in scores.items() for group, values in groups.items() for k, value in values.items()
        }
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_corpus_id_ranks(self) -> Tensor:
        """(C,) position of each corpus entry in ascending corpus-id order (cached)."""
        if self._corpus_id_ranks is None:
            order = sorted(range(len(self.corpus_ids)), key=self.corpus_ids.__getitem__)
            ranks = torch.empty(len(order), dtype=torch.long)
            ranks[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
            self._corpus_id_ranks = ranks
        return self._corpus_id_ranks

    def embed_inputs(self, model: Any, sentences: list[str], encode_fn_name: str | None = None,
                     prompt_name: str | None = None, prompt: str | None = None, **kwargs: Any) -> Tensor:
        encode = {"query": model.encode_query, "document": model.encode_document}.get(encode_fn_name, model.encode)
        return encode(sentences, prompt_name=prompt_name, prompt=prompt, batch_size=self.batch_size,
                      show_progress_bar=self.show_progress_bar, convert_to_tensor=True,
                      truncate_dim=self.truncate_dim, **kwargs)

    def retrieve(self, model: Any, corpus_model: Any = None, corpus_embeddings: Tensor | None = None
                 ) -> dict[str, list[list[dict[str, Any]]]]:
        """``{fn: [per query: [{"corpus_id", "score"}, ...] best first]}`` with ``max(all k)`` hits per query."""
        corpus_model = corpus_model if corpus_model is not None else model
        max_k = max(*self.mrr_at_k, *self.ndcg_at_k, *self.accuracy_at_k, *self.precision_recall_at_k,
                    *self.map_at_k)
        query_embeddings = self.embed_inputs(model, self.queries, "query", self.query_prompt_name,
                                             self.query_prompt)
        hits: dict[str, list[list[tuple[float, str]]]] = {
            fn: [[] for _ in self.queries] for fn in self.score_functions}
        id_ranks = self.get_corpus_id_ranks()
        for start in trange(0, len(self.corpus), self.corpus_chunk_size, desc="Corpus Chunks",
                            disable=not self.show_progress_bar):
            end = min(start + self.corpus_chunk_size, len(self.corpus))
            if corpus_embeddings is None:
                chunk = self.embed_inputs(corpus_model, self.corpus[start:end], "document", self.corpus_prompt_name,
                                          self.corpus_prompt)
            else:
                chunk = corpus_embeddings[start:end]
            for fn, score_fn in self.score_functions.items():
                pair_scores = score_fn(query_embeddings, chunk)  # (Q, C)
                k = min(max_k, pair_scores.shape[1])
                values, columns = top_k_in_chunk(pair_scores, id_ranks[start:end], k)
                for q, (row_values, row_columns) in enumerate(zip(values, columns)):
                    merged = hits[fn][q]
                    merged.extend((v, self.corpus_ids[start + c]) for v, c in zip(row_values, row_columns))
                    merged.sort(key=lambda hit: (-hit[0], hit[1]))
                    del merged[max_k:]
        return {fn: [[{"corpus_id": cid, "score": s} for s, cid in row] for row in rows] for fn, rows in hits.items()}

    def compute_all_metrics(self, model: Any, corpus_model: Any = None, corpus_embeddings: Tensor | None = None,
                            output_path: str | None = None) -> dict[str, dict[str, dict[int, float]]]:
        """Retrieve, optionally write predictions, and compute ``{fn: {"ndcg@k": {10: v}, ...}}``."""
        results = self.retrieve(model, corpus_model, corpus_embeddings)
        if self.write_predictions and output_path is not None:
            os.makedirs(output_path, exist_ok=True)
            for fn, rows in results.items():
                path = os.path.join(output_path, self.predictions_file.replace(".jsonl", f"_{fn}.jsonl"))
                with open(path, "w", encoding="utf-8") as f:
                    for qid, text, row in zip(self.queries_ids, self.queries, rows):
                        f.write(json.dumps({"query_id": qid, "query": text, "results": row}) + "\n")
        logger.info("Queries: %d\tCorpus: %d", len(self.queries), len(self.corpus))
        scores = {fn: self.compute_metrics(results[fn]) for fn in self.score_functions}
        for fn in self.score_function_names:
            logger.info("Score-Function: %s", fn)
            self.output_scores(scores[fn])
        return scores

    def compute_metrics(self, queries_result_list: list[list[dict[str, Any]]]) -> dict[str, dict[int, float]]:
        """IR metrics averaged over queries, from ranked hits (one list per query, in ``queries_ids`` order)."""
        hits_at_k = {k: 0 for k in self.accuracy_at_k}
        precisions = {k: [] for k in self.precision_recall_at_k}
        recalls = {k: [] for k in self.precision_recall_at_k}
        mrr = {k: 0.0 for k in self.mrr_at_k}
        ndcgs = {k: [] for k in self.ndcg_at_k}
        average_precisions = {k: [] for k in self.map_at_k}
        for qid, results in zip(self.queries_ids, queries_result_list):
            ranked = sorted(results, key=lambda hit: (-hit["score"], hit["corpus_id"]))
            relevant = self.relevant_docs[qid]
            is_rel = [hit["corpus_id"] in relevant for hit in ranked]  # binary gains in rank order
            for k in self.accuracy_at_k:
                hits_at_k[k] += any(is_rel[:k])
            for k in self.precision_recall_at_k:
                correct = sum(is_rel[:k])
                precisions[k].append(correct / k)
                recalls[k].append(correct / len(relevant))
            for k in self.mrr_at_k:
                first = next((rank for rank, rel in enumerate(is_rel[:k]) if rel), None)
                if first is not None:
                    mrr[k] += 1.0 / (first + 1)
            for k in self.ndcg_at_k:
                ideal = self.compute_dcg_at_k([1] * len(relevant), k)
                ndcgs[k].append(self.compute_dcg_at_k([int(r) for r in is_rel[:k]], k) / ideal)
            for k in self.map_at_k:
                correct, precision_sum = 0, 0.0
                for rank, rel in enumerate(is_rel[:k]):
                    if rel:
                        correct += 1
                        precision_sum += correct / (rank + 1)
                average_precisions[k].append(precision_sum / min(k, len(relevant)))
        n = len(self.queries)
        return {
            "accuracy@k": {k: v / n for k, v in hits_at_k.items()},
            "precision@k": {k: float(np.mean(v)) for k, v in precisions.items()},
            "recall@k": {k: float(np.mean(v)) for k, v in recalls.items()},
            "ndcg@k": {k: float(np.mean(v)) for k, v in ndcgs.items()},
            "mrr@k": {k: v / n for k, v in mrr.items()},
            "map@k": {k: float(np.mean(v)) for k, v in average_precisions.items()},
        }

    compute_metrices = compute_metrics  # sentence-transformers' historical spelling

    @staticmethod
    def output_scores(scores: dict[str, dict[int, float]]) -> None:
        for group in _METRIC_GROUPS:
            label = group.split("@")[0].replace("ndcg", "NDCG").replace("mrr", "MRR").replace("map", "MAP")
            for k, value in scores[group].items():
                if group in ("accuracy@k", "precision@k", "recall@k"):
                    logger.info("%s@%d: %.2f%%", label.capitalize(), k, value * 100)
                else:
                    logger.info("%s@%d: %.4f", label, k, value)

    @staticmethod
    def compute_dcg_at_k(relevances: list[int], k: int) -> float:
        """``sum_{i < k} rel_i / log2(i + 2)``."""
        dcg = 0.0
        for i in range(min(len(relevances), k)):
            dcg += relevances[i] / np.log2(i + 2)
        return float(dcg)

    def get_config_dict(self) -> dict[str, Any]:
        keys = ("truncate_dim", "query_prompt", "query_prompt_name", "corpus_prompt", "corpus_prompt_name")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}
