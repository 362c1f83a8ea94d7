"""Linear layers through oneDNN on x86 CPUs.

torch sends a CPU fp32 ``F.linear`` to its BLAS (MKL in the x86 wheels). oneDNN, which torch also ships, picks its
kernel from the CPU's instruction set instead of its vendor; on an AMD EPYC with AVX-512 it runs the encoder's
GEMM shapes about 2.2x faster than MKL (``benchmarks/encode.py`` shows the effect on whole encodes). It can also
fuse the bias, the activation (exact or tanh GELU, ReLU, tanh) or a residual addition into the GEMM.

Inputs are fp32, or bf16 on CPUs that compute it natively (a model moved to bf16 by the user; never by default).
Without autograd (inference, GradCache's first pass) the whole call is one fused op. With autograd, the forward
and the input gradient run on oneDNN and the weight gradient on torch's own matmul (oneDNN would need both operands
transposed and gains little there). Layers that are not a plain ``nn.Linear`` (int8 layers, for one), other dtypes
and devices, autocast and ``torch.compile`` (which fuses on its own) go through the module itself. Results agree
with ``F.linear`` to float rounding (~1e-6 relative), and the same inputs give bitwise the same outputs with and
without autograd, so GradCache's replay reproduces its first pass exactly.

Small inference calls (at most ``PACK_MAX_ROWS`` token rows, e.g. one query, on a layer in eval mode) run on a copy
of the weight that oneDNN has reordered into its blocked layout once; a plain-layout weight would be reordered on
every call, which costs more than the GEMM itself at that size. The copy is made at the first such call, doubles the
memory of that weight, and is remade whenever the weight changes (checked by version counter, storage and its first
16 elements, since fused optimizers update in place without bumping the version). Big
batches (where the reorder is cheap next to the GEMM) and training never make it. The encoder's layer stacks keep
one such copy for all their layers (:mod:`.small_batch`); this per-layer one serves heads and pooler layers.

Set ``EMBEDKIT_ONEDNN=0`` to turn the whole path off, or ``EMBEDKIT_ONEDNN_PACK=0`` to keep it but skip the copies.

Example:
    >>> import torch
    >>> from torch import nn
    >>> layer = nn.Linear(8, 4)
    >>> x = torch.randn(3, 8)
    >>> with torch.no_grad():
    ...     y = linear(layer, x, activation="gelu")
    >>> torch.allclose(y, torch.nn.functional.gelu(layer(x)), atol=1e-5)
    True
"""

from __future__ import annotations

import os
import platform
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# activation name -> (oneDNN post-op, algorithm, eager fallback)
_FUSED_ACTIVATIONS = {
    None: ("none", "", None),
    "gelu": ("gelu", "none", F.gelu),
    "gelu_tanh": ("gelu", "tanh", lambda x: F.gelu(x, approximate="tanh")),
    "relu": ("relu", "", F.relu),
    "tanh": ("tanh", "", torch.tanh),
}

_available: bool | None = None
_native_bf16: bool | None = None
_warned_half = False
_pack = os.environ.get("EMBEDKIT_ONEDNN_PACK", "1") != "0"

PACK_MAX_ROWS = 64
ROW_BLOCK = 1024
FINGERPRINT_ELEMENTS = 16
# id of a layer -> its reordered weight
_packed: dict[int, _Reordered] = {}
_module_hooks = nn.modules.module


def onednn_available() -> bool:
    """Whether the fused oneDNN linear op exists, is enabled, and agrees with ``F.linear`` on this machine."""
    global _available
    if _available is None:
        _available = _probe()
    return _available and torch.backends.mkldnn.enabled


