"""Scalar (int8/uint8) and binary quantization of float embeddings.

Follows ``sentence_transformers.quantize_embeddings`` (v6): scalar
quantization maps each dimension's calibrated ``[min, max]`` range onto 256
buckets; binary quantization keeps the sign bit of each dimension and packs
8 dimensions per byte.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = ["quantize_embeddings"]

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
