"""``embedkit search``: dense retrieval over a corpus file, optionally reranked by a CrossEncoder or fused with
SPLADE results by reciprocal rank fusion."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from embedkit.cli.inputs import read_text_file


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse ranked id lists: ``score(d) = sum over lists of 1 / (k + rank(d))`` (rank from 1), best first.

    Example:
        >>> [doc for doc, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 1]])]
        [1, 3, 2]
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _corpus_embeddings(model: Any, corpus: list[str], path: str | None, batch_size: int) -> torch.Tensor:
    """Encode the corpus, or reuse ``path`` (.npy) when it exists; a new ``path`` is written for next time."""
    if path and Path(path).is_file():
        emb = np.load(path)
        if emb.ndim != 2 or emb.shape[0] != len(corpus):
            raise ValueError(f"{path} holds {emb.shape[0] if emb.ndim else 0} embeddings for {len(corpus)} corpus "
                             "texts; delete it to re-encode")
        return torch.from_numpy(emb)
    emb = model.encode_document(corpus, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=True)
    if path:
        np.save(path, emb.cpu().numpy())
        print(f"embedkit: saved corpus embeddings to {path}", file=sys.stderr)
    return emb


def _dense_rankings(model: Any, queries: list[str], corpus_emb: torch.Tensor, k: int) -> list[list[tuple[int, float]]]:
    query_emb = model.encode_query(queries, convert_to_tensor=True).to(corpus_emb.device)
    scores = model.similarity(query_emb, corpus_emb.to(query_emb.dtype))  # (Q, N)
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return [list(zip(i.tolist(), s.tolist())) for s, i in zip(top.values, top.indices)]


def _sparse_rankings(model_name: str, queries: list[str], corpus: list[str], k: int, batch_size: int
                     ) -> list[list[int]]:
    from embedkit.sparse_encoder import SparseEncoder

    sparse = SparseEncoder(model_name)
    docs = sparse.encode_document(corpus, batch_size=batch_size, show_progress_bar=True)
    query_vectors = sparse.encode_query(queries, batch_size=batch_size)
    scores = sparse.similarity(query_vectors, docs)
    scores = scores.to_dense() if scores.is_sparse else scores  # (Q, N)
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return [i.tolist() for i in top.indices]


def run(args: argparse.Namespace, model_path: str) -> int:
    from embedkit.sentence_transformer.model import SentenceTransformer

    corpus = read_text_file(args.corpus, field=args.field, column=args.column)
    if not corpus:
        raise ValueError(f"{args.corpus} holds no texts")
    if args.top_k <= 0:
        raise ValueError(f"--top-k must be positive, got {args.top_k}")
    model = SentenceTransformer(model_path)
    corpus_emb = _corpus_embeddings(model, corpus, args.corpus_embeddings, args.batch_size)
    candidates = max(args.top_k, args.candidates) if (args.rerank or args.sparse) else args.top_k
    dense = _dense_rankings(model, args.query, corpus_emb, candidates)
    results: list[list[tuple[int, float]]] = dense
    if args.sparse:
        sparse = _sparse_rankings(args.sparse, args.query, corpus, candidates, args.batch_size)
        results = [reciprocal_rank_fusion([[doc for doc, _ in d], s], k=args.rrf_k)
                   for d, s in zip(dense, sparse)]
    if args.rerank:
        from embedkit.cross_encoder import CrossEncoder

        reranker = CrossEncoder(args.rerank)
        reranked = []
        for query, hits in zip(args.query, results):
            ids = [doc for doc, _ in hits]
            ranked = reranker.rank(query, [corpus[i] for i in ids], batch_size=args.batch_size)
            reranked.append([(ids[hit["corpus_id"]], hit["score"]) for hit in ranked])
        results = reranked
    for query, hits in zip(args.query, results):
        for rank, (doc, score) in enumerate(hits[: args.top_k], 1):
            row = {"query": query, "rank": rank, "corpus_id": doc, "score": round(float(score), 6),
                   "text": corpus[doc]}
            print(json.dumps(row, ensure_ascii=False) if args.format == "jsonl"
                  else "\t".join(str(row[k]) for k in ("query", "rank", "score", "text")))
    return 0
