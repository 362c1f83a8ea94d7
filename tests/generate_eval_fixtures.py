"""Generate the committed evaluator fixtures with sentence-transformers 6.2, SciPy and scikit-learn (run by hand).

    /opt/dev/bin/python tests/generate_eval_fixtures.py

Writes under tests/fixtures/evaluation/ (tests never import ST, SciPy or scikit-learn):

- ``data/``: small slices of the real data in /work/shared/data (see its README for sources and licenses):
  ``stsb_test_120.tsv`` (first 120 STS-B test rows), ``mrpc_test_120.tsv`` (first 120 MRPC test rows),
  ``snli_dev_triplets.tsv`` (premise / entailment / contradiction from the first SNLI dev premises),
  ``scifact_mini/`` (BEIR layout: the first 30 SciFact test queries that have qrels, 5 queries without qrels,
  their relevant documents plus the first other documents up to 200, texts cut to 400 characters, and one exact
  duplicate of a relevant document under the id ``zz-dup`` to exercise tie breaking),
  ``mrpc_retrieval/`` (BEIR layout built from MRPC test: queries = sentence1 of paraphrase rows, corpus =
  sentence2 of the first 150 rows, qrels = the paraphrase pairs).
- ``statistics.json``: inputs and SciPy/scikit-learn/ST outputs for the statistics functions (ties, constant
  inputs, small n).
- ``golden_metrics.json``: ST metric dicts (and primary metrics) of every dense evaluator on the slices above,
  computed with (a) ``tests/evaluation/hash_model.HashEmbeddingModel``, a deterministic bag-of-words model that
  gives ST and embedkit bit-identical embeddings (exact evaluator parity), and (b) the tiny fixture models
  tiny_bert_v6 / tiny_mpnet_v6 (end-to-end; their near-constant similarities make values noise-sensitive, so
  tests compare keys, primary metric and config exactly and values loosely).
- ``golden_csv.json``: the CSV file names and contents ST writes for one call with epoch=1, steps=5 (hash model).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
FIX = HERE / "fixtures"
OUT = FIX / "evaluation"
DATA = Path("/work/shared/data")
sys.path.insert(0, str(HERE.parent))

MODELS = {"hash": "hash", "hash_dot": "hash_dot", "bert": FIX / "tiny_bert_v6", "mpnet": FIX / "tiny_mpnet_v6"}
# hash_dot runs only these specs (its point is the model's default similarity "dot" and no prompts).
HASH_DOT_SPECS = ("sts_default", "mrpc_default", "triplet_default", "ir_default", "nanobeir", "rerank_default")


def load_model(key: str, teacher: bool = False):
    """The evaluated model (or the MSE teacher) for a key; ST is only imported for the real tiny models."""
    from tests.evaluation.hash_model import HashEmbeddingModel

    if key == "hash":
        return HashEmbeddingModel(salt="teacher" if teacher else "")
    if key == "hash_dot":
        return HashEmbeddingModel(salt="teacher" if teacher else "", similarity_fn_name="dot", prompts={})
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(MODELS[key]), device="cpu")


def skip(model_key: str, name: str) -> bool:
    if model_key == "hash_dot":
        return name not in HASH_DOT_SPECS
    return model_key == "mpnet" and name in ("nanobeir_truncate", "paraphrase_mining_closure")


# ---------------------------------------------------------------------------------------------------- data slices
def _tsv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[0], rows[1:]


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        for row in [header, *rows]:
            f.write("\t".join(row) + "\n")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def make_slices() -> Path:
    data = OUT / "data"
    if data.exists():
        shutil.rmtree(data)
    header, rows = _tsv_rows(DATA / "stsb/test.tsv")
    _write_tsv(data / "stsb_test_120.tsv", header, rows[:120])
    header, rows = _tsv_rows(DATA / "mrpc/test.tsv")
    _write_tsv(data / "mrpc_test_120.tsv", header, rows[:120])

    # SNLI triplets: premise -> (entailment, contradiction), first 60 premises having both.
    _, rows = _tsv_rows(DATA / "nli/snli_dev.tsv")
    by_premise: dict[str, dict[str, str]] = {}
    for premise, hypothesis, label in rows:
        by_premise.setdefault(premise, {}).setdefault(label, hypothesis)
    triplets = [[p, h["entailment"], h["contradiction"]] for p, h in by_premise.items()
                if "entailment" in h and "contradiction" in h][:60]
    _write_tsv(data / "snli_dev_triplets.tsv", ["anchor", "positive", "negative"], triplets)

    # SciFact mini (BEIR layout with qrels/test.tsv).
    sf = DATA / "beir/scifact"
    _, qrel_rows = _tsv_rows(sf / "qrels.tsv")
    qrels: dict[str, list[str]] = {}
    for qid, cid, _score in qrel_rows:
        qrels.setdefault(qid, []).append(cid)
    queries = [json.loads(line) for line in open(sf / "queries.jsonl", encoding="utf-8")]
    with_qrels = [q for q in queries if q["_id"] in qrels][:30]
    without = [q for q in queries if q["_id"] not in qrels][:5]
    needed = {cid for q in with_qrels for cid in qrels[q["_id"]]}
    docs = [json.loads(line) for line in open(sf / "corpus.jsonl", encoding="utf-8")]
    chosen = [d for d in docs if d["_id"] in needed]
    chosen += [d for d in docs if d["_id"] not in needed][: 200 - len(chosen)]
    chosen = [{"_id": d["_id"], "title": d["title"], "text": d["text"][:400]} for d in chosen]
    first_relevant = next(d for d in chosen if d["_id"] == qrels[with_qrels[0]["_id"]][0])
    chosen.append({**first_relevant, "_id": "zz-dup"})
    out = data / "scifact_mini"
    _write_jsonl(out / "corpus.jsonl", chosen)
    _write_jsonl(out / "queries.jsonl", [{"_id": q["_id"], "text": q["text"]} for q in with_qrels + without])
    _write_tsv(out / "qrels/test.tsv", ["query-id", "corpus-id", "score"],
               [[q["_id"], cid, "1"] for q in with_qrels for cid in qrels[q["_id"]]])

    # MRPC as a small paraphrase-retrieval BEIR folder.
    _, rows = _tsv_rows(DATA / "mrpc/test.tsv")
    rows = rows[:150]
    corpus = {r[4]: r[1] for r in rows}
    pos = [r for r in rows if r[2] == "1"][:40]
    out = data / "mrpc_retrieval"
    _write_jsonl(out / "corpus.jsonl", [{"_id": cid, "title": "", "text": t} for cid, t in corpus.items()])
    _write_jsonl(out / "queries.jsonl", [{"_id": f"q{r[3]}", "text": r[0]} for r in pos])
    _write_tsv(out / "qrels/test.tsv", ["query-id", "corpus-id", "score"], [[f"q{r[3]}", r[4], "1"] for r in pos])
    return data


# ---------------------------------------------------------------------------------------------------- statistics
def _nan_to_none(x: float) -> float | None:
    return None if isinstance(x, float) and math.isnan(x) else x


def make_statistics() -> dict:
    from scipy.stats import pearsonr, spearmanr
    from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator as BCE
    from sklearn.metrics import average_precision_score, matthews_corrcoef, ndcg_score

    rng = np.random.default_rng(0)
    corr_cases = {
        "random_50": (rng.normal(size=50).tolist(), rng.normal(size=50).tolist()),
        "ties_int": (rng.integers(0, 4, 40).tolist(), rng.integers(0, 5, 40).tolist()),
        "ties_scores_0_5": ([0.0, 1.2, 2.5, 2.5, 5.0, 5.0, 3.8, 0.0], [0.1, 0.3, 0.5, 0.4, 0.9, 0.95, 0.6, 0.2]),
        "n2": ([1.0, 2.0], [3.0, 1.0]),
        "n3": ([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]),
        "constant_x": ([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0]),
        "constant_y": ([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]),
        "perfect_negative": (list(range(10)), list(range(10, 0, -1))),
        "large_offset": ((1e6 + rng.normal(size=30)).tolist(), rng.normal(size=30).tolist()),
    }
    corr = {}
    for name, (x, y) in corr_cases.items():
        corr[name] = {"x": x, "y": y, "pearson": _nan_to_none(float(pearsonr(x, y)[0])),
                      "spearman": _nan_to_none(float(spearmanr(x, y)[0]))}

    ap_cases = {
        "random_60": (rng.integers(0, 2, 60).tolist(), rng.normal(size=60).tolist()),
        "ties": ([1, 0, 1, 0, 1, 0], [0.5, 0.5, 0.5, 0.1, 0.9, 0.9]),
        "all_positive": ([1, 1, 1], [0.2, 0.1, 0.3]),
        "no_positive": ([0, 0, 0], [0.2, 0.1, 0.3]),
        "single_pos": ([0, 0, 1, 0], [0.4, 0.3, 0.2, 0.1]),
        "all_tied": ([1, 0, 0, 1], [0.7, 0.7, 0.7, 0.7]),
    }
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = {name: {"labels": y, "scores": s, "ap": float(average_precision_score(y, s))}
              for name, (y, s) in ap_cases.items()}
        mcc_cases = {
            "random_40": (rng.integers(0, 2, 40).tolist(), rng.integers(0, 2, 40).tolist()),
            "all_same_prediction": ([1, 0, 1, 0], [1, 1, 1, 1]),
            "perfect": ([1, 0, 1, 0], [1, 0, 1, 0]),
            "inverse": ([1, 0, 1, 0], [0, 1, 0, 1]),
            "all_one_class": ([1, 1, 1], [1, 1, 1]),
        }
        mcc = {name: {"labels": y, "predictions": p, "mcc": float(matthews_corrcoef(y, p))}
               for name, (y, p) in mcc_cases.items()}

    ndcg_cases = {
        "random_20": (rng.integers(0, 2, 20).tolist(), rng.normal(size=20).tolist()),
        "graded": ([3, 2, 0, 1, 0, 2], [0.1, 0.9, 0.3, 0.8, 0.2, 0.4]),
        "ties": ([1, 0, 0, 1, 0], [0.5, 0.5, 0.5, 0.2, 0.9]),
        "ties_at_cutoff": ([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]),
        "no_relevant": ([0, 0, 0], [0.3, 0.2, 0.1]),
    }
    ndcg = {}
    for name, (rel, s) in ndcg_cases.items():
        ndcg[name] = {"relevance": rel, "scores": s,
                      "ndcg": {str(k): float(ndcg_score([rel], [s], k=k)) for k in (1, 2, 3, 5, 10)},
                      "ndcg_all": float(ndcg_score([rel], [s]))}

    threshold_cases = {
        "random_float32": (rng.normal(size=80).astype(np.float32), rng.integers(0, 2, 80)),
        "ties_float32": (np.array([0.9, 0.8, 0.8, 0.8, 0.3, 0.3, 0.1], np.float32), np.array([1, 1, 0, 1, 0, 1, 0])),
        "all_positive": (np.array([0.3, 0.2, 0.1], np.float32), np.array([1, 1, 1])),
        "all_negative": (np.array([0.3, 0.2, 0.1], np.float32), np.array([0, 0, 0])),
        "float64": (rng.normal(size=30), rng.integers(0, 2, 30)),
        "close_float32": (np.array([0.5, np.nextafter(np.float32(0.5), np.float32(0)), 0.2], np.float32),
                          np.array([1, 0, 0])),
    }
    thresholds = {}
    for name, (scores, labels) in threshold_cases.items():
        entry = {"scores": scores.tolist(), "dtype": str(scores.dtype), "labels": labels.tolist()}
        for direction in (True, False):
            acc, acc_t = BCE.find_best_acc_and_threshold(scores, labels, direction)
            f1, p, r, f1_t = BCE.find_best_f1_and_threshold(scores, labels, direction)
            entry[f"high_{direction}"] = {"acc": float(acc), "acc_threshold": float(acc_t), "f1": float(f1),
                                          "precision": float(p), "recall": float(r), "f1_threshold": float(f1_t)}
        thresholds[name] = entry
    return {"correlation": corr, "average_precision": ap, "mcc": mcc, "ndcg": ndcg, "thresholds": thresholds}


# ---------------------------------------------------------------------------------------------------- evaluators
class _LocalNanoBEIR:
    """ST's NanoBEIREvaluator reading local BEIR folders instead of the Hub (only the loader is replaced)."""

    @staticmethod
    def make(folders: dict[str, Path], **kwargs):
        from sentence_transformers.sentence_transformer.evaluation import NanoBEIREvaluator
        from sentence_transformers.sentence_transformer.evaluation.nano_beir import DATASET_NAME_TO_HUMAN_READABLE

        from embedkit.datasets_io import load_beir

        split_to_name = {f"Nano{human}": name for name, human in DATASET_NAME_TO_HUMAN_READABLE.items()}

        class Local(NanoBEIREvaluator):
            def _load_dataset_subset_split(self, subset, split, required_columns):
                corpus, queries, qrels = load_beir(folders[split_to_name[split]], include_title=False)
                if subset == "corpus":
                    return [{"_id": k, "text": v} for k, v in corpus.items()]
                if subset == "queries":
                    return [{"_id": k, "text": v} for k, v in queries.items()]
                return [{"query-id": q, "corpus-id": c} for q, cs in qrels.items() for c in sorted(cs)]

        return Local(dataset_names=list(folders), **kwargs)


