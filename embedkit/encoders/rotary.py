"""Rotary position embeddings (RoPE, Su et al. 2021) as HF lays them out: each frequency serves the two halves of a
head (not interleaved pairs). Used by ModernBERT and Qwen3.

Legend: T tokens, Dh head size.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rotary_cos_sin(positions: Tensor, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin of each position's rotation angles, (..., Dh) in float32: frequency i is theta^(-2i/Dh), and
    each frequency serves the two halves of the head.

    Example:
        >>> cos, sin = rotary_cos_sin(torch.arange(3), head_dim=4, theta=10_000.0)
        >>> tuple(cos.shape), cos[0].tolist()
        ((3, 4), [1.0, 1.0, 1.0, 1.0])
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float) / head_dim)
    angles = positions[..., None].float() * inv_freq  # (..., Dh / 2)
    angles = torch.cat((angles, angles), dim=-1)  # (..., Dh)
    return angles.cos(), angles.sin()


def rotate_half(x: Tensor) -> Tensor:
    """(first, second) halves of the last dimension -> (-second, first)."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` (..., T, Dh) by the angles of ``cos``/``sin`` (T, Dh), in float32 (as HF's ModernBERT does).

    Example:
        >>> cos, sin = rotary_cos_sin(torch.arange(2), head_dim=4, theta=10_000.0)
        >>> x = torch.ones(2, 4)
        >>> torch.equal(apply_rotary(x, cos, sin)[0], x[0])  # position 0 is not rotated
        True
    """
    x32 = x.float()
    return (x32 * cos + rotate_half(x32) * sin).to(x.dtype)
