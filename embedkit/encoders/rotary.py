"""Rotary position embeddings (RoPE, Su et al. 2021) as HF lays them out: each frequency serves the two halves of a
head (not interleaved pairs). Used by ModernBERT, Qwen3, Gemma 3 and the Llama family.

Legend: T tokens, Dh head size.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

SCALED_ROPE_TYPES = ("linear", "llama3")
# The settings each scaled type reads from transformers' ``rope_parameters`` (or 4.x's ``rope_scaling``)
ROPE_SCALING_KEYS = {"linear": ("factor",),
                     "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}


def rotary_inv_freq(head_dim: int, theta: float, scaling: dict[str, Any] | None = None,
                    device: torch.device | None = None) -> Tensor:
    """(Dh / 2,) float32 frequencies: theta^(-2i/Dh), then scaled as ``scaling["rope_type"]`` says (transformers'
    formulas): ``linear`` divides every frequency by ``factor``; ``llama3`` (Llama 3.1+) divides the low
    frequencies (wavelength above ``original_max_position_embeddings / low_freq_factor``) by ``factor``, keeps the
    high ones (below ``... / high_freq_factor``) and interpolates smoothly in between.

    Example:
        >>> plain = rotary_inv_freq(8, 10_000.0)
        >>> torch.equal(rotary_inv_freq(8, 10_000.0, {"rope_type": "linear", "factor": 4.0}), plain / 4.0)
        True
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float) / head_dim)
    kind = (scaling or {}).get("rope_type", "default")
    if kind == "linear":
        return inv_freq / scaling["factor"]
    if kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        context = scaling["original_max_position_embeddings"]
        wavelength = 2 * math.pi / inv_freq
        scaled = torch.where(wavelength > context / low, inv_freq / factor, inv_freq)
        smooth = (context / wavelength - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelength < context / high) * ~(wavelength > context / low)
        return torch.where(medium, smoothed, scaled)
    return inv_freq


def rotary_cos_sin(positions: Tensor, head_dim: int, theta: float, scaling: dict[str, Any] | None = None
                   ) -> tuple[Tensor, Tensor]:
    """cos and sin of each position's rotation angles, (..., Dh) in float32: frequency i is theta^(-2i/Dh)
    (scaled by :func:`rotary_inv_freq`), and each frequency serves the two halves of the head.

    Example:
        >>> cos, sin = rotary_cos_sin(torch.arange(3), head_dim=4, theta=10_000.0)
        >>> tuple(cos.shape), cos[0].tolist()
        ((3, 4), [1.0, 1.0, 1.0, 1.0])
    """
    inv_freq = rotary_inv_freq(head_dim, theta, scaling, positions.device)
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
