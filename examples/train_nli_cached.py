"""Contrastive training on NLI (anchor, positive) pairs with CachedMultipleNegativesRankingLoss (GradCache).

    python examples/train_nli_cached.py [--data examples/data/nli_pairs.tsv] [--batch-size 128]
                                        [--mini-batch-size 32] [--test examples/data/stsb/test.tsv]

GradCache makes the in-batch negatives of a 128-row batch cost the activation memory of a 32-row mini-batch;
the update is the one plain MultipleNegativesRankingLoss would make on the whole batch. Prints STS-B test
Spearman before and after (a transfer check, not the training objective).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(HERE / "data" / "nli_pairs.tsv"), help="TSV with anchor, positive")
    parser.add_argument("--test", default=str(HERE / "data" / "stsb" / "test.tsv"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--mini-batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--output", default="output/train_nli_cached")
    args = parser.parse_args()

    from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from embedkit.data import Dataset
    from embedkit.datasets_io import load_sts
    from embedkit.default_model import default_model_path
    from embedkit.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from embedkit.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    train = Dataset.from_csv(args.data)
    test = EmbeddingSimilarityEvaluator(*load_sts(args.test), name="sts-test")
    model = SentenceTransformer(args.model or default_model_path(), device="cpu")
    before = test(model)[test.primary_metric]
    loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=args.mini_batch_size)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
        learning_rate=2e-5, warmup_ratio=0.1, logging_steps=1, save_strategy="no", batch_sampler="no_duplicates",
        seed=12)
    result = SentenceTransformerTrainer(model, training_args, train_dataset=train, loss=loss).train()
    after = test(model)[test.primary_metric]
    print(f"{result.global_step} steps of {args.batch_size} pairs (mini-batches of {args.mini_batch_size}), "
          f"training loss {result.training_loss:.4f}")
    print(f"STS-B test spearman_cosine: before {before:.4f}, after {after:.4f}")


if __name__ == "__main__":
    main()
