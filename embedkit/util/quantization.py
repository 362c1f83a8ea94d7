"""Scalar (int8/uint8) and binary quantization of float embeddings, and search over quantized corpora.

Follows ``sentence_transformers.quantize_embeddings`` (v6): scalar
quantization maps each dimension's calibrated ``[min, max]`` range onto 256
buckets; binary quantization keeps the sign bit of each dimension and packs
8 dimensions per byte.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

__all__ = ["quantize_embeddings", "semantic_search_faiss", "semantic_search_usearch"]

logger = logging.getLogger(__name__)

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
_PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
_MIN_CALIBRATION_ROWS = 100


def _to_numpy(x: Tensor | np.ndarray) -> np.ndarray:
    """Return a NumPy view of a tensor (bfloat16 becomes float32, which NumPy lacks)."""
    if isinstance(x, Tensor):
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def _calibrated_ranges(embeddings: np.ndarray, precision: str, calibration_embeddings: np.ndarray | None) -> np.ndarray:
    """Per-dimension ``[min; max]`` (shape ``(2, dim)``) from the calibration set, else from the embeddings."""
    if calibration_embeddings is None:
        if embeddings.ndim == 1 or embeddings.shape[0] == 1:
            raise ValueError(
                f"{precision} quantization needs per-dimension ranges, which one embedding cannot give; "
                "got a single embedding; valid: pass `ranges` or `calibration_embeddings`, or several embeddings"
            )
        if embeddings.shape[0] < _MIN_CALIBRATION_ROWS:
            logger.warning(
                "%s quantization ranges are computed from only %d embeddings; pass `ranges` or "
                "`calibration_embeddings` from a larger, representative set for stabler buckets.",
                precision,
                len(embeddings),
            )
        calibration_embeddings = embeddings
    return np.vstack((np.min(calibration_embeddings, axis=0), np.max(calibration_embeddings, axis=0)))


def quantize_embeddings(
    embeddings: Tensor | np.ndarray | list[Tensor] | list[np.ndarray],
    precision: Precision,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Quantize float embeddings to ``precision``.

    * ``"float32"``: a float32 copy.
    * ``"uint8"``: per dimension, ``floor((e - min) / step)`` clipped to
      ``[0, 255]`` with ``step = (max - min) / 255`` (a zero-width range uses
      step 1; float rounding can put the maximum itself in bucket 254);
      ``"int8"`` is the same minus 128.
    * ``"ubinary"``: ``np.packbits(e > 0, axis=-1)`` (uint8, last byte
      zero-padded); ``"binary"`` is that minus 128 as int8.

    ``min``/``max`` come from ``ranges``, else ``calibration_embeddings``,
    else the embeddings themselves (a warning below 100 rows, an error for a
    single one). A list of 2-D matrices (e.g. multi-vector documents) is
    quantized matrix by matrix with ranges shared across the whole list.

    Args:
        embeddings: Float embeddings: tensor, array, list of 1-D rows, or list of 2-D matrices.
        precision: One of ``"float32"``, ``"int8"``, ``"uint8"``, ``"binary"``, ``"ubinary"``.
        ranges: Optional ``(2, dim)`` array of per-dimension minima and maxima (int8/uint8 only).
        calibration_embeddings: Optional embeddings to compute ``ranges`` from (int8/uint8 only).

    Returns:
        The quantized array, or a list of arrays for a list of 2-D matrices.

    Raises:
        ValueError: For an unknown precision, integer input embeddings, or
            int8/uint8 ranges that would have to come from a single embedding.

    Example:
        >>> import numpy as np
        >>> quantize_embeddings(np.array([[0.5, -1.0, 2.0]]), "ubinary")
        array([[160]], dtype=uint8)
        >>> ranges = np.array([[0.0, -1.0], [1.0, 1.0]])  # row 0: minima, row 1: maxima
        >>> quantize_embeddings(np.array([[0.0, -1.0], [0.5, 0.0], [1.0, 1.0]]), "uint8", ranges=ranges)
        array([[  0,   0],
               [127, 127],
               [254, 254]], dtype=uint8)
    """
    if precision not in _PRECISIONS:
        raise ValueError(f"Unsupported quantization precision: got {precision!r}; valid: {list(_PRECISIONS)}")
    if ranges is not None:
        ranges = _to_numpy(ranges)
    if calibration_embeddings is not None:
        calibration_embeddings = _to_numpy(calibration_embeddings)

    if isinstance(embeddings, list):
        if not embeddings:
            return []
        items = [_to_numpy(e) if isinstance(e, Tensor) else e for e in embeddings]
        if isinstance(items[0], np.ndarray) and items[0].ndim == 2:
            return _quantize_matrices(items, precision, ranges, calibration_embeddings)
        embeddings = np.array(items)
    else:
        embeddings = _to_numpy(embeddings)

    if embeddings.dtype in (np.int8, np.uint8):
        raise ValueError(
            f"Embeddings to quantize must be floats; got dtype {embeddings.dtype!r}; valid: a floating dtype"
        )
    if embeddings.ndim == 2 and embeddings.shape[0] == 0 and precision != "float32":
        return _empty_output(embeddings.shape[1], precision)

    if precision == "float32":
        return embeddings.astype(np.float32)
    if precision in ("int8", "uint8"):
        if ranges is None:
            ranges = _calibrated_ranges(embeddings, precision, calibration_embeddings)
        ranges = ranges.astype(np.float32, copy=False)
        lows = ranges[0, :]
        steps = (ranges[1, :] - lows) / 255
        steps = np.where(steps == 0, 1, steps)
        buckets = np.clip(np.floor((embeddings - lows) / steps), 0, 255)
        return buckets.astype(np.uint8) if precision == "uint8" else (buckets - 128).astype(np.int8)
    packed = np.packbits(embeddings > 0, axis=-1)
    return packed if precision == "ubinary" else (packed - 128).astype(np.int8)


