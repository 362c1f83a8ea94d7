"""Fine-tune all-MiniLM-L6-v2 on STS Benchmark with CoSENTLoss; Spearman on STS-B test before and after.

    python examples/train_sts.py [--train examples/data/stsb/train.tsv] [--test examples/data/stsb/test.tsv]
                                 [--epochs 1] [--batch-size 16]

The default data is the complete STS-B train and test split shipped in examples/data (a few minutes on a CPU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", default=str(HERE / "data" / "stsb" / "train.tsv"))
    parser.add_argument("--test", default=str(HERE / "data" / "stsb" / "test.tsv"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default="output/train_sts")
    args = parser.parse_args()

    from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from embedkit.data import Dataset
    from embedkit.datasets_io import load_sts
    from embedkit.default_model import default_model_path
    from embedkit.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from embedkit.sentence_transformer.losses import CoSENTLoss

    s1, s2, scores = load_sts(args.train)  # scores scaled to 0-1
    train = Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": scores})
    test = EmbeddingSimilarityEvaluator(*load_sts(args.test), name="sts-test")
    model = SentenceTransformer(args.model or default_model_path(), device="cpu")
    before = test(model)[test.primary_metric]
    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
        learning_rate=2e-5, warmup_ratio=0.1, logging_steps=25, save_strategy="no", seed=12)
    result = SentenceTransformerTrainer(model, training_args, train_dataset=train, loss=CoSENTLoss(model)).train()
    after = test(model)[test.primary_metric]
    print(f"{result.global_step} steps, training loss {result.training_loss:.4f}")
    print(f"STS-B test spearman_cosine: before {before:.4f}, after {after:.4f}")
    model.save(f"{args.output}/final")


if __name__ == "__main__":
    main()
