"""Hybrid retrieval: dense (all-MiniLM-L6-v2) + sparse lexical vectors, fused by reciprocal rank fusion (RRF).

    python examples/hybrid_search.py [--data examples/data/scifact] [--sparse PATH] [--rrf-k 60]

The sparse side is a SparseEncoder. With ``--sparse PATH`` it is any SPLADE model; by default the example builds an
inference-free one from the corpus itself, with no training: a Router whose query route weighs each query token by
its IDF over the corpus (SparseStaticEmbedding) and whose document route marks the tokens a document contains, so
a query-document score is the summed IDF of their shared tokens. Prints NDCG@10 of dense, sparse and fused
rankings on the SciFact test queries, and saves the lexical model as a SparseEncoder folder.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

HERE = Path(__file__).parent


def ndcg_at_10(ranked: list[int], relevant: set[int]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    return dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))


def lexical_sparse_encoder(tokenizer_folder: str, documents: list[str]):
    """A Router SparseEncoder: queries -> IDF-weighted token presence, documents -> token presence."""
    import torch

    from embedkit.sentence_transformer.modules import Router
    from embedkit.sparse_encoder import SparseEncoder
    from embedkit.sparse_encoder.modules.sparse_static_embedding import SparseStaticEmbedding

    presence = SparseStaticEmbedding(tokenizer_folder, frozen=True)
    df = torch.zeros(presence.get_embedding_dimension())
    with torch.inference_mode():
        for start in range(0, len(documents), 256):
            rows = presence(presence.preprocess(documents[start : start + 256]))["sentence_embedding"]
            df += (rows > 0).sum(dim=0)
    n = len(documents)
    idf = torch.log(1 + (n - df + 0.5) / (df + 0.5))  # BM25's IDF
    query = SparseStaticEmbedding(tokenizer_folder, weight=idf, frozen=True)
    return SparseEncoder(modules=[Router.for_query_document([query], [presence])], device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(HERE / "data" / "scifact"), help="BEIR folder")
    parser.add_argument("--model", default=None, help="dense model (default: all-MiniLM-L6-v2)")
    parser.add_argument("--sparse", default=None, help="a SparseEncoder folder (default: built from the corpus)")
    parser.add_argument("--rrf-k", type=int, default=60)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--output", default="output/hybrid_search")
    args = parser.parse_args()

    import torch

    from embedkit import SentenceTransformer, SparseEncoder
    from embedkit.cli.search import reciprocal_rank_fusion
    from embedkit.datasets_io import load_beir
    from embedkit.default_model import default_model_path

    corpus, queries, qrels = load_beir(args.data, split="test")
    doc_ids = list(corpus)
    documents = [corpus[d] for d in doc_ids]
    position = {d: i for i, d in enumerate(doc_ids)}
    query_ids = sorted(qrels)
    query_texts = [queries[q] for q in query_ids]
    relevant = [{position[d] for d in qrels[q]} for q in query_ids]

    dense_path = args.model or default_model_path()
    dense = SentenceTransformer(dense_path, device="cpu")
    dense_scores = dense.similarity(dense.encode_query(query_texts, convert_to_tensor=True),
                                    dense.encode_document(documents, convert_to_tensor=True, batch_size=64))
    sparse = SparseEncoder(args.sparse, device="cpu") if args.sparse else lexical_sparse_encoder(dense_path, documents)
    doc_vectors = sparse.encode_document(documents, batch_size=64)
    query_vectors = sparse.encode_query(query_texts)
    sparse_scores = sparse.similarity(query_vectors, doc_vectors)
    sparse_scores = sparse_scores.to_dense() if sparse_scores.is_sparse else sparse_scores
    print(f"sparse vectors: queries {sparse.sparsity(query_vectors)['active_dims']:.1f} active dims, "
          f"documents {sparse.sparsity(doc_vectors)['active_dims']:.1f}")

    k = min(args.candidates, len(documents))
    dense_top = torch.topk(dense_scores, k, dim=1).indices.tolist()
    sparse_top = torch.topk(sparse_scores, k, dim=1).indices.tolist()
    fused_top = [[doc for doc, _ in reciprocal_rank_fusion([d, s], k=args.rrf_k)]
                 for d, s in zip(dense_top, sparse_top)]
    for name, ranking in (("dense", dense_top), ("sparse", sparse_top), ("fused (RRF)", fused_top)):
        score = sum(ndcg_at_10(r, rel) for r, rel in zip(ranking, relevant)) / len(relevant)
        print(f"NDCG@10 {name:>12}: {score:.4f}  ({len(relevant)} SciFact test queries, {len(documents)} documents)")
    if not args.sparse:
        sparse.save(f"{args.output}/lexical_sparse_encoder")
        print(f"saved the lexical SparseEncoder to {args.output}/lexical_sparse_encoder")


if __name__ == "__main__":
    main()
