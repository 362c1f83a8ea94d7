"""Generate the CrossEncoder-evaluator and hard-negative-mining goldens with sentence-transformers 6.2 (run by hand).

    /opt/dev/bin/python tests/generate_ce_eval_fixtures.py

Writes under tests/fixtures/ce_evaluation/ (tests never import ST, transformers, SciPy or scikit-learn):

- ``candidates/{scifact,quoraretrieval}.jsonl``: first-stage rankings (``{"query-id", "corpus-ids"}`` rows, the
  layout of NanoBEIR's ``bm25`` subset) of tests/fixtures/evaluation/data/scifact_mini and mrpc_retrieval, made by
  dense retrieval with the hash model (top 20; the scifact file also ranks the 5 queries without qrels).
- ``golden_metrics.json``: ST metric dicts, primary metrics, configs and CSV files (epoch=1, steps=5) of every CE
  evaluator spec (:func:`evaluator_specs`) for the models ``stub1`` / ``stub3`` (:class:`PairScoreModel`, a
  deterministic pair scorer that gives ST and embedkit identical scores, with deliberate ties) and ``ce1`` / ``ce3``
  (the tiny checkpoints tests/fixtures/ce_bert1, ce_bert3 run by ST's CrossEncoder). ``st_scores`` holds ST's raw
  predictions for ``ce1`` / ``ce3`` keyed by :func:`pair_key`, so the tests can replay them exactly.
- ``golden_hard_negatives.json``: ST's ``mine_hard_negatives`` outputs (columns; texts as indices into ``texts``)
  for every spec of :func:`mining_specs`, with :class:`MiningHashModel` as the embedding model and
  :class:`PairScoreModel` as the CrossEncoder.

ST's CrossEncoderNanoBEIREvaluator is run offline by pointing its Hub loader at the local files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
DATA = FIX / "evaluation" / "data"
OUT = FIX / "ce_evaluation"
sys.path.insert(0, str(HERE.parent))

from tests.evaluation.hash_model import HashEmbeddingModel  # noqa: E402

NANO = {"scifact": "scifact_mini", "quoraretrieval": "mrpc_retrieval"}
RERANK_DEPTH = 20


def pair_key(a: str, b: str) -> str:
    return hashlib.sha1(f"{a}\x00{b}".encode()).hexdigest()[:16]


class _CardData:
    def set_evaluation_metrics(self, *args: Any, **kwargs: Any) -> None:
        pass


class PairScoreModel:
    """A CrossEncoder stand-in: deterministic scores per (a, b) pair, or replayed from a ``{pair_key: score}`` table.

    Without a table a pair's score is ``(crc32 % 40) / 40`` (per label), so many pairs tie exactly.
    """

    def __init__(self, num_labels: int = 1, table: dict[str, Any] | None = None) -> None:
        self.num_labels = num_labels
        self.table = table
        self.model_card_data = _CardData()
        self.device = torch.device("cpu")

    def _score(self, a: str, b: str) -> list[float]:
        if self.table is not None:
            value = self.table[pair_key(a, b)]
            return value if isinstance(value, list) else [value]
        return [(zlib.crc32(f"{label}|{a}|{b}".encode()) % 40) / 40 for label in range(self.num_labels)]

    def predict(self, sentences: list[Any], batch_size: int = 32, show_progress_bar: bool | None = None,
                convert_to_numpy: bool = True, convert_to_tensor: bool = False, **kwargs: Any) -> Any:
        scores = np.array([self._score(a, b) for a, b in sentences], dtype=np.float32).reshape(-1, self.num_labels)
        if self.num_labels == 1:
            scores = scores[:, 0]
        return torch.from_numpy(scores) if convert_to_tensor else scores


class MiningHashModel(HashEmbeddingModel):
    """HashEmbeddingModel plus what ``mine_hard_negatives`` needs (``similarity_pairwise``, embedding size)."""

    def similarity_pairwise(self, a: Any, b: Any) -> torch.Tensor:
        from embedkit.util import SimilarityFunction

        return SimilarityFunction.to_similarity_pairwise_fn(self.similarity_fn_name)(a, b)

    def get_embedding_dimension(self) -> int:
        return self.dim


# ---------------------------------------------------------------------------------------------------- data
def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def _qrels(folder: Path) -> dict[str, list[str]]:
    qrels: dict[str, list[str]] = {}
    for row in _tsv(folder / "qrels" / "test.tsv"):
        if int(float(row["score"])) >= 1:
            qrels.setdefault(row["query-id"], []).append(row["corpus-id"])
    return qrels


def evaluator_specs(data: Path = DATA) -> dict[str, tuple[str, dict[str, Any], tuple[str, ...]]]:
    """name -> (evaluator class, kwargs (JSON-able; dataset paths relative to ``data``), model keys)."""
    sts = _tsv(data / "stsb_test_120.tsv")
    mrpc = _tsv(data / "mrpc_test_120.tsv")
    snli = _tsv(data / "snli_dev_triplets.tsv")
    sts_pairs = [[r["sentence1"], r["sentence2"]] for r in sts]
    sts_scores = [float(r["score"]) / 5 for r in sts]
    mrpc_pairs = [[r["sentence1"], r["sentence2"]] for r in mrpc]
    mrpc_labels = [int(r["label"]) for r in mrpc]
    rerank = [{"query": snli[i]["anchor"], "positive": [snli[i]["positive"]],
               "negative": [snli[i]["negative"], snli[i + 1]["positive"], snli[i + 2]["negative"]]}
              for i in range(0, 40, 2)]
    rerank[3]["positive"] = rerank[3]["positive"][0]  # a bare string
    rerank[5]["positive"] = []  # no relevant document: scores 0
    rerank[7]["positive"].append(snli[50]["positive"])
    # First-stage style samples: documents = a ranking that misses some positives.
    docs = [{"query": snli[i]["anchor"], "positive": [snli[i]["positive"], snli[i + 30]["negative"]],
             "documents": [snli[i + 1]["positive"], snli[i]["positive"], snli[i]["negative"], snli[i + 2]["anchor"]]}
            for i in range(0, 24, 3)]
    docs[2]["documents"] = [snli[5]["negative"], snli[6]["negative"]]  # the first stage found no positive
    both = ("stub1", "ce1")
    multi = ("stub3", "ce3")
    nano = {"dataset_folders": NANO, "candidates": {k: f"candidates/{k}.jsonl" for k in NANO}}
    return {
        "correlation": ("CrossEncoderCorrelationEvaluator", {"sentence_pairs": sts_pairs, "scores": sts_scores,
                                                             "name": "sts-test"}, both),
        "correlation_noname": ("CrossEncoderCorrelationEvaluator", {"sentence_pairs": sts_pairs[:40],
                                                                    "scores": sts_scores[:40]}, ("stub1",)),
        "classification_binary": ("CrossEncoderClassificationEvaluator",
                                  {"sentence_pairs": mrpc_pairs, "labels": mrpc_labels, "name": "mrpc"}, both),
        "classification_multi": ("CrossEncoderClassificationEvaluator",
                                 {"sentence_pairs": mrpc_pairs, "labels": [(i * 7) % 3 if y else 0 for i, y in
                                                                           enumerate(mrpc_labels)],
                                  "name": "mrpc3"}, multi),
        "rerank_negatives": ("CrossEncoderRerankingEvaluator", {"samples": rerank, "name": "snli"}, both),
        "rerank_at3": ("CrossEncoderRerankingEvaluator", {"samples": rerank, "at_k": 3}, ("stub1",)),
        "rerank_documents": ("CrossEncoderRerankingEvaluator", {"samples": docs, "name": "docs"}, both),
        "rerank_documents_norerank": ("CrossEncoderRerankingEvaluator",
                                      {"samples": docs, "name": "docs", "always_rerank_positives": False, "at_k": 2},
                                      ("stub1",)),
        "nanobeir": ("CrossEncoderNanoBEIREvaluator", dict(nano), ("stub1",)),
        "nanobeir_k10_at5": ("CrossEncoderNanoBEIREvaluator",
                             {**nano, "rerank_k": 10, "at_k": 5, "always_rerank_positives": False,
                              "aggregate_key": "avg"}, ("stub1",)),
        "nanobeir_one": ("CrossEncoderNanoBEIREvaluator",
                         {"dataset_names": ["scifact"], "dataset_folders": {"scifact": NANO["scifact"]},
                          "candidates": {"scifact": "candidates/scifact.jsonl"}, "rerank_k": 5}, both),
    }


def mining_data(data: Path = DATA) -> tuple[dict[str, list[str]], list[str]]:
    """(dataset columns query/answer from scifact_mini qrels, 120 corpus texts); some queries have 2+ positives."""
    folder = data / "scifact_mini"
    corpus = {str(d["_id"]): d["text"] for d in _jsonl(folder / "corpus.jsonl")}
    queries = {str(q["_id"]): q["text"] for q in _jsonl(folder / "queries.jsonl")}
    columns: dict[str, list[str]] = {"query": [], "answer": []}
    for qid, cids in list(_qrels(folder).items())[:20]:
        for cid in cids:
            columns["query"].append(queries[qid])
            columns["answer"].append(corpus[cid])
    columns["query"].append(columns["query"][0])  # an exact duplicate row
    columns["answer"].append(columns["answer"][0])
    return columns, list(corpus.values())[:120]


def mining_specs() -> dict[str, dict[str, Any]]:
    """name -> mine_hard_negatives kwargs (``corpus``: True = the 120 corpus texts; ``cross_encoder``: True = stub;
    ``rows``: use only the first n rows; ``seed``: random.seed before the call)."""
    return {
        "triplet": {},
        "triplet_scores": {"output_scores": True, "num_negatives": 2},
        "ntuple": {"output_format": "n-tuple", "num_negatives": 4},
        "ntuple_scores": {"output_format": "n-tuple", "output_scores": True},
        "ntuple_scores_deprecated": {"output_format": "n-tuple-scores"},
        "labeled_pair": {"output_format": "labeled-pair"},
        "labeled_pair_scores": {"output_format": "labeled-pair", "output_scores": True},
        "labeled_list": {"output_format": "labeled-list"},
        "labeled_list_scores": {"output_format": "labeled-list", "output_scores": True},
        "corpus": {"corpus": True, "num_negatives": 5, "output_format": "n-tuple", "output_scores": True},
        "range": {"corpus": True, "range_min": 3, "range_max": 9, "output_scores": True},
        "absolute_margin": {"corpus": True, "absolute_margin": 0.02, "output_format": "n-tuple",
                            "output_scores": True},
        "margin_deprecated": {"corpus": True, "margin": 0.0, "output_scores": True},
        "relative_margin": {"corpus": True, "relative_margin": 0.05, "output_format": "labeled-list",
                            "output_scores": True},
        "max_score": {"corpus": True, "max_score": 0.3, "output_scores": True, "num_negatives": 2},
        "min_max_score": {"corpus": True, "max_score": 0.4, "min_score": 0.15, "output_format": "labeled-pair",
                          "output_scores": True},
        "all_filters": {"corpus": True, "absolute_margin": 0.01, "relative_margin": 0.02, "max_score": 0.5,
                        "range_min": 1, "output_format": "n-tuple", "output_scores": True, "num_negatives": 2},
        "cross_encoder_margin": {"corpus": True, "cross_encoder": True, "absolute_margin": 0.05,
                                 "output_format": "n-tuple", "output_scores": True},
        "cross_encoder_max_score": {"corpus": True, "cross_encoder": True, "max_score": 0.6, "output_scores": True},
        "cross_encoder_unused": {"corpus": True, "cross_encoder": True, "output_scores": True},
        "include_positives": {"corpus": True, "include_positives": True, "output_scores": True},
        "prompts": {"corpus": True, "query_prompt": "Represent this claim: ", "corpus_prompt_name": "document",
                    "output_format": "labeled-list"},
        "small_corpus": {"rows": 4, "num_negatives": 4, "output_format": "labeled-list", "output_scores": True},
        "random": {"corpus": True, "sampling_strategy": "random", "seed": 12, "output_scores": True},
        "faiss_batch": {"corpus": True, "faiss_batch_size": 3, "output_format": "n-tuple"},
    }


def mining_kwargs(spec: dict[str, Any], columns: dict[str, list[str]], corpus: list[str]
                  ) -> tuple[dict[str, list[str]], dict[str, Any]]:
    spec = dict(spec)
    rows = spec.pop("rows", None)
    spec.pop("seed", None)
    if rows:
        columns = {k: v[:rows] for k, v in columns.items()}
    if spec.pop("corpus", False):
        spec["corpus"] = corpus
    if spec.pop("cross_encoder", False):
        spec["cross_encoder"] = PairScoreModel()
    return columns, {"verbose": False, **spec}


# ---------------------------------------------------------------------------------------------------- generation
def _patch_st_nanobeir(data: Path) -> None:
    """Make ST's CrossEncoderNanoBEIREvaluator read the local folders and candidate files instead of the Hub."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder.evaluation import nano_beir as st_nano

    human_to_key = {f"Nano{v}": k for k, v in st_nano.DATASET_NAME_TO_HUMAN_READABLE.items()}

    def load(self, subset: str, split: str, required_columns: list[str]):
        key = human_to_key[split]
        folder = data / NANO[key]
        if subset == "corpus":
            return Dataset.from_list([{"_id": str(d["_id"]), "text": d["text"]}
                                      for d in _jsonl(folder / "corpus.jsonl")])
        if subset == "queries":
            return Dataset.from_list([{"_id": str(q["_id"]), "text": q["text"]}
                                      for q in _jsonl(folder / "queries.jsonl")])
        qrels = _qrels(folder)
        if subset == "qrels":
            return Dataset.from_list([{"query-id": q, "corpus-id": c} for q, cids in qrels.items() for c in cids])
        rows = [r for r in _jsonl(OUT / "candidates" / f"{key}.jsonl") if r["query-id"] in qrels]
        return Dataset.from_list(rows)

    st_nano.CrossEncoderNanoBEIREvaluator._load_dataset_subset_split = load
    # ST collects each query's positives in a set, so their order (which decides tied scores) changes with the hash
    # seed; embedkit sorts them by id. Make ST's sets iterate in sorted order too.
    st_nano.set = _SortedSet


