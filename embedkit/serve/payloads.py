"""Request bodies of each endpoint, read and checked: a bad body raises :class:`HttpError` naming the field.

Malformed JSON (or not an object) is 400; a missing field, a wrong type or a bad value is 422. Unknown fields are
ignored, as text-embeddings-inference and OpenAI do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from embedkit.serve.http import HttpError
from embedkit.util.input_errors import lone_surrogate


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body.

    Example:
        >>> parse_json_object(b'{"inputs": "hi"}')
        {'inputs': 'hi'}
    """
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise HttpError(400, "the body is not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise HttpError(400, f"the body must be a JSON object, got {type(value).__name__}")
    if _SURROGATE_ESCAPE.search(body):  # a pair is one character; a lone surrogate is not Unicode text
        _refuse_lone_surrogates(value)
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and (found := lone_surrogate(item)) is not None:
            raise HttpError(400, f"the body is not valid JSON text: a lone surrogate {found!r} is not a Unicode "
                                 "character")


def _texts(body: dict[str, Any], name: str, max_inputs: int) -> tuple[list[str], bool]:
    """(texts, whether one string was given) of field ``name``: a string or a non-empty list of strings."""
    if name not in body:
        raise HttpError(422, f"missing field `{name}`", field=name)
    value = body[name]
    if isinstance(value, str):
        return [value], True
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise HttpError(422, f"`{name}` must be a string or a list of strings", field=name)
    if not value:
        raise HttpError(422, f"`{name}` cannot be empty", field=name)
    if len(value) > max_inputs:
        raise HttpError(413, f"`{name}` holds {len(value)} inputs; the limit is {max_inputs} per request", field=name)
    return value, False


def _truncate(body: dict[str, Any]) -> bool | None:
    """``truncate``, with text-embeddings-inference's ``truncation_direction``: sentence-transformers (so embedkit)
    keeps the start of a long input, which is TEI's ``"Right"``; ``"Left"`` is refused rather than ignored."""
    direction = _option(body, "truncation_direction", str, "Right")
    if direction.lower() != "right":
        raise HttpError(422, f"`truncation_direction` {direction!r} is not supported: inputs are cut on the right "
                        "(the start of a long input is kept), as sentence-transformers cuts them",
                        field="truncation_direction")
    return _option(body, "truncate", bool, None)


def _option(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """Field ``name`` (None or absent: ``default``), checked to be of ``kind`` (bool is not an int here)."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise HttpError(422, f"`{name}` must be {names}, got {type(value).__name__}", field=name)
    return value


@dataclass
class EmbedRequest:
    """``/embed``, ``/embed_sparse`` and ``/v1/embeddings`` after checking."""

    texts: list[str]
    single: bool
    normalize: bool = True
    truncate: bool | None = None
    prompt_name: str | None = None
    dimensions: int | None = None
    encoding_format: str = "float"
    model: str | None = None


def parse_embed(body: dict[str, Any], max_inputs: int) -> EmbedRequest:
    """text-embeddings-inference's ``/embed`` (also ``/embed_sparse``): inputs, normalize, truncate, prompt_name.

    Example:
        >>> parse_embed({"inputs": ["a", "b"], "normalize": False}, max_inputs=8).normalize
        False
    """
    texts, single = _texts(body, "inputs", max_inputs)
    return EmbedRequest(texts, single, normalize=_option(body, "normalize", bool, True),
                        truncate=_truncate(body),
                        prompt_name=_option(body, "prompt_name", str, None),
                        dimensions=_option(body, "dimensions", int, None))


def parse_openai(body: dict[str, Any], max_inputs: int) -> EmbedRequest:
    """OpenAI's ``/v1/embeddings``: input, model, dimensions, encoding_format (float or base64).

    Example:
        >>> parse_openai({"input": "hi", "dimensions": 8, "encoding_format": "base64"}, max_inputs=8).dimensions
        8
    """
    texts, single = _texts(body, "input", max_inputs)
    encoding_format = _option(body, "encoding_format", str, "float")
    if encoding_format not in ("float", "base64"):
        raise HttpError(422, f"`encoding_format` must be 'float' or 'base64', got {encoding_format!r}",
                        field="encoding_format")
    return EmbedRequest(texts, single, dimensions=_option(body, "dimensions", int, None),
                        encoding_format=encoding_format, model=_option(body, "model", str, None),
                        truncate=_truncate(body))


@dataclass
class RerankRequest:
    """``/rerank`` after checking."""

    query: str
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool | None = None


def parse_rerank(body: dict[str, Any], max_inputs: int) -> RerankRequest:
    """text-embeddings-inference's ``/rerank``: query, texts, raw_scores, return_text, truncate.

    Example:
        >>> parse_rerank({"query": "q", "texts": ["a", "b"]}, max_inputs=8).texts
        ['a', 'b']
    """
    if not isinstance(body.get("query"), str):
        raise HttpError(422, "`query` must be a string" if "query" in body else "missing field `query`",
                        field="query")
    texts, single = _texts(body, "texts", max_inputs)
    if single:
        raise HttpError(422, "`texts` must be a list of strings", field="texts")
    return RerankRequest(body["query"], texts, raw_scores=_option(body, "raw_scores", bool, False),
                         return_text=_option(body, "return_text", bool, False),
                         truncate=_truncate(body))
