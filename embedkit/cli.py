"""The ``embedkit`` command line: ``encode``, ``search`` and ``info`` on the embedded default model or any model.

Errors are one clear line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any


def _model_path(name: str | None) -> str:
    from .default_model import default_model_path

    if name:
        return name
    path = default_model_path(report=True)
    print(f"embedkit: using the default model all-MiniLM-L6-v2 from {path}", file=sys.stderr)
    return path


def _read_texts(args: argparse.Namespace) -> list[str]:
    texts = list(args.texts or [])
    if args.file:
        path = Path(args.file)
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.suffix == ".jsonl":
            texts += [json.loads(line)[args.field] for line in lines if line.strip()]
        elif path.suffix == ".tsv":
            texts += [line.split("\t")[args.column] for line in lines if line.strip()]
        else:
            texts += [line for line in lines if line.strip()]
    if not texts:
        raise ValueError("no texts: give them as arguments or with --file")
    return texts


def _encode(args: argparse.Namespace) -> int:
    import numpy as np

    from .sentence_transformer import SentenceTransformer

    texts = _read_texts(args)
    model = SentenceTransformer(_model_path(args.model))
    emb = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=args.normalize,
                       precision=args.precision, prompt_name=args.prompt_name, show_progress_bar=True)
    if args.output and args.output.endswith(".npy"):
        np.save(args.output, emb)
        print(f"embedkit: wrote {emb.shape} {emb.dtype} to {args.output}", file=sys.stderr)
        return 0
    stream = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for text, vector in zip(texts, emb):
            stream.write(json.dumps({"text": text, "embedding": vector.tolist()}, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            stream.close()
    return 0


def _search(args: argparse.Namespace) -> int:
    from .sentence_transformer import SentenceTransformer
    from .util import semantic_search

    corpus = [line for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not corpus:
        raise ValueError(f"{args.corpus} holds no texts")
    model = SentenceTransformer(_model_path(args.model))
    corpus_emb = model.encode_document(corpus, batch_size=args.batch_size, convert_to_tensor=True)
    query_emb = model.encode_query(args.query, convert_to_tensor=True)
    hits = semantic_search(query_emb, corpus_emb, top_k=args.top_k, score_function=model.similarity)
    for query, query_hits in zip(args.query, hits):
        for rank, hit in enumerate(query_hits, 1):
            row: dict[str, Any] = {"query": query, "rank": rank, "corpus_id": hit["corpus_id"],
                                   "score": round(hit["score"], 4), "text": corpus[hit["corpus_id"]]}
            print(json.dumps(row, ensure_ascii=False) if args.format == "jsonl"
                  else "\t".join(str(row[k]) for k in ("query", "rank", "score", "text")))
    return 0


def _info(args: argparse.Namespace) -> int:
    from .sentence_transformer import SentenceTransformer

    model = SentenceTransformer(_model_path(args.model), device="cpu")
    info = {
        "modules": [f"{name}: {type(m).__name__}" for name, m in model.named_children()],
        "embedding_dimension": model.get_embedding_dimension(),
        "max_seq_length": model.max_seq_length,
        "similarity_fn_name": model.similarity_fn_name,
        "prompts": model.prompts,
        "default_prompt_name": model.default_prompt_name,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    print(json.dumps(info, indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embedkit", description="Sentence embeddings in plain PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="embed texts (arguments or --file) to .npy or JSONL")
    enc.add_argument("texts", nargs="*")
    enc.add_argument("--file", help="one text per line, or .jsonl (--field) / .tsv (--column)")
    enc.add_argument("--field", default="text")
    enc.add_argument("--column", type=int, default=0)
    enc.add_argument("--output", help="path ending in .npy, else JSONL (default: stdout)")
    enc.add_argument("--normalize", action="store_true")
    enc.add_argument("--precision", default="float32", choices=["float32", "int8", "uint8", "binary", "ubinary"])
    enc.add_argument("--prompt-name")
    srch = sub.add_parser("search", help="top-k corpus lines for each query")
    srch.add_argument("--corpus", required=True, help="text file, one document per line")
    srch.add_argument("--query", action="append", required=True, help="repeat for several queries")
    srch.add_argument("--top-k", type=int, default=5)
    srch.add_argument("--format", choices=["tsv", "jsonl"], default="tsv")
    inf = sub.add_parser("info", help="describe a model")
    for p in (enc, srch, inf):
        p.add_argument("--model", help="folder or Hub id (default: all-MiniLM-L6-v2)")
        p.add_argument("--batch-size", type=int, default=32)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="embedkit: %(message)s")
    handlers = {"encode": _encode, "search": _search, "info": _info}
    try:
        return handlers[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, OSError, KeyError) as exc:
        print(f"embedkit: error: {exc}", file=sys.stderr)
        return 1
