"""Training benchmarks.

    python benchmarks/train.py stsb [--steps N] [--seeds 42 43 44]  # fine-tune all-MiniLM-L6-v2 on STS-B with CoSENT,
                                                      # embedkit vs sentence-transformers (same args, same seed)
    python benchmarks/train.py steps                  # step time and peak memory: plain vs accumulation vs GradCache

``stsb`` reports wall time of ``trainer.train()`` and the STS-B test Spearman (cosine) for each library, and the
speed ratio (ST time / embedkit time). ``steps`` times MNRL training steps on short NLI pairs.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def read_sts(split: str, data: Path = DATA) -> dict[str, list]:
    with open(data / "stsb" / f"{split}.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return {"sentence1": [r["sentence1"] for r in rows], "sentence2": [r["sentence2"] for r in rows],
            "score": [float(r["score"]) / 5.0 for r in rows]}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x[np.r_[np.diff(np.sort(x)) == 0, False]]):  # average ranks for ties
            r[x == value] = r[x == value].mean()
        return r

    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def sts_spearman(model, test: dict[str, list]) -> float:
    e1 = model.encode(test["sentence1"], batch_size=64, normalize_embeddings=True)
    e2 = model.encode(test["sentence2"], batch_size=64, normalize_embeddings=True)
    return spearman((e1 * e2).sum(1), np.array(test["score"]))


def run_stsb(library: str, model_path: str, steps: int, batch: int, data: Path, seed: int = 42) -> dict:
    """One fine-tune in this process (called in a subprocess per library)."""
    import torch

    torch.manual_seed(0)
    train, test = read_sts("train", data), read_sts("test", data)
    common = dict(num_train_epochs=1, max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-5,
                  warmup_ratio=0.1, seed=seed, save_strategy="no", logging_steps=50, report_to="none")
    with tempfile.TemporaryDirectory() as tmp:
        if library == "embedkit":
            from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
            from embedkit.sentence_transformer.losses import CoSENTLoss

            model = SentenceTransformer(model_path, device="cpu")
            args = SentenceTransformerTrainingArguments(output_dir=tmp, disable_tqdm=True,
                                                        **{k: v for k, v in common.items() if k != "report_to"})
            dataset = train
        else:
            from datasets import Dataset
            from sentence_transformers import (
                SentenceTransformer,
                SentenceTransformerTrainer,
                SentenceTransformerTrainingArguments,
            )
            from sentence_transformers.losses import CoSENTLoss

            model = SentenceTransformer(model_path, device="cpu")
            args = SentenceTransformerTrainingArguments(output_dir=tmp, disable_tqdm=True, **common)
            dataset = Dataset.from_dict(train)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=CoSENTLoss(model))
        gc.collect()
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        score = sts_spearman(model, test)
    return {"library": library, "seconds": seconds, "spearman": score,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["stsb", "steps", "_one"])
    parser.add_argument("--library", default="embedkit")
    parser.add_argument("--model")
    parser.add_argument("--steps", type=int, default=-1, help="max steps (default: one epoch)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="one fine-tune per seed and library")
    args = parser.parse_args()
    if args.what == "_one":
        print(json.dumps(run_stsb(args.library, args.model, args.steps, args.batch, Path(args.data), args.seeds[0])))
        return
    if args.what == "stsb":
        from embedkit.default_model import default_model_path

        model = args.model or default_model_path()
        results: dict[str, list[dict]] = {"embedkit": [], "sentence_transformers": []}
        for seed in args.seeds:
            for library in results:
                out = subprocess.run([sys.executable, __file__, "_one", "--library", library, "--model", model,
                                      "--steps", str(args.steps), "--batch", str(args.batch), "--data", args.data,
                                      "--seeds", str(seed)], capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"{library}: failed or not installed ({out.stderr.strip().splitlines()[-1:]})")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results[library].append(r)
                print(f"{library:>22} seed {seed}: train {r['seconds']:.1f} s, STS-B test Spearman "
                      f"{r['spearman']:.4f}, peak RSS {r['peak_rss_mib']:.0f} MiB")
        ek, st = results["embedkit"], results["sentence_transformers"]
        if ek and st:
            mean = lambda rows, key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
            print(f"speed ratio (ST / embedkit): {mean(st, 'seconds') / mean(ek, 'seconds'):.2f}; mean Spearman "
                  f"embedkit {mean(ek, 'spearman'):.4f}, ST {mean(st, 'spearman'):.4f} over {len(ek)} seed(s)")
        return
    from benchmarks.train_steps import main as steps_main

    steps_main()


if __name__ == "__main__":
    main()
