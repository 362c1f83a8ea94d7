"""Linear layers through oneDNN on x86 CPUs, for passes without autograd.

torch sends a CPU fp32 ``F.linear`` to its BLAS (MKL in the x86 wheels). oneDNN, which torch also ships, picks its
kernel from the CPU's instruction set instead of its vendor; on an AMD EPYC with AVX-512 it runs the encoder's
GEMM shapes about 2.2x faster than MKL (``benchmarks/encode.py`` shows the effect on whole encodes). It can also
fuse the bias, the activation (exact or tanh GELU, ReLU, tanh) or a residual addition into the GEMM.

Without autograd (inference, GradCache's first pass) the whole call is one fused op. With autograd, the forward
and the input gradient run on oneDNN and the weight gradient on torch's own matmul (oneDNN would need both operands
transposed and gains little there). Layers that are not a plain ``nn.Linear`` (int8 layers, for one), other dtypes
and devices, autocast and ``torch.compile`` (which fuses on its own) go through the module itself. Results agree
with ``F.linear`` to float rounding (~1e-6 relative), and the same inputs give bitwise the same outputs with and
without autograd, so GradCache's replay reproduces its first pass exactly.

Set ``EMBEDKIT_ONEDNN=0`` to turn the path off.

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


def _onednn_applies(x: Tensor, weight: Tensor) -> bool:
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and weight.dtype == torch.float32
        and weight.is_contiguous()
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
        and onednn_available()
    )


def _plain_linear(layer: nn.Module) -> bool:
    """A bare ``nn.Linear`` that nothing observes: calling its weights directly skips no hook."""
    return (
        type(layer) is nn.Linear
        and not layer._forward_hooks
        and not layer._forward_pre_hooks
        and not nn.modules.module._global_forward_hooks
        and not nn.modules.module._global_forward_pre_hooks
    )


class _OneDNNLinearFunction(torch.autograd.Function):
    """y = x W^T + b with the forward and dL/dx on oneDNN, dL/dW and dL/db on torch's matmul and sum."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")

    @staticmethod
    def backward(ctx, grad_y: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # dL/dx = grad_y W: a linear layer whose weight is W^T (in, out)
            grad_x = torch.ops.mkldnn._linear_pointwise(grad_y, weight.t().contiguous(), None, "none", [], "")
        rows_y = grad_y.reshape(-1, grad_y.shape[-1])  # (M, out)
        if ctx.needs_input_grad[1]:
            grad_weight = rows_y.t().mm(x.reshape(-1, x.shape[-1]))  # (out, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = rows_y.sum(0)
        return grad_x, grad_weight, grad_bias


def linear(layer: nn.Module, x: Tensor, activation: str | None = None, residual: Tensor | None = None) -> Tensor:
    """``act(layer(x))``, or ``layer(x) + residual``, fused into one oneDNN GEMM where possible.

    ``activation`` is one of None, "gelu" (exact), "gelu_tanh", "relu", "tanh"; ``residual`` has the output's shape.
    At most one of the two may be given. A layer that is not a plain, hook-free ``nn.Linear`` is called as it is.
    """
    if _plain_linear(layer):
        return fused_linear(x, layer.weight, layer.bias, activation, residual)
    if activation is not None and residual is not None:
        raise ValueError("linear() fuses an activation or a residual, not both")
    y = layer(x)
    if residual is not None:
        return y + residual
    eager_activation = _FUSED_ACTIVATIONS[activation][2]
    return y if eager_activation is None else eager_activation(y)


def fused_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None = None, residual: Tensor | None = None
) -> Tensor:
    """``act(F.linear(x, weight, bias))``, or ``F.linear(x, weight, bias) + residual``, on oneDNN where it applies."""
    if activation is not None and residual is not None:
        raise ValueError("fused_linear() fuses an activation or a residual, not both")
    post_op, algorithm, eager_activation = _FUSED_ACTIVATIONS[activation]
    if not _onednn_applies(x, weight):
        y = F.linear(x, weight, bias)
    elif torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        y = _OneDNNLinearFunction.apply(x.contiguous(), weight, bias)
    elif residual is not None:
        return torch.ops.mkldnn._linear_pointwise.binary(x, residual.contiguous(), weight, bias, "add")
    else:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, post_op, [], algorithm)
    if residual is not None:
        return y + residual
    return y if eager_activation is None else eager_activation(y)
