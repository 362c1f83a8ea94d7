"""Import cost of embedkit (and of sentence-transformers when installed) beyond ``import torch``.

    python benchmarks/import_time.py [--repeat 7]

Each measurement is a fresh interpreter; the median of ``--repeat`` runs is printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

STATEMENTS = {
    "torch": "import torch",
    "embedkit": "import torch, embedkit; from embedkit import SentenceTransformer",
    "sentence_transformers": "import torch; from sentence_transformers import SentenceTransformer",
}


def seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for name, statement in STATEMENTS.items():
        try:
            results[name] = statistics.median(seconds(statement) for _ in range(args.repeat))
        except subprocess.CalledProcessError:
            print(f"{name}: not installed")
    base = results["torch"]
    print(f"import torch: {base:.3f} s (median of {args.repeat})")
    for name in ("embedkit", "sentence_transformers"):
        if name in results:
            print(f"{name} beyond torch: {results[name] - base:.3f} s")


if __name__ == "__main__":
    main()
