"""Attention over packed tokens without padding, on CUDA (FlashAttention's variable-length kernel).

With :class:`~embedkit.encoders.engine.packing.Packing` the projections and feed-forward already run on the N real
tokens only; attention otherwise runs one call per group of equal-length sequences (:mod:`.attention`). On CUDA GPUs
that run FlashAttention (compute capability 8.0 or newer) with fp16 or bf16 activations (a half-precision model, or
``torch.autocast``), ``torch.nn.attention.varlen.varlen_attn`` attends within each sequence of the packed (N, H, Dh)
tokens directly, given where each sequence starts (``cu_seqlens``): no padded copy, no mask, no work on padding.

It applies only where it computes what the padded path does: a padding-only mask (BERT; MPNet's relative position
bias is an additive float mask, which the kernel does not take), no attention dropout (eval mode, or a dropout
probability of 0), a head size the kernel supports. Everywhere else, CPUs included, attention runs by groups of
equal lengths (or padded, for a mask other than padding on the right).
The engine's ``varlen_attention`` option (``EMBEDKIT_VARLEN=0``) turns it off.

Example:
    >>> import torch
    >>> from embedkit.encoders.engine.packing import Packing
    >>> packing = Packing(torch.tensor([[1, 1, 1], [1, 0, 0]]))
    >>> q = k = v = torch.randn(4, 2, 8)  # (N, H, Dh): the 4 real tokens
    >>> varlen_attention(q, k, v, packing, None, 0.0) is None  # a CPU tensor: the caller pads
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from embedkit.encoders.engine.packing import Packing

_kernel: Callable[..., Tensor] | None = None
_looked_up = False


def _load_kernel() -> Callable[..., Tensor] | None:
    """``varlen_attn``, imported at the first CUDA call that could use it (the import pulls in about a second of
    torch's compiler modules, which a CPU process never needs)."""
    global _kernel, _looked_up
    if not _looked_up:
        _looked_up = True
        try:
            from torch.nn.attention.varlen import varlen_attn
        except ImportError:  # torch without the public varlen API
            varlen_attn = None
        _kernel = varlen_attn
    return _kernel


def applies(q: Tensor, attn_mask: Tensor | None, dropout_p: float) -> bool:
    """Whether the variable-length kernel computes what padded SDPA would for packed ``q`` (N, H, Dh)."""
    return (
        q.is_cuda
        and q.dtype in (torch.float16, torch.bfloat16)
        and dropout_p == 0.0
        and (attn_mask is None or attn_mask.dtype == torch.bool)
        and q.shape[-1] % 8 == 0
        and q.shape[-1] <= 256
        and torch.cuda.get_device_capability(q.device) >= (8, 0)
        and _load_kernel() is not None
    )


def varlen_attention(
    q: Tensor, k: Tensor, v: Tensor, packing: Packing, attn_mask: Tensor | None, dropout_p: float
) -> Tensor | None:
    """Attention of the packed (N, H, Dh) tokens within their own sequences, (N, H, Dh); None where it does not
    apply (the caller then pads). ``attn_mask`` must be the padding mask ``packing`` was made from, or None."""
    if not applies(q, attn_mask, dropout_p):
        return None
    starts, longest, shortest = packing.sequence_starts()
    if shortest == 0:  # a row without tokens: padded attention decides what it gets
        return None
    return _load_kernel()(q, k, v, starts, starts, longest, longest)
