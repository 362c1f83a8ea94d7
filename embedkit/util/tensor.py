"""Tensor helpers: converting inputs, moving feature dicts to a device, normalizing, truncating and sparsifying."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from embedkit.util.similarity import (
    _as_float_tensor,
    _as_rows,
    _as_tensor,
    _from_numpy,
    normalize_embeddings,
    truncate_embeddings,
)

__all__ = [
    "batch_to_device",
    "cat_padded_token_embeddings",
    "compute_count_vector",
    "normalize_embeddings",
    "repad_flattened_features",
    "select_max_active_dims",
    "stack_padded_token_embeddings",
    "truncate_embeddings",
]

# sentence-transformers' names of the input converters (tests and callers import them from here).
_wrap_numpy = _from_numpy
_convert_to_tensor = _as_tensor
_convert_to_float_tensor = _as_float_tensor
_convert_to_batch_tensor = _as_rows


def _convert_to_batch(a: Tensor) -> Tensor:
    """View a 1-D tensor as a batch of one row."""
    return a.unsqueeze(0) if a.dim() == 1 else a


def _tensor_to_numpy(tensor: Tensor) -> np.ndarray:
    """NumPy copy of ``tensor`` (bfloat16, which NumPy lacks, becomes float32)."""
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.detach().cpu().numpy()


def _move(value: Any, target_device: torch.device | str) -> Any:
    if isinstance(value, Tensor):
        return value.to(target_device)
    if isinstance(value, dict):
        return {key: _move(item, target_device) for key, item in value.items()}
    if isinstance(value, (list, tuple)) and any(isinstance(item, (Tensor, dict)) for item in value):
        return type(value)(_move(item, target_device) for item in value)
    return value


def batch_to_device(batch: dict[str, Any], target_device: torch.device | str) -> dict[str, Any]:
    """Move every tensor of a features dict (including tensors nested in dicts/lists) to ``target_device``, in the
    dict itself, which is returned (as sentence-transformers does: callers may ignore the return value).

    Example:
        >>> features = {"input_ids": torch.tensor([[1, 2]]), "text": "a"}
        >>> batch_to_device(features, "cpu") is features, features["input_ids"].device.type
        (True, 'cpu')
    """
    for key in batch:
        batch[key] = _move(batch[key], target_device)
    return batch


def select_max_active_dims(embeddings: np.ndarray | Tensor, max_active_dims: int | None) -> np.ndarray | Tensor:
    """Keep the ``max_active_dims`` largest-magnitude values of each embedding, zero the rest.

    ``None`` returns the input itself. Otherwise the result is a new tensor (NumPy input is converted;
    the input is never modified); a 1-D input is one embedding.

    Raises:
        ValueError: If ``max_active_dims`` is not a positive integer.

    Example:
        >>> select_max_active_dims(torch.tensor([[0.5, -3.0, 2.0, 0.1]]), 2)
        tensor([[ 0., -3.,  2.,  0.]])
    """
    if max_active_dims is None:
        return embeddings
    check_max_active_dims(max_active_dims)
    if isinstance(embeddings, np.ndarray):
        embeddings = torch.from_numpy(embeddings) if embeddings.flags.writeable else torch.tensor(embeddings)
    k = min(max_active_dims, embeddings.shape[-1])
    top = torch.topk(embeddings.abs(), k=k, dim=-1).indices
    return torch.zeros_like(embeddings).scatter_(-1, top, embeddings.gather(-1, top))


def check_max_active_dims(value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is ``None`` or a positive integer."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"max_active_dims must be a positive integer, got {value!r}")


def _move_tensors_to_device(value: Any, target_device: torch.device | str) -> Any:
    """Move every tensor nested in dicts, lists and tuples to ``target_device``, keeping the structure."""
    target = torch.device(target_device)
    if isinstance(value, Tensor):
        return value if value.device == target or (target.type == "cpu" and value.device.type == "cpu") \
            else value.to(target)
    if isinstance(value, dict):
        return {key: _move_tensors_to_device(item, target) for key, item in value.items()}
    if isinstance(value, list):
        return [_move_tensors_to_device(item, target) for item in value]
    if isinstance(value, tuple):
        return tuple(_move_tensors_to_device(item, target) for item in value)
    return value


def _move_tensors_to_cpu(value: Any) -> Any:
    """:func:`_move_tensors_to_device` to the CPU (results leaving a worker process must be readable later)."""
    return _move_tensors_to_device(value, "cpu")


def _pad_token_axis(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Right-pad ``(B, T_i, D)`` embeddings and ``(B, T_i)`` masks to the largest ``T_i`` (no-op if all equal)."""
    width = max(e.size(1) for e in embeddings)
    if all(e.size(1) == width for e in embeddings):
        return embeddings, masks
    embeddings = [torch.nn.functional.pad(e, (0, 0, 0, width - e.size(1))) for e in embeddings]
    masks = [torch.nn.functional.pad(m, (0, width - m.size(1))) for m in masks]
    return embeddings, masks