def _probe() -> bool:
    if os.environ.get("EMBEDKIT_ONEDNN", "1") == "0":
        return False
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(5, 16, generator=generator)
        weight = torch.randn(8, 16, generator=generator)
        bias = torch.randn(8, generator=generator)
        with torch.no_grad():
            fused = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        return bool(torch.allclose(fused, F.linear(x, weight, bias), atol=1e-4))
    except (RuntimeError, NotImplementedError):
        return False


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512_BF16 or AMX); elsewhere bf16 is emulated and slow."""
    global _native_bf16
    if _native_bf16 is None:
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        _native_bf16 = any(check is not None and check() for check in checks)
    return _native_bf16


def warn_if_emulated_half_precision(x: Tensor) -> None:
    """Warn once when a bf16/fp16 model runs on a CPU without native support for it (slower than fp32 there)."""
    global _warned_half
    if _warned_half or not x.is_cpu or x.dtype not in (torch.bfloat16, torch.float16):
        return
    fp16_check = getattr(torch.cpu, "_is_amx_fp16_supported", None)
    native = native_cpu_bf16() if x.dtype == torch.bfloat16 else fp16_check is not None and fp16_check()
    if not native:
        _warned_half = True
        warnings.warn(f"this CPU has no native {x.dtype} arithmetic (AVX512_BF16 / AMX): the model runs emulated, "
                      "usually slower than float32; keep CPU models in float32 here", stacklevel=3)


def _onednn_applies(x: Tensor, weight: Tensor) -> bool:
    return (
        x.dtype == weight.dtype
        and (x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and native_cpu_bf16()))
        and x.is_cpu
        and weight.is_contiguous()
        and onednn_available()
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    )


def _plain_linear(layer: nn.Module) -> bool:
    """A bare ``nn.Linear`` that nothing observes: calling its weights directly skips no hook."""
    return (
        type(layer) is nn.Linear
        and not layer._forward_hooks
        and not layer._forward_pre_hooks
        and not _module_hooks._global_forward_hooks
        and not _module_hooks._global_forward_pre_hooks
    )


def _needs_grad(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    return torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )


def _bucket(rows: int) -> int:
    """The row count a call of ``rows`` (<= ``ROW_BLOCK``) rows runs at: as is up to 32 rows (a small GEMM's cost
    grows with every row, and padding costs a copy), else rounded up to a multiple of 8 (up to 64), 16 (up to 256),
    32 (up to 512) or 64; padding stays under about 6% past 32 rows."""
    if rows <= 32:
        return rows
    step = 8 if rows <= 64 else 16 if rows <= 256 else 32 if rows <= 512 else 64
    return -(-rows // step) * step


def _pad_rows(t: Tensor, rows: int) -> Tensor:
    return t if t.shape[0] == rows else torch.cat([t, t.new_zeros(rows - t.shape[0], t.shape[1])])


def _in_row_blocks(op: Callable[[Tensor, Tensor | None], Tensor], x: Tensor, residual: Tensor | None,
                   out_features: int) -> Tensor:
    """``op(rows, residual_rows)`` over ``x`` flattened to (M, in) rows, run only at a small fixed set of row counts.

    oneDNN builds one kernel per input shape and keeps it in a cache. Calls at arbitrary row counts (every batch
    has its own number of real tokens) fill that cache, and its evictions do not give the memory back: a few
    thousand distinct counts exhaust a machine's RAM. So rows run in blocks of ``ROW_BLOCK``, and the rest is padded
    with zero rows (:func:`_bucket`): at most 65 row counts per weight shape.
    """
    lead = x.shape[:-1]
    total = lead.numel()
    if 0 < total <= ROW_BLOCK and _bucket(total) == total:  # already a count from the set: no copy, no reshape
        return op(x, None if residual is None else residual.contiguous())
    rows = x.reshape(-1, x.shape[-1])  # (M, in)
    extra = None if residual is None else residual.reshape(-1, residual.shape[-1])
    if total > ROW_BLOCK:
        out = rows.new_empty(total, out_features)
        for start in range(0, total, ROW_BLOCK):
            stop = min(start + ROW_BLOCK, total)
            out[start:stop] = _in_row_blocks(op, rows[start:stop], None if extra is None else extra[start:stop],
                                             out_features)
        return out.view(*lead, out_features)
    if total == 0:
        return rows.new_empty(*lead, out_features)
    padded = _bucket(total)
    y = op(_pad_rows(rows, padded), None if extra is None else _pad_rows(extra.contiguous(), padded))
    return y[:total].view(*lead, out_features)


class _OneDNNLinearFunction(torch.autograd.Function):
    """y = x W^T + b with the forward and dL/dx on oneDNN, dL/dW and dL/db on torch's matmul and sum."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _in_row_blocks(lambda rows, _: torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", [], ""),
                              x, None, weight.shape[0])

    @staticmethod
    def backward(ctx, grad_y: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # dL/dx = grad_y W: a linear layer whose weight is W^T (in, out)
            transposed = weight.t().contiguous()
            grad_x = _in_row_blocks(
                lambda rows, _: torch.ops.mkldnn._linear_pointwise(rows, transposed, None, "none", [], ""),
                grad_y, None, weight.shape[1])
        rows_y = grad_y.reshape(-1, grad_y.shape[-1])  # (M, out)
        if ctx.needs_input_grad[1]:
            grad_weight = rows_y.t().mm(x.reshape(-1, x.shape[-1]))  # (out, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = rows_y.sum(0)
        return grad_x, grad_weight, grad_bias


class Fingerprint(NamedTuple):
    """What tells that tensors changed since a copy was made from some of them.

    In-place ops bump a tensor's version counter and ``.data =`` changes its storage; fused optimizers and edits
    through ``.data`` touch neither, but change the first elements of the tensor, as any dense update does. So every
    tensor the copy depends on is stamped (version, storage), and those whose values were copied are also sampled.
    The sampled views keep the old storage alive, so a new tensor cannot reuse its address unnoticed.

    Example:
        >>> weight = torch.zeros(4, 4)
        >>> fingerprint = Fingerprint.of([weight], copied=[weight])
        >>> _ = weight.data.add_(1.0)  # no version bump
        >>> fingerprint.matches([weight])
        False
    """

    stamp: list[tuple[int, int] | None]
    """(version, data_ptr) of each tensor (None for None)."""
    views: tuple[Tensor, ...]
    """The first ``FINGERPRINT_ELEMENTS`` elements of each copied tensor: views into the live tensors."""
    saved: Tensor
    """Their values when taken, concatenated."""

    @staticmethod
    def of(tensors: Sequence[Tensor | None], copied: Sequence[Tensor]) -> Fingerprint:
        """``tensors``: all the copy depends on; ``copied``: those among them whose values it holds."""
        views = tuple(t.detach().view(-1)[:FINGERPRINT_ELEMENTS] for t in copied)
        return Fingerprint(_stamp(tensors), views, torch.cat(views))

    def matches(self, tensors: Sequence[Tensor | None]) -> bool:
        # contiguous views: one cat of 54 of them takes a few us, against 35 us for views strided over the tensor
        return self.stamp == _stamp(tensors) and torch.equal(torch.cat(self.views), self.saved)


def _stamp(tensors: Sequence[Tensor | None]) -> list[tuple[int, int] | None]:
    return [None if t is None else (t._version, t.data_ptr()) for t in tensors]


class _Reordered(NamedTuple):
    """oneDNN's reordered copy of a layer's weight."""

    fingerprint: Fingerprint
    weight: Tensor


def _reordered(layer: nn.Linear) -> Tensor:
    """The layer's weight reordered by oneDNN, remade whenever it changes (its bias is read live)."""
    key = id(layer)
    weight = layer.weight
    entry = _packed.get(key)
    if entry is not None and entry.fingerprint.matches((weight,)):
        return entry.weight
    if entry is None:
        weakref.finalize(layer, _packed.pop, key, None)
    _packed[key] = entry = _Reordered(Fingerprint.of((weight,), copied=(weight,)),
                                      torch.ops.mkldnn._reorder_linear_weight(weight.detach()))
    return entry.weight


def _small_inference_call(layer: nn.Linear, x: Tensor) -> bool:
    """An inference call small enough that a plain-layout weight's per-call reorder would dominate the GEMM."""
    return (
        _pack
        and not layer.training
        and x.shape[:-1].numel() <= PACK_MAX_ROWS
        and _onednn_applies(x, layer.weight)
        and not _needs_grad(x, layer.weight, layer.bias)
    )


def linear(layer: nn.Module, x: Tensor, activation: str | None = None, residual: Tensor | None = None) -> Tensor:
    """``act(layer(x))``, or ``layer(x) + residual``, fused into one oneDNN GEMM where possible.

    ``activation`` is one of None, "gelu" (exact), "gelu_tanh", "relu", "tanh"; ``residual`` has the output's shape.
    At most one of the two may be given. A layer that is not a plain, hook-free ``nn.Linear`` is called as it is.
    """
    if _plain_linear(layer):
        if _small_inference_call(layer, x):
            return fused_linear(x, _reordered(layer), layer.bias, activation, residual)
        return fused_linear(x, layer.weight, layer.bias, activation, residual)
    if activation is not None and residual is not None:
        raise ValueError("linear() fuses an activation or a residual, not both")
    return _epilogue(layer(x), activation, residual)


def _epilogue(y: Tensor, activation: str | None, residual: Tensor | None) -> Tensor:
    """The activation or residual addition, applied eagerly to an unfused linear output."""
    if residual is not None:
        return y + residual
    eager_activation = _FUSED_ACTIVATIONS[activation][2]
    return y if eager_activation is None else eager_activation(y)


def fused_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None = None, residual: Tensor | None = None
) -> Tensor:
    """``act(F.linear(x, weight, bias))``, or ``F.linear(x, weight, bias) + residual``, on oneDNN where it applies."""
    if activation is not None and residual is not None:
        raise ValueError("linear() fuses an activation or a residual, not both")
    # weight.is_mkldnn: a reordered copy, for which the caller checked that oneDNN applies and no gradient is needed
    onednn = weight.is_mkldnn or _onednn_applies(x, weight)
    if onednn and (weight.is_mkldnn or not _needs_grad(x, weight, bias)):
        post_op, algorithm, _ = _FUSED_ACTIVATIONS[activation]

        def fused(rows: Tensor, extra: Tensor | None) -> Tensor:
            if extra is not None:
                return torch.ops.mkldnn._linear_pointwise.binary(rows, extra, weight, bias, "add")
            return torch.ops.mkldnn._linear_pointwise(rows, weight, bias, post_op, [], algorithm)

        return _in_row_blocks(fused, x, residual, weight.shape[0])
    if onednn and weight.dtype == torch.float32:
        y = _OneDNNLinearFunction.apply(x.contiguous(), weight, bias)
    else:
        y = F.linear(x, weight, bias)
    return _epilogue(y, activation, residual)