def evaluator_specs(data: Path) -> dict[str, tuple[str, dict]]:
    """name -> (ST evaluator class name, kwargs built from the slices); shared with the tests via the JSON."""
    from embedkit.datasets_io import load_beir, load_pair_labels, load_sts

    s1, s2, scores = load_sts(data / "stsb_test_120.tsv")
    m1, m2, labels = load_pair_labels(data / "mrpc_test_120.tsv")
    _, trip = _tsv_rows(data / "snli_dev_triplets.tsv")
    corpus, queries, qrels = load_beir(data / "scifact_mini")
    with open(data / "scifact_mini/queries.jsonl", encoding="utf-8") as f:
        all_queries = {q["_id"]: q["text"] for q in map(json.loads, f)}
    ordered = sorted(corpus)
    samples = []
    for i, qid in enumerate(list(queries)[:12]):
        negatives = [c for c in ordered[i * 7: i * 7 + 9] if c not in qrels[qid]]
        samples.append({"query": queries[qid], "positive": [corpus[c] for c in sorted(qrels[qid])],
                        "negative": [corpus[c] for c in negatives]})
    samples.append({"query": "no positives", "positive": [], "negative": ["x"]})
    pos_pairs = [(a, b) for a, b, y in zip(m1, m2, labels) if y == 1][:40]
    sentences_map = {}
    duplicates = []
    for i, (a, b, y) in enumerate(zip(m1[:60], m2[:60], labels[:60])):
        sentences_map[f"a{i}"] = a
        sentences_map[f"b{i}"] = b
        if y == 1:
            duplicates.append((f"a{i}", f"b{i}"))
    fns = ["cosine", "dot", "euclidean", "manhattan"]
    ir_common = dict(queries=all_queries, corpus=corpus, relevant_docs=qrels)
    return {
        "sts_default": ("EmbeddingSimilarityEvaluator", dict(sentences1=s1, sentences2=s2, scores=scores)),
        "sts_all": ("EmbeddingSimilarityEvaluator", dict(sentences1=s1, sentences2=s2, scores=scores,
                                                         similarity_fn_names=fns, name="sts-test")),
        "sts_main_dot": ("EmbeddingSimilarityEvaluator", dict(sentences1=s1, sentences2=s2, scores=scores,
                                                              main_similarity="dot", truncate_dim=8)),
        "sts_int8": ("EmbeddingSimilarityEvaluator", dict(sentences1=s1, sentences2=s2, scores=scores,
                                                          precision="int8", name="q")),
        "sts_binary": ("EmbeddingSimilarityEvaluator", dict(sentences1=s1, sentences2=s2, scores=scores,
                                                            precision="binary")),
        "mrpc_default": ("BinaryClassificationEvaluator", dict(sentences1=m1, sentences2=m2, labels=labels)),
        "mrpc_all": ("BinaryClassificationEvaluator", dict(sentences1=m1, sentences2=m2, labels=labels,
                                                           similarity_fn_names=fns, name="mrpc")),
        "triplet_default": ("TripletEvaluator", dict(anchors=[t[0] for t in trip], positives=[t[1] for t in trip],
                                                     negatives=[t[2] for t in trip])),
        "triplet_all_margin": ("TripletEvaluator", dict(anchors=[t[0] for t in trip],
                                                        positives=[t[1] for t in trip],
                                                        negatives=[t[2] for t in trip], similarity_fn_names=fns,
                                                        margin={"cosine": 0.05}, name="snli")),
        "ir_default": ("InformationRetrievalEvaluator", dict(**ir_common)),
        "ir_options": ("InformationRetrievalEvaluator", dict(
            **ir_common, name="scifact", corpus_chunk_size=37, mrr_at_k=[3, 10], ndcg_at_k=[5, 10],
            accuracy_at_k=[1, 2], precision_recall_at_k=[2, 20], map_at_k=[10, 100], truncate_dim=8,
            query_prompt="search: ", corpus_prompt="doc: ")),
        "ir_two_fns": ("InformationRetrievalEvaluator", dict(**ir_common, name="two",
                                                             score_functions="cos_sim+dot_score")),
        "rerank_default": ("RerankingEvaluator", dict(samples=samples)),
        "rerank_at3_individual": ("RerankingEvaluator", dict(samples=samples, at_k=3, use_batched_encoding=False,
                                                             name="rr", similarity_fct="dot_score")),
        "mse": ("MSEEvaluator", dict(source_sentences=s1[:50], target_sentences=s2[:50], name="stsb")),
        "translation": ("TranslationEvaluator", dict(source_sentences=[a for a, _ in pos_pairs],
                                                     target_sentences=[b for _, b in pos_pairs], name="mrpc")),
        "paraphrase_mining": ("ParaphraseMiningEvaluator", dict(sentences_map=sentences_map,
                                                                duplicates_list=duplicates, name="mrpc")),
        "paraphrase_mining_closure": ("ParaphraseMiningEvaluator", dict(
            sentences_map=sentences_map, duplicates_list=duplicates + [("a0", "a1"), ("b1", "a2")],
            add_transitive_closure=True, top_k=5, max_pairs=300)),
        "nanobeir": ("NanoBEIREvaluator", dict(dataset_folders={"scifact": "scifact_mini",
                                                                "quoraretrieval": "mrpc_retrieval"})),
        "nanobeir_truncate": ("NanoBEIREvaluator", dict(dataset_folders={"scifact": "scifact_mini"},
                                                        truncate_dim=8, aggregate_key="avg")),
    }


