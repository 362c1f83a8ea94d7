"""Fused linear layers through oneDNN on x86 CPUs, for the inference engine (never with autograd).

torch sends a CPU fp32 ``F.linear`` to its BLAS (MKL in the x86 wheels). oneDNN, which torch also ships, picks its
kernel from the CPU's instruction set instead of its vendor, and fuses the bias, the activation (exact or tanh GELU,
ReLU) or a residual addition into the GEMM. Which of the two is faster depends on the instruction set, so the
engine's default follows it (:func:`onednn_preferred`):

- **AVX-512** (and newer): oneDNN ran the encoder's GEMM shapes 1.2-1.6x faster than MKL on an AMD EPYC.
- **AVX2 only**: MKL was faster on the same shapes; the default then stays with ``F.linear`` (:func:`blas_linear`),
  and measured on a 2-core AVX2 EPYC with all-MiniLM-L6-v2: single queries 1.19x, bulk 1.23x and short texts 1.28x
  the speed of oneDNN with plain weights. Weights that oneDNN has reordered once (the frozen path) are still the
  fastest for small calls there (up to ``FROZEN_BLAS_ROWS`` rows).

Results agree with ``F.linear`` to float rounding (~1e-6 relative).

The ops are private (``torch.ops.mkldnn._linear_pointwise`` and its ``.binary`` overload,
``torch.ops.mkldnn._reorder_linear_weight``): :func:`onednn_available` probes each of them once against
``F.linear``; where one is missing or disagrees, the engine uses the reference modules and says so in one log line.

Example:
    >>> import torch
    >>> x, weight, bias = torch.randn(3, 8), torch.randn(4, 8), torch.randn(4)
    >>> y = fused_linear(x, weight, bias, activation="gelu") if onednn_available() else None
    >>> y is None or torch.allclose(y, torch.nn.functional.gelu(x @ weight.T + bias), atol=1e-5)
    True
"""

from __future__ import annotations

import logging
import platform
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from embedkit.encoders.layers import ACTIVATION_FUNCTIONS

logger = logging.getLogger(__name__)

# activation name (FeedForward.act) -> (oneDNN post-op, algorithm)
POST_OPS = {
    None: ("none", ""),
    "gelu": ("gelu", "none"),
    "gelu_tanh": ("gelu", "tanh"),
    "relu": ("relu", ""),
}
# oneDNN builds one kernel per input shape and keeps it in a cache whose evictions do not give memory back, so calls
# run at a small fixed set of row counts: blocks of ROW_BLOCK rows, the rest padded up to a bucket (_bucket).
ROW_BLOCK = 1024
# On CPUs where oneDNN is not preferred (AVX2), frozen layers multiply calls of more rows than this through MKL on a
# dense copy of their weights made for the call: there MKL is faster for big calls (measured 1.25x at 512 rows on one
# thread), oneDNN's prepared weights for small ones (1.4-2x at 20 rows on two threads; 1.1x on the one thread that
# small calls run on by default, see .text_chunks).
FROZEN_BLAS_ROWS = 128


class _Probe:
    """Whether the private ops work here, asked once per process (the answer cannot change)."""

    result: bool | None = None
    native_bf16: bool | None = None
    warned_half = False


def onednn_available() -> bool:
    """Whether every oneDNN op the engine uses exists and agrees with ``F.linear`` on this machine (and oneDNN is
    enabled in ``torch.backends.mkldnn``)."""
    if _Probe.result is None:
        _Probe.result = _probe()
        if not _Probe.result:
            logger.info("oneDNN linear ops unavailable on this machine/torch: inference uses the reference modules")
    return _Probe.result and torch.backends.mkldnn.enabled


def _probe() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64") or not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    if not all(hasattr(ops, name) for name in ("_linear_pointwise", "_reorder_linear_weight")):
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(5, 16, generator=generator)
        weight = torch.randn(8, 16, generator=generator)
        bias = torch.randn(8, generator=generator)
        residual = torch.randn(5, 8, generator=generator)
        with torch.no_grad():
            expected = F.linear(x, weight, bias)
            reordered = ops._reorder_linear_weight(weight)
            checks = [
                (ops._linear_pointwise(x, weight, bias, "none", [], ""), expected),
                (ops._linear_pointwise(x, weight, bias, "gelu", [], "none"), F.gelu(expected)),
                (ops._linear_pointwise.binary(x, residual, weight, bias, "add"), expected + residual),
                (ops._linear_pointwise(x, reordered, bias, "none", [], ""), expected),
                (reordered.to_dense(), weight),
            ]
        return all(got.shape == want.shape and torch.allclose(got, want, atol=1e-4) for got, want in checks)
    except (RuntimeError, NotImplementedError, AttributeError, TypeError):
        return False


