"""Start an :class:`EmbeddingServer` on a free loopback port in a background thread, and talk to it."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from typing import Any

from embedkit.serve.app import EmbeddingServer


class ServerThread:
    """``with ServerThread(server) as port:`` serves on 127.0.0.1:port (port 0 in the config) until the block ends."""

    def __init__(self, server: EmbeddingServer) -> None:
        self.server = server
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        await self.server.start()
        self._ready.set()
        await self.server.serve_until_stopped()

    def __enter__(self) -> int:
        self._thread.start()
        assert self._ready.wait(30), "the server did not start"
        return self.server.port

    def __exit__(self, *exc: Any) -> None:
        self.server.request_stop()
        self._thread.join(30)
        assert not self._thread.is_alive()


def call(port: int, method: str, path: str, body: Any = None, raw: bytes | None = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, dict[str, str], Any]:
    """(status, headers, decoded body) of one request; ``body`` is sent as JSON, ``raw`` as is."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        payload = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        if own:
            conn.close()
    if headers.get("content-type", "").startswith("application/json"):
        return response.status, headers, json.loads(payload)
    return response.status, headers, payload.decode()
