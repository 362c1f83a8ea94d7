"""DDP vs one process, fp32, real all-MiniLM-L6-v2: how far one trainer step of 2 gloo processes moves fixed probe
texts compared with one process on the same 8 rows (AdamW with adam_epsilon=1, so the update is linear in the
gradient).

    python benchmarks/ddp_parity.py [--model PATH]

Prints, per loss, max |probe embedding change (DDP) - change (single)| / max |change (single)|.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAIRS = {"anchor": ["A man is eating food.", "A woman plays the violin.", "Two dogs run in a field.",
                    "The stock market fell today.", "A child is reading a book.", "It is raining in the city.",
                    "A chef cooks pasta.", "The train arrives at noon."],
         "positive": ["Someone is having a meal.", "A musician performs on strings.", "Pets are running on grass.",
                      "Shares dropped sharply.", "A kid enjoys a story.", "Wet weather downtown.",
                      "Noodles are being prepared.", "The railway service is on time."],
         "score": [0.9, 0.8, 0.85, 0.7, 0.75, 0.6, 0.8, 0.65]}
PROBES = ["How do plants make energy?", "A person plays an instrument.", "Markets and money."]
CASES = {"MNRL gather": ("mnrl", 4, 1), "CachedMNRL gather": ("cmnrl", 4, 1),
         "CosineSimilarity accum 2": ("cosine", 2, 2)}


def build(model, kind, world):
    from embedkit.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        CosineSimilarityLoss,
        MultipleNegativesRankingLoss,
    )

    gather = world > 1
    if kind == "mnrl":
        return MultipleNegativesRankingLoss(model, gather_across_devices=gather), ["anchor", "positive"]
    if kind == "cmnrl":
        return CachedMultipleNegativesRankingLoss(model, mini_batch_size=2, gather_across_devices=gather), [
            "anchor", "positive"]
    return CosineSimilarityLoss(model), ["anchor", "positive", "score"]


def train_once(model_path, kind, per_device, accum, out, world):
    from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    model = SentenceTransformer(model_path, device="cpu")
    for module in model.modules():  # dropout off: compare the algorithms, not random masks
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "dropout_p"):
            module.dropout_p = 0.0
    loss, columns = build(model, kind, world)
    args = SentenceTransformerTrainingArguments(output_dir=out, max_steps=1, per_device_train_batch_size=per_device,
                                                gradient_accumulation_steps=accum, adam_epsilon=1.0,
                                                learning_rate=5.0, save_strategy="no", disable_tqdm=True)
    SentenceTransformerTrainer(model, args, train_dataset={c: PAIRS[c] for c in columns}, loss=loss).train()
    return model.encode(PROBES)


def worker(rank, port, model_path, kind, per_device, accum, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    probes = train_once(model_path, kind, per_device, accum, out, 2)
    if rank == 0:
        np.save(os.path.join(out, "probes.npy"), probes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    args = parser.parse_args()
    from embedkit import SentenceTransformer
    from embedkit.default_model import default_model_path

    path = args.model or default_model_path()
    before = SentenceTransformer(path, device="cpu").encode(PROBES)
    for name, (kind, per_device, accum) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            mp.spawn(worker, args=(port, path, kind, per_device, accum, tmp), nprocs=2, join=True)
            ddp = np.load(os.path.join(tmp, "probes.npy"))
            single = train_once(path, kind, per_device * 2, accum, tmp + "/single", 1)
        moved = np.abs(single - before).max()
        print(f"{name:>26}: step moved probes by {moved:.3e}; DDP vs single differs by "
              f"{np.abs(ddp - single).max() / moved:.2e} of that")


if __name__ == "__main__":
    main()
