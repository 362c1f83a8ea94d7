"""Fine-tune a LoRA adapter on all-MiniLM-L6-v2 with CoSENTLoss on STS Benchmark; Spearman on STS-B test before and
after, and the saved adapter reloaded on its own.

    python examples/train_lora.py [--train examples/data/stsb/train.tsv] [--test examples/data/stsb/test.tsv]
                                  [--rank 8] [--epochs 1] [--batch-size 16]

Only the adapter (rank-8 matrices on the query and value projections: PEFT's default targets for BERT) trains; the
network's weights stay as they are, and the saved folder holds the adapter alone (adapter_config.json +
adapter_model.safetensors, naming the base model), which sentence-transformers with peft also loads.
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
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--output", default="output/train_lora")
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
    import torch

    torch.manual_seed(12)  # the adapter's A matrices start random (B at zero), drawn here, before the trainer's seed
    model.add_adapter({"r": args.rank, "lora_alpha": 2 * args.rank, "lora_dropout": 0.1})
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    training_args = SentenceTransformerTrainingArguments(
        output_dir=args.output, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
        learning_rate=5e-4, warmup_steps=0.1, logging_steps=25, save_strategy="no", seed=12)
    result = SentenceTransformerTrainer(model, training_args, train_dataset=train, loss=CoSENTLoss(model)).train()
    after = test(model)[test.primary_metric]
    folder = Path(args.output) / "adapter"
    model.save(str(folder))
    reloaded = test(SentenceTransformer(str(folder), device="cpu"))[test.primary_metric]
    size = (folder / "adapter_model.safetensors").stat().st_size
    print(f"{trainable:,} of {total:,} parameters trained; {result.global_step} steps, training loss "
          f"{result.training_loss:.4f}")
    print(f"STS-B test spearman_cosine: before {before:.4f}, after {after:.4f}, adapter reloaded {reloaded:.4f}")
    print(f"saved adapter: {size / 1024:.0f} KiB in {folder}")


if __name__ == "__main__":
    main()
