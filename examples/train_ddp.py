"""Contrastive training with MultipleNegativesRankingLoss across processes (DDP), runnable on CPU.

    torchrun --nproc_per_node=2 examples/train_ddp.py [--data examples/data/nli_pairs.tsv] [--steps 20]
    python examples/train_ddp.py                                  # the same script, one process

Every rank gets a disjoint slice of each global batch; ``gather_across_devices=True`` makes every rank's queries
see the documents of all ranks as negatives, so the update equals one process training on the global batch.
Rank 0 logs, evaluates and saves.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(HERE / "data" / "nli_pairs.tsv"), help="TSV with anchor, positive")
    parser.add_argument("--model", default=None, help="model folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16, help="per process")
    parser.add_argument("--output", default="output/train_ddp")
    args = parser.parse_args()

    import torch

    from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from embedkit.data import Dataset
    from embedkit.default_model import default_model_path
    from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // int(os.environ.get("WORLD_SIZE", "1"))))
    data = Dataset.from_csv(args.data)
    train, held_out = data.select(range(len(data) - 64)), data.select(range(len(data) - 64, len(data)))
    model = SentenceTransformer(args.model or default_model_path(), device="cpu")
    loss = MultipleNegativesRankingLoss(model, gather_across_devices=True)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
        learning_rate=2e-5, warmup_ratio=0.1, logging_steps=5, eval_strategy="steps", eval_steps=args.steps,
        save_strategy="steps", save_steps=args.steps, batch_sampler="no_duplicates", seed=12)
    trainer = SentenceTransformerTrainer(model, training_args, train_dataset=train, eval_dataset=held_out, loss=loss)
    result = trainer.train()
    if int(os.environ.get("RANK", "0")) == 0:
        final_eval = [h for h in trainer.state.log_history if "eval_loss" in h][-1]["eval_loss"]
        print(f"world size {os.environ.get('WORLD_SIZE', '1')}: {result.global_step} steps, "
              f"training loss {result.training_loss:.4f}, held-out MNRL loss {final_eval:.4f}")
        model.save(os.path.join(args.output, "final"))


if __name__ == "__main__":
    main()