class _SortedSet(set):
    def __iter__(self):
        return iter(sorted(set.__iter__(self)))


def write_candidates(data: Path) -> None:
    from sentence_transformers.util import semantic_search

    model = HashEmbeddingModel()
    (OUT / "candidates").mkdir(parents=True, exist_ok=True)
    for key, folder_name in NANO.items():
        folder = data / folder_name
        corpus = {str(d["_id"]): d["text"] for d in _jsonl(folder / "corpus.jsonl")}
        queries = {str(q["_id"]): q["text"] for q in _jsonl(folder / "queries.jsonl")}
        cids = list(corpus)
        q_emb = model.encode_query(list(queries.values()), convert_to_tensor=True)
        c_emb = model.encode_document(list(corpus.values()), convert_to_tensor=True)
        hits = semantic_search(q_emb, c_emb, top_k=RERANK_DEPTH, score_function=model.similarity)
        with open(OUT / "candidates" / f"{key}.jsonl", "w", encoding="utf-8") as f:
            for qid, row in zip(queries, hits):
                f.write(json.dumps({"query-id": qid, "corpus-ids": [cids[h["corpus_id"]] for h in row]}) + "\n")


def build_st(kind: str, kwargs: dict[str, Any], data: Path) -> Any:
    from sentence_transformers.cross_encoder import evaluation as st_eval

    kwargs = dict(kwargs)
    if kind == "CrossEncoderNanoBEIREvaluator":
        kwargs.pop("candidates")
        names = kwargs.pop("dataset_folders")
        kwargs.setdefault("dataset_names", list(names))
    return getattr(st_eval, kind)(**kwargs)


