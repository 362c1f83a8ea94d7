"""Attention and LayerNorm for the engine's layers, on padded (B, T, D) or packed (N, D) rows.

Packed rows of sequences grouped by length (:class:`~embedkit.encoders.engine.packing.Packing`'s ``groups``) attend
one group at a time, each as a (b, H, L, Dh) view of the projections: no padding, no copy in, no padding mask.
Against the padded layout (all-MiniLM-L6-v2, one process, alternating, 2-core AVX-512 EPYC): batches of 37 short
texts (17 tokens on average) 3% faster per batch; 3,000 of them at batch size 128 8% and mixed sentences and
documents 4% faster.

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
    if packing.groups is not None:  # the sequences of each length as they are: no padding, no padding mask
        y = q.new_empty(N, D)
        y[packing.real:].zero_()  # the rows up to the GEMMs' row count
        for (start, count, length), mask in zip(packing.groups, packing.group_masks(attn_mask)):
            if length == 0:
                continue
            rows = slice(start, start + count * length)
            heads = [t[rows].view(count, length, n_heads, -1).transpose(1, 2) for t in (q, k, v)]  # (b, H, L, Dh)
            out = F.scaled_dot_product_attention(*heads, attn_mask=mask)  # (b, H, L, Dh)
            y[rows].view(count, length, n_heads, -1).copy_(out.transpose(1, 2))
        return y
    B, T = packing.batch, packing.tokens
    heads = [packing.pad(t).view(B, T, n_heads, -1).transpose(1, 2) for t in (q, k, v)]  # each (B, H, T, Dh)
    y = F.scaled_dot_product_attention(*heads, attn_mask=attn_mask)  # (B, H, T, Dh)
    return packing.unpad(y.transpose(1, 2).reshape(B, T, D))  # (N, D)


def layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    """``norm(x)`` without the module call (its parameters read live)."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