def _empty_output(dim: int, precision: str) -> np.ndarray:
    """Correctly shaped empty result for a ``(0, dim)`` matrix."""
    dtype = np.int8 if precision in ("int8", "binary") else np.uint8
    width = dim if precision.endswith("int8") else (dim + 7) // 8
    return np.zeros((0, width), dtype=dtype)


def _quantize_matrices(
    matrices: list[np.ndarray],
    precision: Precision,
    ranges: np.ndarray | None,
    calibration_embeddings: np.ndarray | None,
) -> list[np.ndarray]:
    """Quantize each 2-D matrix of a list, calibrating scalar ranges once for all of them."""
    if precision in ("int8", "uint8") and ranges is None:
        pool = np.concatenate(matrices, axis=0) if calibration_embeddings is None else calibration_embeddings
        if len(pool):
            ranges = _calibrated_ranges(pool, precision, calibration_embeddings)
    out = []
    for matrix in matrices:
        quantized = quantize_embeddings(matrix, precision, ranges=ranges, calibration_embeddings=calibration_embeddings)
        assert isinstance(quantized, np.ndarray)
        out.append(quantized)
    return out


# --- approximate / quantized search through optional index libraries ---------------------------------------

_FAISS_PRECISIONS = ("float32", "uint8", "ubinary")
_USEARCH_PRECISIONS = ("float32", "int8", "ubinary", "binary")


def _import_optional(module: str, package: str, caller: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{caller} requires the optional `{package}` package, which is not installed. "
            f"Install it with `pip install {package}`."
        ) from error


def _dequantize(embeddings: np.ndarray, precision: str, ranges: np.ndarray) -> np.ndarray:
    """Map scalar-quantized values back to the float coordinates of the query (bucket lower edges)."""
    ranges = ranges.astype(np.float32, copy=False)
    steps = (ranges[1] - ranges[0]) / 255
    steps = np.where(steps == 0, 1, steps)
    values = embeddings.astype(np.float64)
    if precision == "int8":
        values = values + 128
    return values * steps + ranges[0]


def _prepare_queries(
    query_embeddings: np.ndarray,
    corpus_quantized: bool,
    corpus_precision: str,
    top_k: int,
    rescore: bool,
    rescore_multiplier: int,
    ranges: np.ndarray | None,
    calibration_embeddings: np.ndarray | None,
    caller: str,
) -> tuple[np.ndarray, np.ndarray | None, int, np.ndarray | None]:
    """Quantize float queries to the corpus precision; returns (queries, rescore queries, k, ranges)."""
    rescore_queries = None
    k = top_k
    if query_embeddings.dtype in (np.uint8, np.int8):
        if rescore:
            logger.warning(
                "Rescoring is enabled but the query embeddings are quantized. Either pass `rescore=False` or don't "
                "quantize the query embeddings."
            )
        return query_embeddings, None, k, ranges
    if rescore:
        if corpus_quantized:
            rescore_queries = query_embeddings
            k *= rescore_multiplier
        else:
            logger.warning(
                "Rescoring is enabled but the corpus is not quantized. Either pass `rescore=False` or quantize the "
                'corpus embeddings with `quantize_embeddings(embeddings, precision="...") `'
                f'and pass `corpus_precision="..."` to `{caller}`.'
            )
    if rescore_queries is not None and corpus_precision.endswith("int8") and ranges is None:
        ranges = _calibrated_ranges(query_embeddings, corpus_precision, calibration_embeddings)
    queries = quantize_embeddings(query_embeddings, precision=corpus_precision, ranges=ranges,
                                  calibration_embeddings=calibration_embeddings)
    assert isinstance(queries, np.ndarray)
    return queries, rescore_queries, k, ranges


