"""Attention and LayerNorm for the engine's layers, on padded (B, T, D) or packed (N, D) rows.

Example:
    >>> import torch
    >>> q = k = v = torch.randn(1, 3, 8)  # (B, T, D)
    >>> tuple(attention(q, k, v, 2, None, None, True).shape)
    (1, 3, 8)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders.engine.packing import Packing
from embedkit.encoders.engine.varlen import varlen_attention


def attention(q: Tensor, k: Tensor, v: Tensor, n_heads: int, attn_mask: Tensor | None, packing: Packing | None,
              varlen: bool) -> Tensor:
    """Scaled dot-product attention (eval mode) of projected ``q``, ``k``, ``v``, each (B, T, D), or the (rows, D)
    packed tokens of ``packing`` (its N real tokens first); the output has their layout. ``attn_mask`` follows
    :mod:`embedkit.encoders.layers`."""
    if packing is None:
        B, T, D = q.shape
        heads = [t.view(B, T, n_heads, -1).transpose(1, 2) for t in (q, k, v)]  # each (B, H, T, Dh)
        y = F.scaled_dot_product_attention(*heads, attn_mask=attn_mask)  # (B, H, T, Dh)
        return y.transpose(1, 2).reshape(B, T, D)
    N, D = q.shape
    if varlen and N == packing.real:  # CUDA: attention within each sequence of the packed tokens, no padding
        y = varlen_attention(*(t.reshape(N, n_heads, -1) for t in (q, k, v)), packing, attn_mask, 0.0)
        if y is not None:
            return y.reshape(N, D)
    B, T = packing.batch, packing.tokens
    heads = [packing.pad(t).view(B, T, n_heads, -1).transpose(1, 2) for t in (q, k, v)]  # each (B, H, T, Dh)
    y = F.scaled_dot_product_attention(*heads, attn_mask=attn_mask)  # (B, H, T, Dh)
    return packing.unpad(y.transpose(1, 2).reshape(B, T, D))  # (N, D)


def layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    """``norm(x)`` without the module call (its parameters read live)."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
