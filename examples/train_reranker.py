"""Train a reranker (CrossEncoder) from all-MiniLM-L6-v2 on SciFact, with hard negatives mined by the bi-encoder.

    python examples/train_reranker.py [--data examples/data/scifact] [--negatives 3] [--eval-queries 100]
                                      [--epochs 2] [--lr 1e-4] [--max-length 128]

1. Train pairs come from the SciFact train qrels (query, relevant abstract).
2. ``mine_hard_negatives`` retrieves, with the bi-encoder, the abstracts closest to each query that are not its
   positive, and writes labeled pairs (1 for the positive, 0 for the mined negatives).
3. A CrossEncoder starts from MiniLM's encoder with a new one-label head and trains with BinaryCrossEntropyLoss
   (``pos_weight`` balances the 1:negatives labels).
4. ``CrossEncoderRerankingEvaluator`` reranks the bi-encoder's top 20 for held-out test queries: NDCG@10 of the
   bi-encoder order (``base_ndcg@10``) against the reranked order (``ndcg@10``), before and after training.

The model is saved to ``<output>/final``; ``examples/retrieve_rerank.py`` uses it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(HERE / "data" / "scifact"), help="BEIR folder with train/test qrels")
    parser.add_argument("--model", default=None, help="bi-encoder and reranker backbone (default: MiniLM)")
    parser.add_argument("--negatives", type=int, default=3)
    parser.add_argument("--eval-queries", type=int, default=100)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=1e-4, help="a new head on a small encoder tolerates a high rate")
    parser.add_argument("--output", default="output/train_reranker")
    args = parser.parse_args()

    import torch

    from embedkit import CrossEncoder, SentenceTransformer
    from embedkit.base.trainer import CrossEncoderTrainer
    from embedkit.base.training_args import CrossEncoderTrainingArguments
    from embedkit.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from embedkit.cross_encoder.losses import BinaryCrossEntropyLoss
    from embedkit.data import Dataset
    from embedkit.datasets_io import load_beir
    from embedkit.default_model import default_model_path
    from embedkit.util import mine_hard_negatives, semantic_search

    model_path = args.model or default_model_path()
    corpus, train_queries, train_qrels = load_beir(args.data, split="train")
    _, test_queries, test_qrels = load_beir(args.data, split="test")
    doc_ids = list(corpus)
    texts = [corpus[d] for d in doc_ids]
    bi_encoder = SentenceTransformer(model_path, device="cpu")

    pairs = [(train_queries[q], corpus[d]) for q, docs in sorted(train_qrels.items()) for d in sorted(docs)]
    train_pairs = Dataset.from_dict({"query": [q for q, _ in pairs], "answer": [a for _, a in pairs]})
    train = mine_hard_negatives(train_pairs, bi_encoder, corpus=texts, num_negatives=args.negatives,
                                sampling_strategy="top", output_format="labeled-pair", batch_size=64)
    print(f"mined: {len(train)} labeled pairs from {len(pairs)} positives")

    test_ids = sorted(test_qrels)[: args.eval_queries]
    corpus_emb = bi_encoder.encode_document(texts, convert_to_tensor=True, batch_size=64)
    query_emb = bi_encoder.encode_query([test_queries[q] for q in test_ids], convert_to_tensor=True)
    hits = semantic_search(query_emb, corpus_emb, top_k=args.candidates)
    samples = [{"query": test_queries[q], "positive": [corpus[d] for d in test_qrels[q]],
                "documents": [texts[h["corpus_id"]] for h in query_hits]} for q, query_hits in zip(test_ids, hits)]
    evaluator = CrossEncoderRerankingEvaluator(samples, at_k=10, name="scifact-test", batch_size=32)

    reranker = CrossEncoder(model_path, num_labels=1, max_length=args.max_length, device="cpu")
    before = evaluator(reranker)
    loss = BinaryCrossEntropyLoss(reranker, pos_weight=torch.tensor(float(args.negatives)))
    training_args = CrossEncoderTrainingArguments(
        output_dir=args.output, num_train_epochs=args.epochs, per_device_train_batch_size=32, learning_rate=args.lr,
        warmup_ratio=0.1, logging_steps=10, save_strategy="no", seed=12)
    result = CrossEncoderTrainer(reranker, training_args, train_dataset=train, loss=loss).train()
    after = evaluator(reranker)
    key = "scifact-test_ndcg@10"
    print(f"{result.global_step} steps, training loss {result.training_loss:.4f}")
    print(f"bi-encoder top-{args.candidates} NDCG@10 on {len(test_ids)} test queries: "
          f"{after['scifact-test_base_ndcg@10']:.4f}")
    print(f"reranked NDCG@10: untrained head {before[key]:.4f}, trained {after[key]:.4f}")
    reranker.save(f"{args.output}/final")


if __name__ == "__main__":
    main()
