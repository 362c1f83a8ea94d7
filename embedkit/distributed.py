"""torch.distributed helpers: rank/world size, rank-0 gating, and gathering embeddings across processes.

``all_gather_with_grad`` concatenates every rank's tensor and lets gradients flow back to the rank that produced
each slice (``torch.distributed.nn.functional.all_gather``). Every rank then computes the loss on the same global
batch, and the autograd all-gather sums the gradient contributions of all ranks into each local slice. DDP averages
parameter gradients over ``world_size`` ranks, so the update equals the single-process update on the concatenated
batch (each rank's loss is the same global mean; summing the ``world_size`` identical contributions and dividing
by ``world_size`` gives back one copy).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def all_gather(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` (same shape on every rank) from all ranks along dim 0, without gradients."""
    if get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every rank's tensor; backward hands each rank the summed gradient of its own slice."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # type: ignore[override]
        ctx.rows = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every rank's loss depends on every slice: sum their gradients
        start = get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def all_gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from all ranks along dim 0; gradients flow back to the rank that produced each slice.

    Every rank must call it with the same shape (the samplers guarantee equal per-rank batches). Backward sums,
    for each slice, the gradients that all ranks' losses send to it (one all-reduce).

    Shapes: (B, ...) per rank -> (world_size * B, ...). Single process: returned unchanged.

    Example:
        >>> all_gather_with_grad(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """
    if get_world_size() == 1:
        return tensor
    return _AllGatherWithGrad.apply(tensor)


def init_from_env(timeout_seconds: int = 1800, backend: str | None = None) -> bool:
    """Start the process group when launched by ``torchrun`` (WORLD_SIZE > 1); returns True if this call started it.

    ``backend`` defaults to NCCL on CUDA, gloo on CPU. ``timeout_seconds`` bounds every collective, so one rank
    failing ends the others with an error instead of a hang.
    """
    import os
    from datetime import timedelta

    if is_initialized() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_seconds))
    return True


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def broadcast_object(obj: object) -> object:
    """Rank 0's ``obj`` on every rank."""
    if not is_initialized():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def is_local_main_process() -> bool:
    """Rank 0 of this node (``LOCAL_RANK`` 0, as torchrun sets it), or the only process."""
    import os

    return int(os.environ.get("LOCAL_RANK", get_rank() if is_initialized() else 0)) == 0


def gather_to_all(obj: object) -> list[object]:
    """Every rank's ``obj`` as a list on every rank; ``[obj]`` in a single process."""
    if not is_initialized():
        return [obj]
    out: list[object] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_to_main(obj: object) -> list[object] | None:
    """Every rank's ``obj`` as a list on rank 0 (None elsewhere); ``[obj]`` in a single process."""
    if not is_initialized():
        return [obj]
    out = [None] * get_world_size() if get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def mean_over_ranks(value: float) -> float:
    if not is_initialized():
        return value
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / get_world_size()


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (what DDP does when it wraps a module)."""
    if not is_initialized():
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def all_reduce_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over ranks with a single all-reduce of one flat buffer (missing grads count as zero)."""
    if get_world_size() == 1:
        return
    missing = [p.grad is None for p in params]
    for p, absent in zip(params, missing):
        if absent:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= get_world_size()
    offset = 0
    for p, absent in zip(params, missing):
        n = p.grad.numel()
        chunk = flat[offset : offset + n]
        # A parameter no rank used (e.g. a frozen guide model) stays without gradient, so AdamW leaves it alone.
        p.grad = None if absent and not bool(chunk.any()) else chunk.view_as(p).clone()
        offset += n
