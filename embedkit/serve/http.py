"""HTTP/1.1 over asyncio streams: read one request, write one response (keep-alive aware).

Only what an embedding server needs: a request line, headers, a body of ``Content-Length`` bytes (chunked uploads
are refused with 411), JSON or plain-text responses. Any protocol fault raises :class:`HttpError`, which the server
turns into a JSON error response; nothing here ever writes a traceback to the client.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
           411: "Length Required", 413: "Payload Too Large", 422: "Unprocessable Entity", 424: "Failed Dependency",
           429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable", 504: "Gateway Timeout",
           505: "HTTP Version Not Supported"}
MAX_HEADER_BYTES = 64 * 1024


class HttpError(Exception):
    """An error answered as ``status`` with the JSON body ``{"error": message, "error_type": ..., "field": ...}``.

    Example:
        >>> err = HttpError(422, "`inputs` must be a string or a list of strings", field="inputs")
        >>> err.status, err.body()["field"]
        (422, 'inputs')
    """

    ERROR_TYPES = {400: "Validation", 413: "Validation", 422: "Validation", 429: "Overloaded", 503: "Unhealthy",
                   504: "Timeout"}

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON error object (text-embeddings-inference's ``error`` / ``error_type`` plus the offending field)."""
        kind = self.ERROR_TYPES.get(self.status, "Validation" if self.status < 500 else "Backend")
        body: dict[str, Any] = {"error": self.message, "error_type": kind}
        if self.field is not None:
            body["field"] = self.field
        return body


@dataclass
class Request:
    """One parsed request; ``headers`` keys are lower case."""

    method: str
    path: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        """HTTP/1.1 keeps the connection unless ``Connection: close``; HTTP/1.0 only with ``keep-alive``."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


async def read_request(reader: asyncio.StreamReader, max_body_bytes: int,
                       writer: asyncio.StreamWriter | None = None) -> Request | None:
    """The next request on the connection, or None when the client closed it between requests.

    With ``writer``, a client that sent ``Expect: 100-continue`` (curl does for large bodies) is told to go on once
    the headers pass the checks.

    Raises:
        HttpError: 400 malformed request, 411 no Content-Length on a body, 413 body over ``max_body_bytes``,
            431 headers over 64 KiB, 505 not HTTP/1.x.
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431, f"request head over {MAX_HEADER_BYTES} bytes") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HttpError(400, f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    if not version.startswith("HTTP/1."):
        raise HttpError(505, f"unsupported protocol {version[:20]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, f"malformed header line {line[:100]!r}")
        name, value = name.lower(), value.strip()
        if name in ("content-length", "transfer-encoding") and headers.get(name, value) != value:
            raise HttpError(400, f"conflicting {name} headers")  # RFC 9112 6.3: the body's end is unknown
        headers[name] = value
    request = Request(method.upper(), target.split("?", 1)[0], version, headers)
    if "transfer-encoding" in headers:
        raise HttpError(411, "chunked request bodies are not supported: send Content-Length")
    length_text = headers.get("content-length")
    if length_text is None and request.method in ("POST", "PUT", "PATCH"):
        raise HttpError(411, f"a {request.method} request needs a Content-Length header")
    length_text = length_text or "0"
    if not re.fullmatch(r"[0-9]{1,18}", length_text):
        raise HttpError(400, f"bad Content-Length {length_text[:40]!r}")
    length = int(length_text)
    if length > max_body_bytes:
        raise HttpError(413, f"request body of {length} bytes is over the limit of {max_body_bytes} bytes")
    if length:
        if writer is not None and headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            request.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise HttpError(400, "request body shorter than its Content-Length") from None
    return request


def encode_response(status: int, body: bytes, content_type: str = "application/json",
                    headers: dict[str, str] | None = None, keep_alive: bool = True) -> bytes:
    """The bytes of one response with a ``Content-Length`` body.

    Example:
        >>> encode_response(200, b"{}", keep_alive=False).split(b"\\r\\n")[0]
        b'HTTP/1.1 200 OK'
    """
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}", "Connection: " + ("keep-alive" if keep_alive else "close")]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Float32Json:
    """A float32 vector (1-D) or list of vectors (2-D) that :func:`json_bytes` writes with 9 significant digits.

    Python's ``json`` writes a float32 value (held as a Python float) with up to 17 significant digits: the shortest
    text that gives back the *double*. Nine always give back the float32 value itself (IEEE 754's FLT_DECIMAL_DIG),
    so nothing is lost, the text is about a third shorter, and one ``%`` format per vector writes it ~4x faster.
    Non-finite values (NaN, infinities) are written as ``json`` writes them.

    Example:
        >>> import numpy as np
        >>> json_bytes({"embedding": Float32Json(np.array([0.1, -2.5e-7, 0.0], dtype=np.float32))})
        b'{"embedding":[0.100000001,-2.49999999e-07,0.0]}'
    """

    def __init__(self, values: Any) -> None:
        self.values = np.asarray(values, dtype=np.float32)  # 1-D or 2-D (a CPU tensor is read without a copy)
        if self.values.ndim not in (1, 2):
            raise ValueError(f"Float32Json takes a vector or a list of vectors, not {self.values.ndim}-D values")

    def text(self) -> str:
        values = self.values
        if not np.isfinite(values).all():
            return json.dumps(values.tolist(), separators=(",", ":"))
        vectors = values if values.ndim == 2 else values[None]  # (N, D)
        # a whole number keeps its ".0" (written by repr), as ``json`` writes it: "%.9g" would write 0.0 as 0
        whole = np.equal(vectors, np.trunc(vectors))
        plain = "[" + ",".join(["%.9g"] * vectors.shape[1]) + "]"
        texts = []
        rows = vectors.tolist()  # Python floats holding the float32 values exactly
        for row, row_whole, any_whole in zip(rows, whole, whole.any(axis=1).tolist()):
            if any_whole:
                texts.append("[" + ",".join("%r" if w else "%.9g" for w in row_whole.tolist()) % tuple(row) + "]")
            else:
                texts.append(plain % tuple(row))
        return texts[0] if values.ndim == 1 else "[" + ",".join(texts) + "]"


# Stands in for each Float32Json while ``json`` writes the rest; its text is then put in its place.
_SLOT = "\x00embedkit:float32\x00"


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON; a :class:`Float32Json` inside ``value`` is written by its own :meth:`Float32Json.text`.

    Example:
        >>> json_bytes({"ok": True, "values": [1, 2.5]})
        b'{"ok":true,"values":[1,2.5]}'
    """
    texts: list[str] = []

    def slot(obj: Any) -> Any:
        if isinstance(obj, Float32Json):
            texts.append(obj.text())
            return _SLOT
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    out = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=slot)
    if texts:
        parts = out.split(json.dumps(_SLOT, ensure_ascii=False))
        if len(parts) != len(texts) + 1:  # the slot's text is also in the data: write every number the plain way
            out = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_plain)
        else:
            out = "".join(part + text for part, text in zip(parts, texts)) + parts[-1]
    return out.encode("utf-8")


def _plain(obj: Any) -> Any:
    if isinstance(obj, Float32Json):
        return obj.values.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
