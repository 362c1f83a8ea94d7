"""CrossEncoderNanoBEIREvaluator: rerank the top-k first-stage candidates of several BEIR datasets, plus aggregates.

sentence-transformers downloads NanoBEIR from the Hub, including a ``bm25`` subset whose rows are
``{"query-id": str, "corpus-ids": [str, ...]}`` (BM25's ranking of the corpus, best first); each query's first
``rerank_k`` candidates become the ``documents`` of a :class:`CrossEncoderRerankingEvaluator` sample. embedkit never
downloads at run time, so each dataset is a local BEIR folder (``corpus.jsonl``, ``queries.jsonl``, qrels as read by
:func:`embedkit.datasets_io.load_beir`), and the first-stage ranking comes, in this order, from:

1. ``candidates[name]``: a ``{query_id: [corpus_id, ...]}`` dict or the path of a JSONL file in the ``bm25`` layout
   above (e.g. ST's subset saved with ``Dataset.to_json``, or any BM25/dense run);
2. a ``bm25.jsonl`` or ``candidates.jsonl`` file in the dataset folder;
3. ``retriever``: a SentenceTransformer-like model (``encode_query``, ``encode_document``, ``similarity``) that
   ranks the corpus densely (top ``rerank_k`` by similarity).

Keys, CSV files and the primary metric follow ST 6.2: ``Nano{Name}_R{rerank_k}_{map,mrr@k,ndcg@k,base_*}`` per
dataset, ``NanoBEIR_R{rerank_k}_{aggregate_key}_*`` aggregates (primary ``NanoBEIR_R100_mean_ndcg@10``),
``NanoBEIR_evaluation_{aggregate_key}_results.csv`` plus each dataset's reranking CSV.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from embedkit.base.evaluation.evaluator import SentenceEvaluator, epoch_text
from embedkit.cross_encoder.evaluation.reranking import CrossEncoderRerankingEvaluator
from embedkit.datasets_io import load_beir
from embedkit.sentence_transformer.evaluation.nano_beir_datasets import (  # noqa: F401 (the name ST has here)
    DATASET_NAME_TO_HUMAN_READABLE,
    append_aggregate_csv_row,
    evaluate_datasets,
    nano_dataset_name,
    resolve_dataset_folders,
)

logger = logging.getLogger(__name__)

CANDIDATE_FILES = ("bm25.jsonl", "candidates.jsonl")
Candidates = dict[str, list[str]]


def read_candidates(path: str | os.PathLike) -> Candidates:
    """Read a first-stage ranking: JSONL rows ``{"query-id": ..., "corpus-ids": [...]}`` -> ``{qid: [cid, ...]}``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line is not JSON or lacks ``query-id`` / ``corpus-ids``, or a query id repeats.
    """
    ranking: Candidates = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({exc})") from exc
            if not isinstance(row, dict) or "query-id" not in row or not isinstance(row.get("corpus-ids"), list):
                raise ValueError(f"{path}:{line_no}: expected {{\"query-id\": ..., \"corpus-ids\": [...]}}, got "
                                 f"{line.strip()[:80]!r}")
            qid = str(row["query-id"])
            if qid in ranking:
                raise ValueError(f"{path}:{line_no}: query-id {qid!r} appears twice")
            ranking[qid] = [str(cid) for cid in row["corpus-ids"]]
    return ranking


def dense_candidates(retriever: Any, queries: dict[str, str], corpus: dict[str, str], top_k: int,
                     batch_size: int = 32) -> Candidates:
    """Rank ``corpus`` for every query with a dense model; ``{qid: top_k corpus ids, best first}``."""
    from embedkit.util import semantic_search

    for method in ("encode_query", "encode_document", "similarity"):
        if not callable(getattr(retriever, method, None)):
            raise TypeError(f"retriever must be a SentenceTransformer-like model with {method}(); got "
                            f"{type(retriever).__name__}")
    qids, cids = list(queries), list(corpus)
    query_emb = retriever.encode_query([queries[q] for q in qids], batch_size=batch_size, convert_to_tensor=True)
    corpus_emb = retriever.encode_document([corpus[c] for c in cids], batch_size=batch_size, convert_to_tensor=True)
    hits = semantic_search(query_emb, corpus_emb, top_k=top_k, score_function=retriever.similarity)
    return {qid: [cids[hit["corpus_id"]] for hit in row] for qid, row in zip(qids, hits)}


class CrossEncoderNanoBEIREvaluator(SentenceEvaluator):
    """Rerank the top ``rerank_k`` first-stage candidates of several local BEIR datasets; primary
    ``NanoBEIR_R{rerank_k}_{aggregate_key}_ndcg@{at_k}``.

    Args:
        dataset_names: names to evaluate (default: every key of ``dataset_folders``). The NanoBEIR short names
            (``msmarco``, ``scifact``, ...) get ST's display names (``NanoMSMARCO_R100``); others are used as given.
        dataset_folders: ``{name: BEIR folder}`` or one root folder with a subfolder per dataset (``name``,
            ``Nano{Name}`` or ``{Name}``). Required: nothing is downloaded.
        candidates: ``{name: {qid: [cid, ...]} or JSONL path}``: first-stage rankings (see the module docstring).
        retriever: dense first stage for datasets without candidates.
        dataset_id: recorded in ``get_config_dict`` only (ST's Hub id).
        rerank_k: candidates reranked per query.
        at_k: cut-off of MRR and nDCG.
        always_rerank_positives: rerank every positive even if the first stage missed it (ST's default).
        prompt_name / batch_size / show_progress_bar / write_csv: passed to each reranking evaluator
            (``batch_size`` also to the retriever).
        aggregate_fn / aggregate_key: how and under which name the datasets are combined.
        split: qrels split to read.
        include_title: document text = title + " " + text (ST's NanoBEIR corpora have ``text`` only).

    Raises:
        ValueError: no folders, empty ``dataset_names``, a name without a folder, a dataset without any
            first-stage ranking, or a ranking naming unknown query / corpus ids.

    Example:
        >>> from embedkit import CrossEncoder
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> root = Path(tempfile.mkdtemp())  # a BEIR folder: corpus, queries, qrels
        >>> docs = {"d1": "Cats eat fish.", "d2": "Rain falls in spring.", "d3": "Paris is in France."}
        >>> queries = {"q1": "What do cats eat?", "q2": "Where is Paris?"}
        >>> for name, rows in (("corpus", docs), ("queries", queries)):
        ...     lines = [json.dumps({"_id": key, "text": text}) for key, text in rows.items()]
        ...     _ = (root / f"{name}.jsonl").write_text("\\n".join(lines))
        >>> _ = (root / "qrels.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\nq2\\td3\\t1\\n")
        >>> first_stage = {"q1": ["d2", "d1"], "q2": ["d3", "d1"]}  # or a JSONL file of rankings
        >>> evaluator = CrossEncoderNanoBEIREvaluator(dataset_names=["scifact"], dataset_folders={"scifact": root},
        ...                                           candidates={"scifact": first_stage})
        >>> results = evaluator(model)
        >>> evaluator.primary_metric, round(results["NanoBEIR_R100_mean_base_ndcg@10"], 4)  # base: the first stage
        ('NanoBEIR_R100_mean_ndcg@10', 0.8155)
    """

    def __init__(
        self,
        dataset_names: list[str] | None = None,
        dataset_folders: dict[str, str | os.PathLike] | str | os.PathLike | None = None,
        candidates: dict[str, Candidates | str | os.PathLike] | None = None,
        retriever: Any = None,
        dataset_id: str = "sentence-transformers/NanoBEIR-en",
        rerank_k: int = 100,
        at_k: int = 10,
        always_rerank_positives: bool = True,
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        aggregate_fn: Callable[[list[float]], float] = np.mean,
        aggregate_key: str = "mean",
        split: str = "test",
        include_title: bool = False,
    ) -> None:
        super().__init__()
        dataset_names, folders = resolve_dataset_folders("CrossEncoderNanoBEIREvaluator", dataset_names,
                                                         dataset_folders)
        if not isinstance(rerank_k, int) or rerank_k < 1:
            raise ValueError(f"rerank_k must be a positive integer, got {rerank_k!r}")
        unknown = sorted(set(candidates or {}) - set(dataset_names))
        if unknown:
            raise ValueError(f"candidates has rankings for {unknown}, which are not in dataset_names {dataset_names}")
        self.dataset_names = list(dataset_names)
        self.dataset_folders = {n: str(p) for n, p in folders.items()}
        self.dataset_id = dataset_id
        self.rerank_k = rerank_k
        self.at_k = at_k
        self.always_rerank_positives = always_rerank_positives
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.aggregate_fn = aggregate_fn
        self.aggregate_key = aggregate_key
        self.name = f"NanoBEIR_R{rerank_k:d}_{aggregate_key}"
        reranking_kwargs = dict(at_k=at_k, always_rerank_positives=always_rerank_positives, prompt_name=prompt_name,
                                show_progress_bar=show_progress_bar, batch_size=batch_size, write_csv=write_csv)
        self.evaluators = [
            self._load_dataset(n, folders[n], (candidates or {}).get(n), retriever, split, include_title,
                               **reranking_kwargs)
            for n in self.dataset_names
        ]
        self.csv_file = f"NanoBEIR_evaluation_{aggregate_key}_results.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{at_k}", f"NDCG@{at_k}"]
        self.primary_metric = f"ndcg@{at_k}"

    def _get_human_readable_name(self, dataset_name: str) -> str:
        return nano_dataset_name(dataset_name) + f"_R{self.rerank_k}"

    def _first_stage(self, name: str, folder: Path, given: Any, retriever: Any, queries: dict[str, str],
                     corpus: dict[str, str]) -> Candidates:
        if isinstance(given, dict):
            return {str(q): [str(c) for c in cids] for q, cids in given.items()}
        if given is not None:
            return read_candidates(given)
        for file_name in CANDIDATE_FILES:
            if (folder / file_name).is_file():
                return read_candidates(folder / file_name)
        if retriever is not None:
            return dense_candidates(retriever, queries, corpus, self.rerank_k, self.batch_size)
        raise ValueError(f"dataset {name!r} has no first-stage ranking to rerank: pass candidates={{{name!r}: "
                         f"path_or_dict}}, put one of {list(CANDIDATE_FILES)} (rows {{\"query-id\": ..., "
                         f"\"corpus-ids\": [...]}}) in {folder}, or pass retriever=<SentenceTransformer> for a dense "
                         "first stage")

    def _load_dataset(self, name: str, folder: Path, given: Any, retriever: Any, split: str, include_title: bool,
                      **reranking_kwargs: Any) -> CrossEncoderRerankingEvaluator:
        corpus, queries, qrels = load_beir(folder, split=split, include_title=include_title)
        ranking = self._first_stage(name, folder, given, retriever, queries, corpus)
        samples = []
        without_qrels = 0
        for qid, cids in ranking.items():
            if qid not in qrels:  # no relevant document (or unknown query): nothing to evaluate
                without_qrels += 1
                continue
            unknown = [cid for cid in cids[: self.rerank_k] if cid not in corpus]
            if unknown:
                raise ValueError(f"dataset {name!r}: the ranking of query {qid!r} names corpus ids not in "
                                 f"{folder / 'corpus.jsonl'}: {unknown[:5]}")
            # Positives in id order: deterministic (ST iterates a set), which matters only for tied scores.
            samples.append({"query": queries[qid], "positive": [corpus[cid] for cid in sorted(qrels[qid])],
                            "documents": [corpus[cid] for cid in cids[: self.rerank_k]]})
        if without_qrels:
            logger.info("%s: skipped %d ranked queries without relevant documents", name, without_qrels)
        if not samples:
            raise ValueError(f"dataset {name!r}: no query of the first-stage ranking has relevant documents in the "
                             f"{split!r} qrels of {folder}")
        return CrossEncoderRerankingEvaluator(samples=samples, name=self._get_human_readable_name(name),
                                              **reranking_kwargs)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1,
                 *args: Any, **kwargs: Any) -> dict[str, float]:
        logger.info("NanoBEIR Evaluation of the model on %s dataset%s:", self.dataset_names, epoch_text(epoch, steps))
        per_dataset, aggregated = evaluate_datasets(
            self.evaluators, lambda evaluator: evaluator(model, output_path, epoch, steps), self.aggregate_fn, logger)
        k = self.at_k
        if output_path is not None and self.write_csv:
            append_aggregate_csv_row(output_path, self.csv_file, self.csv_headers,
                                     [epoch, steps, aggregated["map"], aggregated[f"mrr@{k}"], aggregated[f"ndcg@{k}"]])
        logger.info("CrossEncoderNanoBEIREvaluator: Aggregated Results (base -> reranked): MAP %.2f -> %.2f, "
                    "MRR@%d %.2f -> %.2f, NDCG@%d %.2f -> %.2f", aggregated["base_map"] * 100,
                    aggregated["map"] * 100, k, aggregated[f"base_mrr@{k}"] * 100, aggregated[f"mrr@{k}"] * 100, k,
                    aggregated[f"base_ndcg@{k}"] * 100, aggregated[f"ndcg@{k}"] * 100)
        card = {m: f"{aggregated[m]:.4f} ({aggregated[m] - aggregated['base_' + m]:+.4f})"
                for m in ("map", f"mrr@{k}", f"ndcg@{k}")}
        self.store_metrics_in_model_card_data(model, self.prefix_name_to_metrics(card, self.name), epoch, steps)
        per_dataset.update(self.prefix_name_to_metrics(aggregated, self.name))
        return per_dataset

    def get_config_dict(self) -> dict[str, Any]:
        return {"dataset_names": self.dataset_names, "dataset_id": self.dataset_id, "rerank_k": self.rerank_k,
                "at_k": self.at_k, "always_rerank_positives": self.always_rerank_positives}