def _rescore(
    rescore_queries: np.ndarray,
    candidates: np.ndarray,
    indices: np.ndarray,
    valid: np.ndarray,
    corpus_precision: str,
    ranges: np.ndarray | None,
    top_k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rescore quantized candidates ``(Q, K, bytes|dim)`` with the float queries; keep the best ``top_k``."""
    if corpus_precision.endswith("binary"):
        candidates = np.unpackbits(candidates.astype(np.uint8), axis=-1)[..., : rescore_queries.shape[-1]]
    candidates = candidates.astype(int)
    if corpus_precision.endswith("int8"):
        assert ranges is not None
        candidates = _dequantize(candidates, corpus_precision, ranges)
    scores = np.einsum("qd,qkd->qk", rescore_queries, candidates).astype(np.float64, copy=False)
    scores[~valid] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    rows = np.arange(len(scores))[:, None]
    return scores[rows, order], indices[rows, order], valid[rows, order]


def _hits(scores: np.ndarray, indices: np.ndarray, valid: np.ndarray) -> list[list[dict[str, int | float]]]:
    return [
        [{"corpus_id": int(index), "score": float(score)}
         for score, index, ok in zip(row_scores, row_indices, row_valid) if ok]
        for row_scores, row_indices, row_valid in zip(scores, indices, valid)
    ]


def semantic_search_faiss(
    query_embeddings: np.ndarray,
    corpus_embeddings: np.ndarray | None = None,
    corpus_index: Any = None,
    corpus_precision: Literal["float32", "uint8", "ubinary"] = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[list[list[dict[str, int | float]]], float] | tuple[list[list[dict[str, int | float]]], float, Any]:
    """Semantic search with a FAISS index (``pip install faiss-cpu``), optionally over a quantized corpus.

    Builds an inner-product index over ``corpus_embeddings`` (``IndexFlatIP`` for float32/uint8,
    ``IndexBinaryFlat`` for ubinary; the HNSW variants when ``exact=False``), or searches ``corpus_index``.
    Float queries are quantized to ``corpus_precision``; when the corpus is quantized and ``rescore`` is on,
    ``top_k * rescore_multiplier`` candidates are fetched and rescored with the float queries (uint8
    candidates are dequantized with ``ranges`` / ``calibration_embeddings``, which should be the ones the corpus
    was quantized with).

    Returns:
        ``(results, seconds)`` (plus the index with ``output_index=True``); ``results[q]`` holds up to ``top_k``
        ``{"corpus_id", "score"}`` dicts, best first (fewer when the index holds fewer entries).

    Raises:
        ImportError: If ``faiss`` is not installed.
        ValueError: If both or neither of ``corpus_embeddings`` / ``corpus_index`` are given, or for an
            unsupported ``corpus_precision``.

    Example:
        >>> try:
        ...     import faiss
        ... except ImportError:
        ...     faiss = None
        >>> corpus = np.eye(3, dtype=np.float32)
        >>> results, _ = semantic_search_faiss(corpus[:1], corpus, top_k=1) if faiss else ([[{"corpus_id": 0}]], 0)
        >>> results[0][0]["corpus_id"]
        0
    """
    faiss = _import_optional("faiss", "faiss-cpu", "semantic_search_faiss")
    if corpus_embeddings is not None and corpus_index is not None:
        raise ValueError("Only corpus_embeddings or corpus_index should be used, not both.")
    if corpus_embeddings is None and corpus_index is None:
        raise ValueError("Either corpus_embeddings or corpus_index should be used.")
    if corpus_precision not in _FAISS_PRECISIONS:
        raise ValueError('corpus_precision must be "float32", "uint8", or "ubinary" for faiss')
    query_embeddings = _to_numpy(query_embeddings)
    if corpus_index is None:
        corpus_embeddings = _to_numpy(corpus_embeddings)
        dim = corpus_embeddings.shape[1]
        if corpus_precision == "ubinary":
            corpus_index = faiss.IndexBinaryFlat(dim * 8) if exact else faiss.IndexBinaryHNSW(dim * 8, 16)
        else:
            corpus_index = (faiss.IndexFlatIP(dim) if exact
                            else faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT))
        corpus_index.add(corpus_embeddings)
    queries, rescore_queries, k, ranges = _prepare_queries(
        query_embeddings, corpus_precision != "float32", corpus_precision, top_k, rescore, rescore_multiplier,
        ranges, calibration_embeddings, "semantic_search_faiss",
    )
    start = time.time()
    scores, indices = corpus_index.search(queries, k)
    valid = indices != -1  # FAISS pads short result lists with -1
    if rescore_queries is not None:
        width = corpus_index.d // 8 if corpus_precision == "ubinary" else corpus_index.d
        filler = np.zeros(width, dtype=np.uint8 if corpus_precision == "ubinary" else np.float32)
        candidates = np.array([
            [corpus_index.reconstruct(int(index)) if index != -1 else filler for index in row] for row in indices
        ]).reshape(len(indices), indices.shape[1], width)
        scores, indices, valid = _rescore(rescore_queries, candidates, indices, valid, corpus_precision, ranges, top_k)
    elapsed = time.time() - start
    results = _hits(scores, indices, valid)
    return (results, elapsed, corpus_index) if output_index else (results, elapsed)


def semantic_search_usearch(
    query_embeddings: np.ndarray,
    corpus_embeddings: np.ndarray | None = None,
    corpus_index: Any = None,
    corpus_precision: Literal["float32", "int8", "ubinary", "binary"] = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[list[list[dict[str, int | float]]], float] | tuple[list[list[dict[str, int | float]]], float, Any]:
    """Semantic search with a usearch index (``pip install usearch``), optionally over a quantized corpus.

    Builds an index over ``corpus_embeddings`` (cosine for float32, inner product for int8, Hamming for
    binary/ubinary) or searches ``corpus_index``. Quantization and rescoring work as in
    :func:`semantic_search_faiss`. Scores are usearch's distances unless the results are rescored.

    Returns:
        ``(results, seconds)`` (plus the index with ``output_index=True``), as :func:`semantic_search_faiss`.

    Raises:
        ImportError: If ``usearch`` is not installed.
        ValueError: If both or neither of ``corpus_embeddings`` / ``corpus_index`` are given, or for an
            unsupported ``corpus_precision``.

    Example:
        >>> try:
        ...     import usearch
        ... except ImportError:
        ...     usearch = None
        >>> corpus = np.eye(3, dtype=np.float32)
        >>> results, _ = semantic_search_usearch(corpus[:1], corpus, top_k=1) if usearch else ([[{"corpus_id": 0}]], 0)
        >>> results[0][0]["corpus_id"]
        0
    """
    index_module = _import_optional("usearch.index", "usearch", "semantic_search_usearch")
    if corpus_embeddings is not None and corpus_index is not None:
        raise ValueError("Only corpus_embeddings or corpus_index should be used, not both.")
    if corpus_embeddings is None and corpus_index is None:
        raise ValueError("Either corpus_embeddings or corpus_index should be used.")
    if corpus_precision not in _USEARCH_PRECISIONS:
        raise ValueError('corpus_precision must be "float32", "int8", "ubinary", or "binary" for usearch')
    query_embeddings = _to_numpy(query_embeddings)
    if corpus_index is None:
        corpus_embeddings = _to_numpy(corpus_embeddings)
        dim = corpus_embeddings.shape[1]
        if corpus_precision == "float32":
            corpus_index = index_module.Index(ndim=dim, metric="cos", dtype="f32")
        elif corpus_precision == "int8":
            corpus_index = index_module.Index(ndim=dim, metric="ip", dtype="i8")
        else:
            corpus_index = index_module.Index(ndim=dim * 8, metric="hamming", dtype="b1")
            if corpus_precision == "binary":  # a b1 index reads raw bytes: undo quantize_embeddings' -128 offset
                corpus_embeddings = corpus_embeddings.view(np.uint8) ^ 0x80
        corpus_index.add(np.arange(len(corpus_embeddings)), corpus_embeddings)
    scalar_kind = importlib.import_module("usearch.compiled").ScalarKind
    corpus_quantized = corpus_index.dtype != scalar_kind.F32
    queries, rescore_queries, k, ranges = _prepare_queries(
        query_embeddings, corpus_quantized, corpus_precision, top_k, rescore, rescore_multiplier,
        ranges, calibration_embeddings, "semantic_search_usearch",
    )
    start = time.time()
    if corpus_precision == "binary":
        queries = queries.view(np.uint8) ^ 0x80
    matches = corpus_index.search(queries, count=k, exact=exact)
    scores = np.atleast_2d(matches.distances)
    indices = np.atleast_2d(matches.keys)
    counts = np.reshape(getattr(matches, "counts", indices.shape[1]), (-1, 1))
    valid = np.arange(indices.shape[1])[None, :] < counts  # usearch pads short results; counts says how many
    if rescore_queries is not None and valid.any():
        placeholder = indices[valid][0]
        safe = np.where(valid, indices, placeholder)
        candidates = np.array([corpus_index.get(row) for row in safe])
        scores, indices, valid = _rescore(rescore_queries, candidates, indices, valid, corpus_precision, ranges, top_k)
    elapsed = time.time() - start
    results = _hits(scores, indices, valid)
    return (results, elapsed, corpus_index) if output_index else (results, elapsed)