def run_evaluators(data: Path) -> dict[str, Any]:
    from sentence_transformers import CrossEncoder

    models = {"stub1": PairScoreModel(1), "stub3": PairScoreModel(3),
              "ce1": CrossEncoder(str(FIX / "ce_bert1"), device="cpu"),
              "ce3": CrossEncoder(str(FIX / "ce_bert3"), device="cpu")}
    st_scores: dict[str, dict[str, Any]] = {"ce1": {}, "ce3": {}}
    for key in st_scores:  # record ST's raw predictions for replay
        original = models[key].predict

        def recording(sentences, *args, _orig=original, _table=st_scores[key], **kwargs):
            out = _orig(sentences, *args, **kwargs)
            for (a, b), score in zip(sentences, np.asarray(out).tolist()):
                _table[pair_key(a, b)] = score
            return out

        models[key].predict = recording
    golden: dict[str, Any] = {}
    for name, (kind, kwargs, model_keys) in evaluator_specs(data).items():
        for model_key in model_keys:
            evaluator = build_st(kind, kwargs, data)
            tmp = tempfile.mkdtemp()
            try:
                metrics = evaluator(models[model_key], output_path=tmp, epoch=1, steps=5)
                files = {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(tmp).iterdir())}
            finally:
                shutil.rmtree(tmp)
            golden[f"{name}/{model_key}"] = {
                "metrics": {k: float(v) for k, v in metrics.items()},
                "keys": list(metrics),
                "primary_metric": evaluator.primary_metric,
                "greater_is_better": getattr(evaluator, "greater_is_better", True),
                "config": evaluator.get_config_dict(),
                "csv": files,
            }
            print(name, model_key, evaluator.primary_metric, round(metrics[evaluator.primary_metric], 6))
    return {"evaluators": golden, "st_scores": st_scores}