def stack_padded_token_embeddings(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack ``(B, T_i, D)`` token embeddings and ``(B, T_i)`` masks on a new dim 1, padding tokens to ``max T_i``.

    Returns a ``(B, N, T, D)`` tensor and a ``(B, N, T)`` mask (padding is masked out).

    Example:
        >>> emb, mask = stack_padded_token_embeddings([torch.ones(2, 3, 4), torch.ones(2, 5, 4)],
        ...                                           [torch.ones(2, 3), torch.ones(2, 5)])
        >>> emb.shape, mask.shape, mask[0, 0].tolist()
        (torch.Size([2, 2, 5, 4]), torch.Size([2, 2, 5]), [1.0, 1.0, 1.0, 0.0, 0.0])
    """
    embeddings, masks = _pad_token_axis(embeddings, masks)
    return torch.stack(embeddings, dim=1), torch.stack(masks, dim=1)


def cat_padded_token_embeddings(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Concatenate ``(B_i, T_i, D)`` chunks and their ``(B_i, T_i)`` masks on dim 0, padding tokens to ``max T_i``.

    Example:
        >>> emb, mask = cat_padded_token_embeddings([torch.ones(1, 3, 4), torch.ones(2, 5, 4)],
        ...                                         [torch.ones(1, 3), torch.ones(2, 5)])
        >>> emb.shape, mask.shape
        (torch.Size([3, 5, 4]), torch.Size([3, 5]))
    """
    embeddings, masks = _pad_token_axis(embeddings, masks)
    return torch.cat(embeddings, dim=0), torch.cat(masks, dim=0)


def repad_flattened_features(features: dict[str, Any]) -> dict[str, Any]:
    """Undo packed ("flattened") batching in a features dict, in place.

    A packed batch holds ``token_embeddings`` ``(1, total_tokens, D)`` and ``input_ids`` ``(1, total_tokens)``
    with sequence boundaries in ``cu_seq_lens_q``. They are padded back to ``(B, T_max, ...)``, an
    ``attention_mask`` is rebuilt and the packing keys are removed.

    Example:
        >>> features = {"token_embeddings": torch.ones(1, 5, 2), "input_ids": torch.arange(1, 6)[None],
        ...             "cu_seq_lens_q": torch.tensor([0, 2, 5])}
        >>> out = repad_flattened_features(features)
        >>> out["input_ids"].tolist(), out["attention_mask"].tolist()
        ([[1, 2, 0], [3, 4, 5]], [[True, True, False], [True, True, True]])
    """
    bounds = features["cu_seq_lens_q"].tolist()
    spans = list(zip(bounds[:-1], bounds[1:]))
    flat_embeddings = features["token_embeddings"][0]
    flat_ids = features["input_ids"][0]
    features["token_embeddings"] = torch.nn.utils.rnn.pad_sequence(
        [flat_embeddings[start:end] for start, end in spans], batch_first=True, padding_value=0.0)
    features["input_ids"] = torch.nn.utils.rnn.pad_sequence(
        [flat_ids[start:end] for start, end in spans], batch_first=True, padding_value=0)
    lengths = torch.tensor([end - start for start, end in spans], device=flat_embeddings.device)
    positions = torch.arange(features["input_ids"].shape[1], device=flat_embeddings.device)
    features["attention_mask"] = positions[None, :] < lengths[:, None]
    for key in ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx", "position_ids"):
        features.pop(key, None)
    return features


def compute_count_vector(embeddings: Tensor) -> Tensor:
    """Per dimension, how many embeddings have a non-zero value there (int32, shape ``(dim,)``).

    Raises:
        ValueError: For inputs that are not 1-D or 2-D.

    Example:
        >>> compute_count_vector(torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]]))
        tensor([0, 1, 2], dtype=torch.int32)
    """
    if embeddings.dim() not in (1, 2):
        raise ValueError(f"Expected 1D or 2D tensor, got {embeddings.dim()}D")
    sparse = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    counts = torch.zeros(embeddings.size(-1), dtype=torch.int32, device=embeddings.device)
    dims = sparse.indices()[-1]
    if dims.numel():
        counts.index_add_(0, dims, torch.ones_like(dims, dtype=torch.int32))
    return counts.clamp_(max=1) if embeddings.dim() == 1 else counts
