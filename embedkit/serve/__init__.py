"""``embedkit serve``: an HTTP embedding and reranking server on the standard library's asyncio.

Modules: :mod:`~embedkit.serve.http` (HTTP/1.1 requests and responses), :mod:`~embedkit.serve.payloads` (request
bodies checked), :mod:`~embedkit.serve.batching` (dynamic batcher and its worker thread),
:mod:`~embedkit.serve.inference` (model calls, token counts), :mod:`~embedkit.serve.metrics` (Prometheus text),
:mod:`~embedkit.serve.app` (routes, limits, shutdown). Importing this package loads none of them (nor torch).

Example:
    >>> from embedkit.serve import ServeConfig
    >>> ServeConfig().port
    8080
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmbeddingServer", "ServeConfig", "run_server"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from embedkit.serve import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