def build_st(kind: str, kwargs: dict, data: Path, teacher=None):
    """Instantiate the ST evaluator for a spec (resolving the string placeholders)."""
    from sentence_transformers import util
    from sentence_transformers.sentence_transformer import evaluation as ev

    kwargs = dict(kwargs)
    if kwargs.get("score_functions") == "cos_sim+dot_score":
        kwargs["score_functions"] = {"cos_sim": util.cos_sim, "dot_score": util.dot_score}
    if kwargs.get("similarity_fct") == "dot_score":
        kwargs["similarity_fct"] = util.dot_score
    if kind == "MSEEvaluator":
        kwargs["teacher_model"] = teacher
    if kind == "NanoBEIREvaluator":
        folders = {k: data / v for k, v in kwargs.pop("dataset_folders").items()}
        return _LocalNanoBEIR.make(folders, **kwargs)
    return getattr(ev, kind)(**kwargs)


def make_label_accuracy(model, data: Path) -> dict:
    from sentence_transformers import InputExample
    from sentence_transformers.sentence_transformer import evaluation as ev
    from sentence_transformers.sentence_transformer.losses import SoftmaxLoss
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    loss = SoftmaxLoss(model, model.get_embedding_dimension(), num_labels=3)
    _, rows = _tsv_rows(data / "snli_dev_triplets.tsv")
    label_of = {"entailment": 0, "contradiction": 2}
    examples = [InputExample(texts=[r[0], r[1]], label=label_of["entailment"]) for r in rows[:30]]
    examples += [InputExample(texts=[r[0], r[2]], label=label_of["contradiction"]) for r in rows[:30]]
    evaluator = ev.LabelAccuracyEvaluator(DataLoader(examples, batch_size=16), name="snli", softmax_model=loss)
    metrics = evaluator(model)
    return {"metrics": metrics, "primary": evaluator.primary_metric,
            "classifier_weight": loss.classifier.weight.detach().tolist(),
            "classifier_bias": loss.classifier.bias.detach().tolist()}