def onednn_preferred() -> bool:
    """Whether the engine's default uses oneDNN: it is available and the CPU has AVX-512 (see the module docstring).

    Example:
        >>> onednn_preferred() in (True, False)
        True
    """
    return onednn_available() and "AVX512" in torch.backends.cpu.get_cpu_capability()


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512_BF16 or AMX); elsewhere bf16 is emulated and slow."""
    if _Probe.native_bf16 is None:
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        _Probe.native_bf16 = any(check is not None and check() for check in checks)
    return _Probe.native_bf16


def warn_if_emulated_half_precision(x: Tensor) -> None:
    """Warn once when a bf16/fp16 model runs on a CPU without native support for it (slower than fp32 there)."""
    if _Probe.warned_half or not x.is_cpu or x.dtype not in (torch.bfloat16, torch.float16):
        return
    fp16_check = getattr(torch.cpu, "_is_amx_fp16_supported", None)
    native = native_cpu_bf16() if x.dtype == torch.bfloat16 else fp16_check is not None and fp16_check()
    if not native:
        _Probe.warned_half = True
        warnings.warn(f"this CPU has no native {x.dtype} arithmetic (AVX512_BF16 / AMX): the model runs emulated, "
                      "usually slower than float32; keep CPU models in float32 here", stacklevel=4)


def onednn_applies(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`fused_linear` may run ``x`` through ``weight`` (a plain-layout tensor) on oneDNN."""
    return (
        x.is_cpu
        and x.dtype == weight.dtype
        and (x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and native_cpu_bf16()))
        and weight.is_contiguous()
        and not torch.is_autocast_enabled("cpu")
        and onednn_available()
    )


def _bucket(rows: int) -> int:
    """The row count a call of ``rows`` (<= ``ROW_BLOCK``) rows runs at: as is up to 32 rows (a small GEMM's cost
    grows with every row), else rounded up to a multiple of 8 (up to 64), 16 (up to 256), 32 (up to 512) or 64;
    padding stays under about 6% past 32 rows."""
    if rows <= 32:
        return rows
    step = 8 if rows <= 64 else 16 if rows <= 256 else 32 if rows <= 512 else 64
    return -(-rows // step) * step


def row_count(rows: int) -> int:
    """The rows a call of ``rows`` rows runs at: whole blocks of ``ROW_BLOCK``, the rest bucketed. A packed batch of
    this many rows (:class:`~embedkit.encoders.engine.packing.Packing`) reaches every GEMM without a copy.

    Example:
        >>> [row_count(n) for n in (20, 33, 1000, 1030, 1100)]
        [20, 40, 1024, 1030, 1104]
    """
    full, rest = divmod(rows, ROW_BLOCK)
    return full * ROW_BLOCK + (_bucket(rest) if rest else 0)


def row_counts() -> list[int]:
    """Every row count a GEMM can run at (each ``row_count(n)`` is a sum of these): oneDNN builds one kernel per
    count and weight shape, about 0.6 MB each (the same for 384- and 768-wide weights), which its primitive cache
    keeps (1,024 at most).

    Example:
        >>> counts = row_counts()
        >>> len(counts), counts[:3], counts[-3:]
        (64, [1, 2, 3], [896, 960, 1024])
    """
    return sorted({_bucket(rows) for rows in range(1, ROW_BLOCK + 1)})


def _pad_rows(t: Tensor, rows: int) -> Tensor:
    return t if t.shape[0] == rows else torch.cat([t, t.new_zeros(rows - t.shape[0], t.shape[1])])


def _in_row_blocks(op: Callable[[Tensor, Tensor | None], Tensor], x: Tensor, residual: Tensor | None,
                   out_features: int) -> Tensor:
    """``op(rows, residual_rows)`` over ``x`` flattened to (M, in) rows, run only at a bounded set of row counts
    (at most 65 per weight shape: see ``ROW_BLOCK``)."""
    lead = x.shape[:-1]
    total = lead.numel()
    if 0 < total <= ROW_BLOCK and _bucket(total) == total:  # already a count from the set: no copy
        return op(x.contiguous(), None if residual is None else residual.contiguous())
    rows = x.reshape(-1, x.shape[-1])  # (M, in)
    extra = None if residual is None else residual.reshape(-1, residual.shape[-1])
    if total == 0:
        return rows.new_empty(*lead, out_features)
    if total > ROW_BLOCK:
        out = rows.new_empty(total, out_features)
        for start in range(0, total, ROW_BLOCK):
            stop = min(start + ROW_BLOCK, total)
            out[start:stop] = _in_row_blocks(op, rows[start:stop], None if extra is None else extra[start:stop],
                                             out_features)
        return out.view(*lead, out_features)
    padded = _bucket(total)
    y = op(_pad_rows(rows.contiguous(), padded), None if extra is None else _pad_rows(extra.contiguous(), padded))
    return y[:total].view(*lead, out_features)


def blas_linear(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None = None,
                residual: Tensor | None = None) -> Tensor:
    """What :func:`fused_linear` computes, through ``F.linear`` (MKL on x86) and separate element-wise ops.

    Example:
        >>> x, weight = torch.randn(3, 8), torch.randn(4, 8)
        >>> torch.equal(blas_linear(x, weight, None, residual=torch.ones(3, 4)), F.linear(x, weight) + 1)
        True
    """
    y = F.linear(x, weight, bias)
    if residual is not None:
        return y.add_(residual)
    return y if activation is None else ACTIVATION_FUNCTIONS[activation](y)


def fused_linear(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None = None,
                 residual: Tensor | None = None) -> Tensor:
    """``act(x W^T + b)``, or ``x W^T + b + residual``, as one oneDNN op (the caller checked :func:`onednn_applies`,
    or ``weight`` is already in oneDNN's layout). At most one of ``activation`` and ``residual``."""
    post_op, algorithm = POST_OPS[activation]
    if residual is not None and activation is not None:
        raise ValueError("fused_linear() fuses an activation or a residual, not both")

    def op(rows: Tensor, extra: Tensor | None) -> Tensor:
        if extra is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(rows, extra, weight, bias, "add")
        return torch.ops.mkldnn._linear_pointwise(rows, weight, bias, post_op, [], algorithm)

    return _in_row_blocks(op, x, residual, weight.shape[0])
