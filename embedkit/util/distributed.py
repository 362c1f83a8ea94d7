"""Gathering tensors across ``torch.distributed`` ranks (sentence-transformers' ``util.distributed`` names).

Built on :mod:`embedkit.distributed`; every function is a no-op passthrough in a single process.
"""

from __future__ import annotations

import logging

import torch
import torch.distributed as dist
from torch import Tensor

from embedkit import distributed as _dist
from embedkit.util.environment import is_dist_initialized

__all__ = ["all_gather", "all_gather_padded", "all_gather_with_grad", "get_rank", "get_world_size"]

logger = logging.getLogger(__name__)
_warned_single_process = False


def get_rank() -> int:
    """Rank of this process, ``0`` when not distributed.

    Example:
        >>> get_rank()
        0
    """
    return dist.get_rank() if is_dist_initialized() else 0


def get_world_size() -> int:
    """Number of processes in the group, ``1`` when not distributed.

    Example:
        >>> get_world_size()
        1
    """
    return dist.get_world_size() if is_dist_initialized() else 1


def all_gather(tensor: Tensor, with_grad: bool = False) -> Tensor:
    """Concatenate ``tensor`` (same shape on every rank) from all ranks along dim 0.

    The local slice keeps its autograd history; with ``with_grad=True`` gradients also flow back to the rank
    that produced each slice. Without an initialized process group the tensor is returned unchanged (with a
    one-time warning).

    Example:
        >>> all_gather(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """
    global _warned_single_process
    if not is_dist_initialized():
        if not _warned_single_process:
            _warned_single_process = True
            logger.warning(
                "Trying to gather while torch.distributed is not available or has not been initialized, returning "
                "the original (local) tensor. This is expected if you are only using one GPU; consider not using "
                "gathering to remove this warning."
            )
        return tensor
    if with_grad:
        return _dist.all_gather_with_grad(tensor)
    parts = [torch.zeros_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    parts[dist.get_rank()] = tensor
    return torch.cat(parts, dim=0)


def all_gather_with_grad(tensor: Tensor) -> Tensor:
    """:func:`all_gather` with gradients flowing back to every rank's slice.

    Example:
        >>> all_gather_with_grad(torch.ones(2)).shape
        torch.Size([2])
    """
    return all_gather(tensor, with_grad=True)


def all_gather_padded(tensor: Tensor, mask: Tensor, with_grad: bool = False) -> tuple[Tensor, Tensor]:
    """All-gather ``(B, T, D)`` token embeddings and their ``(B, T)`` mask, padding ``T`` to the largest rank's.

    Ranks may pad their batches to different lengths; both tensors are right-padded (embeddings with zeros,
    the mask with ``False``/0) to the global maximum before gathering. The mask never carries gradients.

    Example:
        >>> emb, mask = all_gather_padded(torch.ones(2, 4, 8), torch.ones(2, 4, dtype=torch.bool))
        >>> emb.shape, mask.shape
        (torch.Size([2, 4, 8]), torch.Size([2, 4]))
    """
    if is_dist_initialized():
        longest = torch.tensor(tensor.size(1), device=tensor.device)
        dist.all_reduce(longest, op=dist.ReduceOp.MAX)
        width = int(longest.item())
        if tensor.size(1) < width:
            tensor = torch.nn.functional.pad(tensor, (0, 0, 0, width - tensor.size(1)))
            mask = torch.nn.functional.pad(mask, (0, width - mask.size(1)))
    return all_gather(tensor, with_grad=with_grad), all_gather(mask)
