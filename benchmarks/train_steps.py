"""Training step time and peak memory: plain vs gradient accumulation vs GradCache vs activation checkpointing
(``model.gradient_checkpointing_enable()``), MNRL on NLI pairs.

    python benchmarks/train.py steps            # or: python benchmarks/train_steps.py [--model PATH] [--repeat 2]

Each configuration runs in a fresh process: the model is loaded, one warm-up step runs, then ``--repeat`` timed
steps. "step memory" is the peak RSS during training minus the RSS before the first step (weights, optimizer
state allocated lazily by the first step, activations), so it compares what the step itself needs. All
configurations cycle the same 64 NLI pairs, so a mini-batch's padded length does not depend on the batch size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = [  # (name, loss, batch, mini_batch, accumulation)
    ("MNRL b=64", "plain", 64, None, 1),
    ("MNRL b=32 x accum 2", "plain", 32, None, 2),
    ("CachedMNRL b=64 mb=32", "cached", 64, 32, 1),
    ("MNRL b=1024", "plain", 1024, None, 1),
    ("CachedMNRL b=1024 mb=32", "cached", 1024, 32, 1),
    ("MNRL b=256", "plain", 256, None, 1),
    ("MNRL b=256 checkpointed", "plain-checkpointed", 256, None, 1),
    ("MNRL b=64 checkpointed", "plain-checkpointed", 64, None, 1),
]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def one(model_path: str, loss_kind: str, batch: int, mini: int | None, accum: int, repeat: int) -> dict:
    import torch

    from embedkit import SentenceTransformer
    from embedkit.sentence_transformer.losses import CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss

    pairs = [line.split("\t") for line in (ROOT / "examples" / "data" / "nli_pairs.tsv").read_text().splitlines()[1:]]
    # Every configuration cycles the same 64 pairs, so each mini-batch of 32 holds texts of the same lengths
    # whatever the batch size: the memory comparison then isolates the batch size from the longest-text effect
    # (a bigger batch of real data also holds longer texts, and activations grow with T and T^2).
    pairs = pairs[:64]
    while len(pairs) < batch * accum:
        pairs = pairs + pairs
    anchors, positives = [p[0] for p in pairs], [p[1].rstrip("\n") for p in pairs]
    model = SentenceTransformer(model_path, device="cpu")
    if loss_kind == "plain-checkpointed":
        model.gradient_checkpointing_enable()
    loss = (CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini) if loss_kind == "cached"
            else MultipleNegativesRankingLoss(model))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step(offset: int) -> None:
        for micro in range(accum):
            rows = slice(offset + micro * batch, offset + (micro + 1) * batch)
            features = [model.preprocess(anchors[rows]), model.preprocess(positives[rows])]
            (loss(features, None) / accum).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    model.train()
    before = rss_mib()
    step(0)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step(0)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": min(times), "step_mib": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--_one", nargs=4)
    parser.add_argument("--only", help="comma-separated configuration names to run (default: all)")
    args = parser.parse_args()
    if args._one:
        kind, batch, mini, accum = args._one
        print(json.dumps(one(args.model, kind, int(batch), None if mini == "None" else int(mini), int(accum),
                             args.repeat)))
        return
    from embedkit.default_model import default_model_path

    model = args.model or default_model_path()
    results = {}
    print(f"{'configuration':>26} | {'step s':>7} | {'step memory MiB':>15}")
    wanted = set(args.only.split(",")) if args.only else None
    for name, kind, batch, mini, accum in CONFIGS:
        if wanted is not None and name not in wanted:
            continue
        out = subprocess.run([sys.executable, __file__, "--model", model, "--repeat", str(args.repeat), "--_one",
                              kind, str(batch), str(mini), str(accum)], capture_output=True, text=True)
        if out.returncode:
            print(f"{name:>26} | failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        results[name] = r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:>26} | {r['seconds']:7.2f} | {r['step_mib']:15.0f}")
    c64, c1024 = results.get("CachedMNRL b=64 mb=32"), results.get("CachedMNRL b=1024 mb=32")
    if c64 and c1024:
        print(f"GradCache memory, batch 1024 vs 64 (mini-batch 32): {c1024['step_mib'] / c64['step_mib']:.2f}x")
    if c64 and "MNRL b=64" in results:
        print(f"GradCache step time vs plain at batch 64: {c64['seconds'] / results['MNRL b=64']['seconds']:.2f}x")


if __name__ == "__main__":
    main()
