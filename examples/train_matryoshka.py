"""Matryoshka training (MatryoshkaLoss around CoSENTLoss) and truncate_dim inference.

    python examples/train_matryoshka.py [--train examples/data/stsb/train.tsv] [--dims 384 256 128 64 32]

Trains all-MiniLM-L6-v2 so that the leading 256/128/64/32 dimensions of its embeddings are embeddings too, then
evaluates STS-B test Spearman at each dimension with ``truncate_dim``, before and after training.
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
    parser.add_argument("--dims", type=int, nargs="+", default=[384, 256, 128, 64, 32])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--output", default="output/train_matryoshka")
    args = parser.parse_args()

    from embedkit import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from embedkit.data import Dataset
    from embedkit.datasets_io import load_sts
    from embedkit.default_model import default_model_path
    from embedkit.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from embedkit.sentence_transformer.losses import CoSENTLoss, MatryoshkaLoss

    s1, s2, scores = load_sts(args.train)
    train = Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": scores})
    test_data = load_sts(args.test)

    def spearman_per_dim(model: SentenceTransformer) -> dict[int, float]:
        out = {}
        for dim in args.dims:
            evaluator = EmbeddingSimilarityEvaluator(*test_data, name=f"sts-test-{dim}", truncate_dim=dim)
            out[dim] = evaluator(model)[evaluator.primary_metric]
        return out

    model = SentenceTransformer(args.model or default_model_path(), device="cpu")
    before = spearman_per_dim(model)
    loss = MatryoshkaLoss(model, CoSENTLoss(model), matryoshka_dims=args.dims)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output, num_train_epochs=args.epochs, per_device_train_batch_size=16, learning_rate=2e-5,
        warmup_ratio=0.1, logging_steps=25, save_strategy="no", seed=12)
    SentenceTransformerTrainer(model, training_args, train_dataset=train, loss=loss).train()
    after = spearman_per_dim(model)
    print("dim  spearman_cosine before -> after")
    for dim in args.dims:
        print(f"{dim:>4}  {before[dim]:.4f} -> {after[dim]:.4f}")
    model.save(f"{args.output}/final")
    small = SentenceTransformer(f"{args.output}/final", truncate_dim=min(args.dims), device="cpu")
    print(f"reloaded with truncate_dim={min(args.dims)}: embeddings of shape {small.encode(['hello']).shape}")


if __name__ == "__main__":
    main()
