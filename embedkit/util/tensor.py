"""Tensor helpers: moving feature dicts to a device, normalizing, truncating and sparsifying embeddings."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from embedkit.util.similarity import normalize_embeddings, truncate_embeddings

__all__ = ["batch_to_device", "normalize_embeddings", "select_max_active_dims", "truncate_embeddings"]


def batch_to_device(batch: dict[str, Any], target_device: torch.device | str) -> dict[str, Any]:
    """Move every tensor of a features dict to ``target_device`` (other values are kept as they are).

    Example:
        >>> batch_to_device({"input_ids": torch.tensor([[1, 2]]), "text": "a"}, "cpu")["input_ids"].device.type
        'cpu'
    """
    return {key: value.to(target_device) if isinstance(value, Tensor) else value for key, value in batch.items()}


def select_max_active_dims(embeddings: Tensor, max_active_dims: int | None) -> Tensor:
    """Keep the ``max_active_dims`` largest-magnitude values of each row, zero the rest (a new tensor).

    Example:
        >>> select_max_active_dims(torch.tensor([[0.5, -3.0, 2.0, 0.1]]), 2)
        tensor([[ 0., -3.,  2.,  0.]])
    """
    if max_active_dims is None:
        return embeddings
    check_max_active_dims(max_active_dims)
    k = min(max_active_dims, embeddings.shape[-1])
    top = torch.topk(embeddings.abs(), k=k, dim=-1).indices
    return torch.zeros_like(embeddings).scatter_(-1, top, embeddings.gather(-1, top))


def check_max_active_dims(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"max_active_dims must be a positive integer, got {value!r}")