def main() -> None:
    from sentence_transformers import __version__
    from sentence_transformers.sentence_transformer import evaluation as ev

    data = make_slices()
    (OUT / "statistics.json").write_text(json.dumps(make_statistics(), indent=1) + "\n", encoding="utf-8")
    golden: dict = {"sentence_transformers": __version__, "evaluators": {}}
    csv_golden: dict = {}
    specs = evaluator_specs(data)
    for model_key in MODELS:
        model = load_model(model_key)
        teacher = load_model(model_key, teacher=True)
        for name, (kind, kwargs) in specs.items():
            if skip(model_key, name):
                continue
            evaluator = build_st(kind, kwargs, data, teacher)
            with tempfile.TemporaryDirectory() as tmp:
                metrics = evaluator(model, output_path=tmp, epoch=1, steps=5)
                files = {p.name: p.read_bytes().decode("utf-8") for p in sorted(Path(tmp).iterdir())}
            golden["evaluators"][f"{model_key}/{name}"] = {
                "metrics": metrics, "primary": evaluator.primary_metric,
                "config": json.loads(json.dumps(evaluator.get_config_dict(), default=str))}
            if model_key == "hash":
                csv_golden[name] = files
        if not model_key.startswith("hash"):
            golden["evaluators"][f"{model_key}/label_accuracy"] = make_label_accuracy(model, data)
        # SequentialEvaluator over two of them.
        seq = ev.SequentialEvaluator([build_st(*specs["sts_default"], data), build_st(*specs["mrpc_default"], data)],
                                     main_score_function=lambda scores: sum(scores) / len(scores))
        golden["evaluators"][f"{model_key}/sequential_mean"] = {"metrics": seq(model), "primary": seq.primary_metric}
    (OUT / "golden_metrics.json").write_text(json.dumps(golden, indent=1) + "\n", encoding="utf-8")
    (OUT / "golden_csv.json").write_text(json.dumps(csv_golden, indent=1) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
