"""Relative position biases as T5 defined them and MPNet reuses: one learned bias per attention head and bucket of
signed distance (key - query), added to the attention scores of every layer.

Legend: B batch, T tokens, H heads.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def relative_position_bucket(relative_position: Tensor, num_buckets: int, max_distance: int = 128) -> Tensor:
    """Map signed distances (key - query) to bucket ids, bidirectionally (T5's encoder, MPNet).

    Half the buckets hold keys before the query, half keys after. Within each half, the first half of the buckets
    are exact distances; the rest grow logarithmically up to ``max_distance``, beyond which all share the last.

    Example:
        >>> relative_position_bucket(torch.tensor([0, -1, 1, 2, 3, 9]), num_buckets=8, max_distance=4).tolist()
        [0, 1, 5, 6, 7, 7]
    """
    half = num_buckets // 2
    distance = -relative_position  # > 0 when the key is before the query
    bucket = (distance < 0).long() * half
    distance = distance.abs()
    exact = half // 2
    log_ratio = torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
    large = exact + (log_ratio * (half - exact)).long()
    large = large.clamp(max=half - 1)
    return bucket + torch.where(distance < exact, distance, large)


def relative_position_bias(table: nn.Embedding, T: int, max_distance: int, device: torch.device) -> Tensor:
    """The (1, H, T, T) bias of every (query, key) pair, read from ``table`` (num_buckets, H)."""
    positions = torch.arange(T, device=device)
    relative = positions[None, :] - positions[:, None]  # (T, T): key - query
    buckets = relative_position_bucket(relative, table.num_embeddings, max_distance)
    return table(buckets).permute(2, 0, 1).unsqueeze(0)  # (1, H, T, T)


def mask_padding_keys(bias: Tensor, attention_mask: Tensor | None) -> Tensor:
    """``bias`` (1, H, T, T) with padding keys at the dtype's lowest value, (B, H, T, T); unchanged without padding."""
    if attention_mask is None or bool(attention_mask.all()):
        return bias
    padding = attention_mask[:, None, None, :].eq(0)  # (B, 1, 1, T), True = padding key
    return bias.masked_fill(padding, torch.finfo(bias.dtype).min)  # (B, H, T, T)
