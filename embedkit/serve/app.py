"""The embedding server: routes, limits, shutdown. One event loop answers HTTP; one worker thread runs the models.

Routes (request and response shapes of OpenAI and text-embeddings-inference):
    POST /v1/embeddings   {"input": str | [str], "model", "dimensions", "encoding_format": "float" | "base64"}
    POST /embed           {"inputs": str | [str], "normalize": true, "truncate", "prompt_name", "dimensions"}
    POST /embed_sparse    {"inputs", "truncate", "prompt_name"} -> [[{"index", "value"}, ...], ...]   (--sparse)
    POST /rerank          {"query", "texts", "raw_scores", "return_text", "truncate"} -> [{"index", "score"}]
                                                                                                     (--reranker)
    GET  /health, /info, /metrics (Prometheus text)

Errors are JSON ``{"error", "error_type", "field"?}``: 400 bad JSON, 422 wrong field, 413 body/input too large,
424 the route's model is not loaded, 429 queue full (with Retry-After), 404/405 unknown route/method, 503 shutting
down, 504 request timeout, 500 inference failure.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from embedkit.serve.batching import DynamicBatcher, QueueFull
from embedkit.serve.heap import HeapTrimmer
from embedkit.serve.http import (
    MAX_HEADER_BYTES,
    Float32Json,
    HttpError,
    Request,
    encode_response,
    json_bytes,
    read_request,
)
from embedkit.serve.inference import ModelRunner, TokenCounter, chat_formatter
from embedkit.serve.metrics import ServerMetrics
from embedkit.serve.payloads import parse_embed, parse_json_object, parse_openai, parse_rerank

logger = logging.getLogger(__name__)

ROUTES = {"/v1/embeddings": "POST", "/embed": "POST", "/embed_sparse": "POST", "/rerank": "POST", "/health": "GET",
          "/info": "GET", "/metrics": "GET"}
INLINE_COUNT_CHARS = 4096  # requests with fewer characters are counted on the event loop, longer ones on a thread


@dataclass
class ServeConfig:
    """Server limits (the ``embedkit serve`` options of the same names).

    ``truncate`` is the default of the requests' ``truncate`` field: True cuts inputs longer than
    ``max_input_tokens`` (default: the model's max_seq_length), as sentence-transformers' ``encode`` does; False
    answers 413 for them. ``idle_timeout_s``: a connection with no complete request for that long is closed.
    ``heap_trim_interval_s``: under constant load, the C heap's free memory goes back to the system this often (and
    whenever the queue runs empty, at most once a second; 0: never), see :mod:`embedkit.serve.heap`. ``warm_up``:
    :meth:`start` first builds the oneDNN kernels of every batch size (:meth:`ModelRunner.warm_up`, 0.6-0.8 s
    for all-MiniLM-L6-v2), so the server's memory does not creep up for minutes under load. ``batch_workers``: batches
    run at once (:class:`~embedkit.serve.batching.DynamicBatcher`'s ``workers``).

    Example:
        >>> ServeConfig(port=0).max_wait_ms
        2.0
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_batch_tokens: int = 16384
    max_batch_size: int = 128
    max_wait_ms: float = 2.0
    max_queued_inputs: int = 4096
    max_inputs_per_request: int = 512
    max_input_tokens: int | None = None
    truncate: bool = True
    request_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    max_body_bytes: int = 2 * 1024 * 1024
    retry_after_s: int = 1
    heap_trim_interval_s: float = 10.0
    warm_up: bool = True
    batch_workers: int = 2


class EmbeddingServer:
    """HTTP server over a SentenceTransformer (and optionally a CrossEncoder and a SparseEncoder).

    Args:
        model / reranker / sparse: loaded models (any may be None; the routes needing one answer 424 without it).
        config: limits; ``model_id`` / ``reranker_id`` / ``sparse_id``: the names ``/info`` (and ``/v1/embeddings``)
            report.

    Example:
        >>> import asyncio, json, urllib.request
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> async def demo():
        ...     server = EmbeddingServer(SentenceTransformer(default_model_path()), ServeConfig(port=0))
        ...     await server.start()
        ...     url = f"http://127.0.0.1:{server.port}/embed"
        ...     post = urllib.request.Request(url, data=b'{"inputs": "hi"}', method="POST")
        ...     body = await asyncio.to_thread(lambda: urllib.request.urlopen(post).read())
        ...     await server.shutdown()
        ...     return len(json.loads(body)[0])
        >>> asyncio.run(demo())
        384
    """

    def __init__(self, model: Any = None, config: ServeConfig | None = None, reranker: Any = None,
                 sparse: Any = None, model_id: str = "embedkit", reranker_id: str | None = None,
                 sparse_id: str | None = None) -> None:
        self.config = config or ServeConfig()
        self.model, self.reranker, self.sparse, self.model_id = model, reranker, sparse, model_id
        self.reranker_id = reranker_id or ("reranker" if reranker is not None else None)
        self.sparse_id = sparse_id or ("sparse" if sparse is not None else None)
        if reranker is not None and reranker.num_labels != 1:
            raise ValueError(f"the reranker must have one label, it has {reranker.num_labels}")
        self.limits: dict[str, int] = {}
        self.counters: dict[str, TokenCounter] = {}  # used on the count thread
        self.inline_counters: dict[str, TokenCounter] = {}  # used on the event loop, for short inputs only
        for task, served in (("embed", model), ("sparse", sparse), ("rerank", reranker)):
            if served is not None:
                self.limits[task] = self._set_input_limit(served)
                chat = chat_formatter(served)  # inputs rendered through a chat template are counted as rendered
                self.counters[task] = TokenCounter(served.tokenizer, self.limits[task], chat)
                self.inline_counters[task] = TokenCounter(served.tokenizer, self.limits[task], chat)
        self.metrics = ServerMetrics()
        self.runner = runner = ModelRunner(model, sparse=sparse, reranker=reranker)
        self.warm_up_row_counts, self.warm_up_s = 0, 0.0  # set by start()
        c = self.config
        self.batcher = DynamicBatcher(runner.run_batch, c.max_batch_tokens, c.max_batch_size, c.max_wait_ms,
                                      c.max_queued_inputs, on_batch=self.metrics.count_batch,
                                      after_batches=HeapTrimmer(c.heap_trim_interval_s).after_batches,
                                      workers=c.batch_workers)
        self.metrics.queue_depth = lambda: self.batcher.depth
        self._count_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedkit-serve-count")
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._busy = 0
        self._idle: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.draining = False
        self.port = self.config.port

    def _set_input_limit(self, served: Any) -> int:
        """The longest input in tokens for ``served``: ``max_input_tokens`` capped at the model's own limit (the
        model is set to truncate there)."""
        own = int(served.max_seq_length)  # every model type's name for it (a CrossEncoder's max_length is deprecated)
        wanted = self.config.max_input_tokens
        if wanted is not None and wanted < own:
            served.max_seq_length = wanted
            return wanted
        return own

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Warm up (``config.warm_up``), listen on ``config.host:config.port`` (port 0: a free port, then in
        ``self.port``) and start the workers."""
        self._loop = asyncio.get_running_loop()
        if self.config.warm_up:
            began = time.perf_counter()
            self.warm_up_row_counts = await asyncio.to_thread(self.runner.warm_up)
            self.warm_up_s = time.perf_counter() - began
        self._idle, self._stop = asyncio.Event(), asyncio.Event()
        self._idle.set()
        self.runner.start_chunk_workers()
        self.batcher.start()
        self._server = await asyncio.start_server(self._connection, self.config.host, self.config.port,
                                                  limit=MAX_HEADER_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    def request_stop(self) -> None:
        """Ask the server to shut down (safe from any thread or a signal handler)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def serve_until_stopped(self) -> None:
        """Serve until :meth:`request_stop`, then :meth:`shutdown`."""
        assert self._stop is not None, "call start() first"
        await self._stop.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting connections, let in-flight requests finish, close idle connections, stop the worker."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        if self._idle is not None:
            try:
                await asyncio.wait_for(self._idle.wait(), self.config.request_timeout_s + 5)
            except asyncio.TimeoutError:
                logger.warning("shutdown: %d requests still running, closing anyway", self._busy)
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.to_thread(self.batcher.stop)
        self._count_pool.shutdown(wait=False)

    # ------------------------------------------------------------------ connections
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not self.draining:
                try:
                    request = await asyncio.wait_for(read_request(reader, self.config.max_body_bytes, writer),
                                                     self.config.idle_timeout_s)
                except HttpError as exc:  # the stream is out of step: answer, then close
                    await self._write(writer, "other", time.perf_counter(), exc.status, json_bytes(exc.body()),
                                      keep_alive=False)
                    await _discard_rest(reader, writer)
                    return
                except (ConnectionError, asyncio.CancelledError, asyncio.TimeoutError):
                    return
                if request is None:
                    return
                start = time.perf_counter()  # latency: request read to response written
                self._busy += 1
                self._idle.clear()
                try:
                    status, body, content_type, headers = await self._respond(request)
                    keep_alive = request.keep_alive and not self.draining
                    endpoint = request.path if request.path in ROUTES else "other"
                    await self._write(writer, endpoint, start, status, body, content_type, headers, keep_alive)
                finally:
                    self._busy -= 1
                    if self._busy == 0:
                        self._idle.set()
                if not keep_alive:
                    return
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _write(self, writer: asyncio.StreamWriter, endpoint: str, start: float, status: int, body: bytes,
                     content_type: str = "application/json", headers: dict[str, str] | None = None,
                     keep_alive: bool = True) -> None:
        writer.write(encode_response(status, body, content_type, headers, keep_alive))
        try:
            await writer.drain()
        finally:
            self.metrics.count_request(endpoint, status, time.perf_counter() - start)

    async def _respond(self, request: Request) -> tuple[int, bytes, str, dict[str, str]]:
        """(status, body, content type, extra headers) for one request; never raises."""
        try:
            method = ROUTES.get(request.path)
            if method is None:
                raise HttpError(404, f"no route {request.path[:200]!r}; routes: {', '.join(ROUTES)}")
            if request.method != method:
                raise HttpError(405, f"{request.path} takes {method}, not {request.method[:20]}",
                                headers={"Allow": method})
            if self.draining and (method == "POST" or request.path == "/health"):
                raise HttpError(503, "the server is shutting down")
            if request.path == "/metrics":
                return 200, self.metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8", {}
            if request.path == "/health":
                return 200, json_bytes({"status": "ok"}), "application/json", {}
            if request.path == "/info":
                return 200, json_bytes(self.info()), "application/json", {}
            body = parse_json_object(request.body)
            handler = {"/v1/embeddings": self._openai, "/embed": self._embed, "/embed_sparse": self._embed_sparse,
                       "/rerank": self._rerank}[request.path]
            return 200, json_bytes(await handler(body)), "application/json", {}
        except HttpError as exc:
            return exc.status, json_bytes(exc.body()), "application/json", exc.headers
        except Exception as exc:  # a model failure: one line, no traceback to the client
            logger.exception("request to %s failed", request.path)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return 500, json_bytes({"error": f"inference failed: {message}", "error_type": "Backend"}), \
                "application/json", {}

    # ------------------------------------------------------------------ routes
    def info(self) -> dict[str, Any]:
        """What ``GET /info`` answers."""
        from embedkit import __version__

        c = self.config
        return {"model_id": self.model_id, "model_type": "embedding", "model_dtype": self._dtype_name(),
                "dimension": self.model.get_embedding_dimension() if self.model is not None else None,
                "max_input_length": self.limits.get("embed"), "max_batch_tokens": c.max_batch_tokens,
                "max_batch_requests": c.max_batch_size, "max_client_batch_size": c.max_inputs_per_request,
                "max_queued_inputs": c.max_queued_inputs, "auto_truncate": c.truncate,
                "reranker": self.reranker_id, "sparse": self.sparse_id,
                "version": __version__}

    def _dtype_name(self) -> str | None:
        """``int8`` for a quantized model, else the dtype of its first floating-point parameter (``float32``)."""
        if self.model is None:
            return None
        if getattr(self.model, "quantized", None):
            return "int8"
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), None)
        return None if dtype is None else str(dtype).removeprefix("torch.")

    def _require(self, task: str) -> Any:
        served = {"embed": self.model, "sparse": self.sparse, "rerank": self.reranker}[task]
        if served is None:
            option = {"embed": "MODEL", "sparse": "--sparse PATH", "rerank": "--reranker PATH"}[task]
            raise HttpError(424, f"no {task} model is loaded: start the server with {option}")
        return served

    def _prompt(self, served: Any, prompt_name: str | None) -> str | None:
        if prompt_name is None:
            default = getattr(served, "default_prompt_name", None)
            return served.prompts.get(default) if default else None
        if prompt_name not in served.prompts:
            raise HttpError(422, f"unknown prompt_name {prompt_name!r}; this model has {sorted(served.prompts)}",
                            field="prompt_name")
        return served.prompts[prompt_name]

    async def _run(self, task: str, inputs: list[Any], prompt: str | None, prompt_name: str | None,
                   truncate: bool | None, field: str) -> tuple[list[Any], int]:
        """(results, tokens used) of ``inputs`` run through the batcher under the length and queue limits."""
        chars = sum(len(x) if isinstance(x, str) else len(x[0]) + len(x[1]) for x in inputs)
        if chars <= INLINE_COUNT_CHARS:  # microseconds: not worth two thread hops
            tokens = self.inline_counters[task].count_short(inputs, prompt)
        else:
            loop = asyncio.get_running_loop()
            tokens = await loop.run_in_executor(self._count_pool, self.counters[task].count, inputs, prompt)
        limit = self.limits[task]
        truncate = self.config.truncate if truncate is None else truncate
        too_long = [i for i, n in enumerate(tokens) if n > limit]
        if too_long and not truncate:
            raise HttpError(413, f"input {too_long[0]} has more than {limit} tokens (send \"truncate\": true to "
                            "cut it)", field=field)
        tokens = [min(n, limit) for n in tokens]
        try:
            job = self.batcher.submit((task, prompt_name), inputs, tokens)
        except QueueFull as exc:
            raise HttpError(429, f"the server is overloaded: {exc}; retry later",
                            headers={"Retry-After": str(self.config.retry_after_s)}) from None
        except RuntimeError:
            raise HttpError(503, "the server is shutting down") from None
        try:
            results = await asyncio.wait_for(job.future, self.config.request_timeout_s)
        except asyncio.TimeoutError:
            job.cancelled = True
            raise HttpError(504, f"the request took over {self.config.request_timeout_s:g} s") from None
        return results, sum(tokens)

    async def _dense(self, texts: list[str], prompt_name: str | None, truncate: bool | None, dimensions: int | None,
                     normalize: bool, field: str) -> tuple[Any, int]:
        """(N, D) float32 tensor as ``encode(texts, truncate_dim=dimensions, normalize_embeddings=normalize)``."""
        import torch

        served = self._require("embed")
        full = served.get_embedding_dimension()
        if dimensions is not None and not 0 < dimensions <= (full or dimensions):
            raise HttpError(422, f"`dimensions` must be between 1 and {full}, got {dimensions}", field="dimensions")
        prompt = self._prompt(served, prompt_name)
        rows, used = await self._run("embed", texts, prompt, prompt_name, truncate, field)
        emb = torch.stack(rows)
        if dimensions is not None:
            emb = emb[:, :dimensions]
        if normalize:
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return emb, used

    async def _embed(self, body: dict[str, Any]) -> Any:
        req = parse_embed(body, self.config.max_inputs_per_request)
        emb, _ = await self._dense(req.texts, req.prompt_name, req.truncate, req.dimensions, req.normalize, "inputs")
        return Float32Json(emb)

    async def _openai(self, body: dict[str, Any]) -> Any:
        import numpy as np

        req = parse_openai(body, self.config.max_inputs_per_request)
        emb, used = await self._dense(req.texts, None, req.truncate, req.dimensions, True, "input")
        if req.encoding_format == "base64":
            vectors: list[Any] = [base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii")
                                  for row in emb.numpy()]
        else:
            vectors = [Float32Json(row) for row in emb.numpy()]
        return {"object": "list", "model": req.model or self.model_id,
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": used, "total_tokens": used}}

    async def _embed_sparse(self, body: dict[str, Any]) -> Any:
        req = parse_embed(body, self.config.max_inputs_per_request)
        served = self._require("sparse")
        prompt = self._prompt(served, req.prompt_name)
        rows, _ = await self._run("sparse", req.texts, prompt, req.prompt_name, req.truncate, "inputs")
        return [[{"index": i, "value": v} for i, v in zip(indices, values)] for indices, values in rows]

    async def _rerank(self, body: dict[str, Any]) -> Any:
        import torch

        req = parse_rerank(body, self.config.max_inputs_per_request)
        served = self._require("rerank")
        pairs = [(req.query, text) for text in req.texts]
        scores, _ = await self._run("rerank", pairs, None, None, req.truncate, "texts")
        if not req.raw_scores:
            scores = served.activation_fn(torch.tensor(scores, dtype=torch.float32)).tolist()
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        return [{"index": i, "score": scores[i], **({"text": req.texts[i]} if req.return_text else {})}
                for i in ranked]


async def _discard_rest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float = 1.0) -> None:
    """Half-close, then read and drop what the client still sends (a body refused unread), for at most ``seconds``:
    closing with unread data would reset the connection before the client reads the error response."""
    try:
        if writer.can_write_eof():
            writer.write_eof()

        async def drain() -> None:
            while await reader.read(65536):
                pass

        await asyncio.wait_for(drain(), seconds)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass


def run_server(server: EmbeddingServer) -> int:
    """Serve until SIGTERM or SIGINT, then drain (in-flight requests finish) and return 0.

    Example:
        >>> callable(run_server)
        True
    """

    async def main() -> None:
        await server.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.request_stop)
        if server.warm_up_row_counts:
            print(f"embedkit: oneDNN kernels built for {server.warm_up_row_counts} batch row counts in "
                  f"{server.warm_up_s:.1f} s", file=sys.stderr, flush=True)
        print(f"embedkit: serving {server.model_id} on http://{server.config.host}:{server.port}", file=sys.stderr,
              flush=True)
        await server.serve_until_stopped()
        print("embedkit: stopped", file=sys.stderr, flush=True)

    asyncio.run(main())
    return 0
