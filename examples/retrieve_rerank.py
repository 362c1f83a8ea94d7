"""Retrieve with a bi-encoder, rerank with a CrossEncoder (the reranker from examples/train_reranker.py).

    python examples/retrieve_rerank.py [--reranker output/train_reranker/final] [--data examples/data/scifact]

Prints, for a few SciFact test queries, the bi-encoder's top 3 and the reranked top 3 (a star marks a relevant
abstract), and NDCG@10 of both orders over the test queries.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

HERE = Path(__file__).parent


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reranker", default="output/train_reranker/final")
    parser.add_argument("--data", default=str(HERE / "data" / "scifact"))
    parser.add_argument("--model", default=None, help="bi-encoder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--candidates", type=int, default=20)
    args = parser.parse_args()
    if not Path(args.reranker).is_dir():
        raise SystemExit(f"no reranker at {args.reranker}: run `python examples/train_reranker.py` first "
                         "or pass --reranker PATH")

    from embedkit import CrossEncoder, SentenceTransformer
    from embedkit.datasets_io import load_beir
    from embedkit.default_model import default_model_path
    from embedkit.util import semantic_search

    corpus, queries, qrels = load_beir(args.data, split="test")
    doc_ids = list(corpus)
    bi_encoder = SentenceTransformer(args.model or default_model_path(), device="cpu")
    reranker = CrossEncoder(args.reranker, device="cpu")
    corpus_emb = bi_encoder.encode_document([corpus[d] for d in doc_ids], convert_to_tensor=True, batch_size=64)
    test_ids = sorted(qrels)[: args.queries]
    hits = semantic_search(bi_encoder.encode_query([queries[q] for q in test_ids], convert_to_tensor=True),
                           corpus_emb, top_k=args.candidates)
    dense_ndcg, rerank_ndcg = [], []
    for n, (q, query_hits) in enumerate(zip(test_ids, hits)):
        candidates = [doc_ids[h["corpus_id"]] for h in query_hits]
        ranked = reranker.rank(queries[q], [corpus[d] for d in candidates], batch_size=32)
        reranked = [candidates[h["corpus_id"]] for h in ranked]
        dense_ndcg.append(ndcg_at_10(candidates, qrels[q]))
        rerank_ndcg.append(ndcg_at_10(reranked, qrels[q]))
        if n < 2:
            print(f"query: {queries[q]}")
            for title, order in (("bi-encoder", candidates), ("reranked", reranked)):
                print(f"  {title}:")
                for d in order[:3]:
                    print(f"    {'*' if d in qrels[q] else ' '} {corpus[d][:90]}")
    print(f"NDCG@10 over {len(test_ids)} queries: bi-encoder {sum(dense_ndcg) / len(dense_ndcg):.4f}, "
          f"reranked {sum(rerank_ndcg) / len(rerank_ndcg):.4f}")


if __name__ == "__main__":
    main()
