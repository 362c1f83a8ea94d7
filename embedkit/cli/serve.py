"""``embedkit serve``: its options (building them imports neither torch nor numpy) and the command itself."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from embedkit.cli.inputs import port_number, positive_int
from embedkit.cli.model_loading import add_quantize_argument, load_model

SERVE_EPILOG = """\
routes:
  POST /v1/embeddings  OpenAI: {"input": str | [str], "model", "dimensions", "encoding_format": "float"|"base64"}
  POST /embed          text-embeddings-inference: {"inputs", "normalize": true, "truncate", "prompt_name"}
  POST /embed_sparse   {"inputs", "truncate", "prompt_name"} -> [[{"index", "value"}, ...]]   (needs --sparse)
  POST /rerank         {"query", "texts", "raw_scores", "return_text", "truncate"}         (needs --reranker)
  GET  /health, /info, /metrics (Prometheus text)

Concurrent requests are batched (length-sorted, at most --max-batch-tokens padded tokens and --max-batch-size
inputs, after waiting at most --max-wait-ms; --batch-workers batches run at once); each request gets the embeddings
encode() gives for its inputs alone.
A full queue answers 429 with Retry-After; SIGTERM or SIGINT stops accepting, finishes in-flight requests, exits 0.
"""


def add_serve_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``serve`` sub-command to ``sub`` and return its parser."""
    srv = sub.add_parser("serve", help="HTTP server: OpenAI and text-embeddings-inference embedding, rerank and "
                         "sparse routes", description="Serve a SentenceTransformer over HTTP/1.1 (keep-alive), "
                         "optionally with a CrossEncoder reranker and a SparseEncoder.", epilog=SERVE_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    srv.add_argument("model_name", nargs="?", metavar="MODEL",
                     help="SentenceTransformer folder or Hub id (same as --model; default: all-MiniLM-L6-v2)")
    srv.add_argument("--model", help="folder or Hub id (default: all-MiniLM-L6-v2)")
    srv.add_argument("--reranker", metavar="PATH", help="CrossEncoder served on POST /rerank")
    srv.add_argument("--sparse", metavar="PATH", help="SparseEncoder served on POST /embed_sparse")
    add_quantize_argument(srv)
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    srv.add_argument("--port", type=port_number, default=8080, help="port (0: a free one; default: 8080)")
    srv.add_argument("--max-batch-tokens", type=positive_int, default=16384,
                     help="padded tokens per forward pass (default: 16384)")
    srv.add_argument("--max-batch-size", type=positive_int, default=128, help="inputs per forward pass (default: 128)")
    srv.add_argument("--max-wait-ms", type=float, default=2.0,
                     help="how long a request waits for others to batch with (default: 2)")
    srv.add_argument("--batch-workers", type=positive_int, default=2,
                     help="batches run at once: one tokenizes and pools while another runs the model (default: 2)")
    srv.add_argument("--max-queued-inputs", type=positive_int, default=4096,
                     help="inputs queued or running before requests get 429 (default: 4096)")
    srv.add_argument("--max-inputs-per-request", type=positive_int, default=512,
                     help="inputs in one request before 413 (default: 512)")
    srv.add_argument("--max-input-tokens", type=positive_int,
                     help="longest input in tokens (default and upper bound: the model's max_seq_length)")
    srv.add_argument("--truncate", action=argparse.BooleanOptionalAction, default=True,
                     help="default of the requests' truncate field: cut longer inputs (default) or answer 413")
    srv.add_argument("--request-timeout", type=float, default=30.0,
                     help="seconds before a request is answered 504 (default: 30)")
    srv.add_argument("--idle-timeout", type=float, default=60.0,
                     help="seconds a connection may wait between requests before it is closed (default: 60)")
    srv.add_argument("--max-body-bytes", type=positive_int, default=2 * 1024 * 1024,
                     help="largest request body before 413 (default: 2 MiB)")
    srv.add_argument("--heap-trim-interval", type=float, default=10.0,
                     help="seconds between returns of the C heap's free memory to the system under constant load "
                     "(also whenever the queue runs empty; 0: never; default: 10); while on, all threads allocate from "
                     "glibc's main arena, which a trim reaches whole (unless MALLOC_ARENA_MAX is set)")
    srv.add_argument("--optimize-for-inference", action=argparse.BooleanOptionalAction, default=None,
                     help="serve encoders with oneDNN's prepared weights (optimize_for_inference(): the same "
                     "embeddings to float rounding, short-text batches faster, no extra memory; the server never "
                     "trains); default: on CPUs where the engine's GEMMs run on oneDNN (AVX-512), off elsewhere "
                     "(AVX2-only: no faster for batches)")
    srv.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                     help="start serving without first building the oneDNN kernels of every batch size (starts ~1 s "
                     "sooner; memory then grows for minutes under load as new batch sizes arrive)")
    return srv