def _encode_cell(value: Any, index: dict[str, int], texts: list[str]) -> Any:
    if isinstance(value, str):
        if value not in index:
            index[value] = len(texts)
            texts.append(value)
        return {"t": index[value]}
    if isinstance(value, list):
        return [_encode_cell(v, index, texts) for v in value]
    return value


def run_mining(data: Path) -> dict[str, Any]:
    import random

    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    columns, corpus = mining_data(data)
    texts: list[str] = []
    index: dict[str, int] = {}
    golden: dict[str, Any] = {}
    for name, spec in mining_specs().items():
        cols, kwargs = mining_kwargs(spec, columns, corpus)
        if "seed" in spec:
            random.seed(spec["seed"])
        result = mine_hard_negatives(Dataset.from_dict(cols), MiningHashModel(), **kwargs)
        out = result.to_dict()
        golden[name] = {"columns": list(out), "rows": len(result),
                        "data": {k: _encode_cell(v, index, texts) for k, v in out.items()}}
        print(name, list(out), len(result))
    return {"texts": texts, "specs": golden}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_candidates(DATA)
    _patch_st_nanobeir(DATA)
    (OUT / "golden_metrics.json").write_text(json.dumps(run_evaluators(DATA), indent=1) + "\n", encoding="utf-8")
    (OUT / "golden_hard_negatives.json").write_text(json.dumps(run_mining(DATA)) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
