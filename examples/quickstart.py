"""Quickstart: encode, similarity and semantic search with the embedded default model (offline).

    python examples/quickstart.py [--corpus examples/data/corpus.txt] [--model PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(HERE / "data" / "corpus.txt"), help="one document per line")
    parser.add_argument("--model", default=None, help="model folder or Hub id (default: all-MiniLM-L6-v2)")
    args = parser.parse_args()

    from embedkit import SentenceTransformer
    from embedkit.default_model import default_model_path
    from embedkit.util import semantic_search

    model = SentenceTransformer(args.model or default_model_path(), device="cpu")
    sentences = ["The cat sits outside", "A man is playing guitar", "The new movie is awesome"]
    embeddings = model.encode(sentences)
    print(f"embeddings: {embeddings.shape}")
    similarities = model.similarity(embeddings, embeddings)
    for i, sentence in enumerate(sentences):
        print(f"  {sentence!r:28} " + " ".join(f"{float(s):.4f}" for s in similarities[i]))

    corpus = [line for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus_embeddings = model.encode_document(corpus, convert_to_tensor=True)
    queries = ["How do plants make energy?", "What is the biggest ocean?"]
    hits = semantic_search(model.encode_query(queries, convert_to_tensor=True), corpus_embeddings, top_k=2)
    for query, query_hits in zip(queries, hits):
        print(f"query: {query}")
        for hit in query_hits:
            print(f"  {hit['score']:.4f}  {corpus[hit['corpus_id']]}")


if __name__ == "__main__":
    main()