def _check(args: argparse.Namespace) -> None:
    """What argparse's types do not check (the integer limits and the port are checked there)."""
    if args.max_wait_ms < 0 or args.request_timeout <= 0 or args.idle_timeout <= 0 or args.heap_trim_interval < 0:
        raise ValueError("--max-wait-ms and --heap-trim-interval must be >= 0, "
                         "--request-timeout and --idle-timeout > 0")
    if args.max_inputs_per_request > args.max_queued_inputs:
        raise ValueError("--max-inputs-per-request cannot exceed --max-queued-inputs")


def _check_kinds(path: str, args: argparse.Namespace) -> None:
    """Each model is of the kind its route serves (read from local folders, before any model loads)."""
    from embedkit.cli import refuse_other_kind
    from embedkit.cli.search import check_companion_models

    refuse_other_kind(path, "SentenceTransformer", "MODEL")
    check_companion_models(args.reranker, args.sparse, reranker_option="--reranker")


def _optimize_for_inference(models: list, wanted: bool | None) -> None:
    """``model.optimize_for_inference()`` on each loaded model when ``wanted`` (None: where the engine's GEMMs run on
    oneDNN by default); says on stderr how many it prepared."""
    from embedkit.encoders.engine import DEFAULT_OPTIONS

    if not (DEFAULT_OPTIONS.gemms_on_onednn() if wanted is None else wanted):
        return
    served = [model for model in models if model is not None]
    prepared = sum(model.optimize_for_inference().optimized_for_inference for model in served)
    print(f"embedkit: optimize_for_inference: {prepared} of {len(served)} served models on oneDNN's prepared weights",
          file=sys.stderr, flush=True)


def run(args: argparse.Namespace, model_path: Callable[[str | None], str]) -> int:
    """Load the models and serve until SIGTERM/SIGINT."""
    _check(args)  # before any model loads
    if args.heap_trim_interval > 0:  # before any thread allocates: all of them then on the heap a trim reaches whole
        from embedkit.serve.heap import use_one_arena

        use_one_arena()
    from embedkit.cli import model_argument
    from embedkit.cross_encoder import CrossEncoder
    from embedkit.sentence_transformer.model import SentenceTransformer
    from embedkit.serve.app import EmbeddingServer, ServeConfig, run_server
    from embedkit.sparse_encoder import SparseEncoder

    name = model_argument(args)
    path = model_path(name)
    _check_kinds(path, args)
    model = load_model(SentenceTransformer, path, args.quantize)
    reranker = load_model(CrossEncoder, args.reranker, args.quantize) if args.reranker else None
    sparse = load_model(SparseEncoder, args.sparse, args.quantize) if args.sparse else None
    _optimize_for_inference([model, reranker, sparse], args.optimize_for_inference)
    config = ServeConfig(host=args.host, port=args.port, max_batch_tokens=args.max_batch_tokens,
                         max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                         max_queued_inputs=args.max_queued_inputs, max_inputs_per_request=args.max_inputs_per_request,
                         max_input_tokens=args.max_input_tokens, truncate=args.truncate,
                         request_timeout_s=args.request_timeout, idle_timeout_s=args.idle_timeout,
                         max_body_bytes=args.max_body_bytes, heap_trim_interval_s=args.heap_trim_interval,
                         warm_up=args.warm_up, batch_workers=args.batch_workers)
    server = EmbeddingServer(model, config, reranker=reranker, sparse=sparse,
                             model_id=name or "sentence-transformers/all-MiniLM-L6-v2", reranker_id=args.reranker,
                             sparse_id=args.sparse)
    print(f"embedkit: loaded {server.model_id}", file=sys.stderr, flush=True)
    return run_server(server)
