"""Pooling: token embeddings (B, T, D) -> one sentence embedding (B, n_modes * D).

Modes and their definitions follow sentence-transformers:
- ``cls``: the first attended token (``cls_token_embeddings`` when a module provides it);
- ``max``: element-wise max over attended tokens;
- ``mean``: masked mean (accumulated in fp32 for half precision; ``token_weights_sum`` is the denominator when set);
- ``mean_sqrt_len_tokens``: masked sum / sqrt(number of tokens);
- ``weightedmean``: position-weighted mean, weights 1, 2, ... from the first real token;
- ``lasttoken``: the last attended token (zero vector for an all-padding row).
Several modes are concatenated in the order given. ``include_prompt=False`` drops the first ``prompt_length``
real tokens from the pooling mask (on a copy, so cached losses see the same mask twice).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from embedkit.base.modules.module import Module, read_json_file, write_json_file

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
# Legacy (ST <= 5.3) boolean keys, in the order modes are concatenated when several are true.
_LEGACY_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _modes_from_legacy(config: dict[str, Any]) -> str | tuple[str, ...]:
    modes = tuple(mode for key, mode in _LEGACY_KEYS.items() if config.get(key, False))
    if not modes:
        return "mean"
    return modes[0] if len(modes) == 1 else modes


def _convert_legacy_pooling_kwargs(kwargs: dict[str, Any]) -> None:
    """Replace the legacy ``pooling_mode_*`` booleans in ``kwargs`` by one ``pooling_mode`` entry, in place.

    The active modes keep the classic concatenation order; none active means ``"mean"``. An existing
    ``pooling_mode`` wins and the booleans are just dropped.

    Example:
        >>> config = {"embedding_dimension": 4, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True}
        >>> _convert_legacy_pooling_kwargs(config)
        >>> config
        {'embedding_dimension': 4, 'pooling_mode': ('cls', 'mean')}
    """
    present = [key for key in _LEGACY_KEYS if key in kwargs]
    if not present:
        return
    if "pooling_mode" not in kwargs:
        kwargs["pooling_mode"] = _modes_from_legacy(kwargs)
    for key in present:
        del kwargs[key]


def exclude_prompt(mask: Tensor, prompt_length: int) -> Tensor:
    """Copy of ``mask`` (B, T) with the first ``prompt_length`` real tokens of each row zeroed (left padding aware)."""
    mask = mask.clone()
    first_real = mask.to(torch.int32).argmax(dim=1)  # (B,) index of the first real token
    positions = torch.arange(mask.shape[1], device=mask.device)[None, :]  # (1, T)
    mask[positions < (first_real + prompt_length)[:, None]] = 0
    return mask


class Pooling(Module):
    """Pool token embeddings into a sentence embedding.

    Args:
        embedding_dimension: size D of the token embeddings (``word_embedding_dimension`` is accepted too).
        pooling_mode: one of :data:`POOLING_MODES` or a tuple of them (concatenated in that order).
        include_prompt: if False, prompt tokens (``features["prompt_length"]``) are left out of the pooling.

    Example:
        >>> import torch
        >>> pool = Pooling(2, "mean")
        >>> features = {"token_embeddings": torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]),
        ...             "attention_mask": torch.tensor([[1, 1]])}
        >>> pool(features)["sentence_embedding"]
        tensor([[2., 3.]])
    """

    POOLING_MODES = POOLING_MODES
    config_keys = ["embedding_dimension", "pooling_mode", "include_prompt"]

    def __init__(
        self,
        embedding_dimension: int | None = None,
        pooling_mode: str | tuple[str, ...] | list[str] = "mean",
        include_prompt: bool = True,
        *,
        word_embedding_dimension: int | None = None,
        **legacy_modes: bool,
    ) -> None:
        super().__init__()
        if embedding_dimension is None:
            embedding_dimension = word_embedding_dimension
        if embedding_dimension is None:
            raise ValueError("Pooling needs embedding_dimension")
        unknown = set(legacy_modes) - set(_LEGACY_KEYS)
        if unknown:
            raise TypeError(f"Pooling got unexpected arguments {sorted(unknown)}")
        if legacy_modes:
            warnings.warn(
                f"The {', '.join(f'`{k}`' for k in legacy_modes)} argument(s) are deprecated. "
                "Please use `pooling_mode` instead.",
                FutureWarning,
                stacklevel=2,
            )
            pooling_mode = _modes_from_legacy(legacy_modes)
        modes = (pooling_mode,) if isinstance(pooling_mode, str) else tuple(pooling_mode)
        for mode in modes:
            if mode not in POOLING_MODES:
                raise ValueError(f"Invalid pooling mode: {mode!r}. Valid pooling modes are: {POOLING_MODES}.")
        if not modes:
            raise ValueError(f"Invalid pooling mode: {pooling_mode!r}. Valid pooling modes are: {POOLING_MODES}.")
        self.embedding_dimension = embedding_dimension
        self.pooling_mode: str | tuple[str, ...] = modes[0] if len(modes) == 1 else modes
        self.include_prompt = include_prompt
        self.pooling_output_dimension = len(modes) * embedding_dimension

    @property
    def modes(self) -> tuple[str, ...]:
        return (self.pooling_mode,) if isinstance(self.pooling_mode, str) else self.pooling_mode

    def get_embedding_dimension(self) -> int:
        return len(self.modes) * self.embedding_dimension

    get_sentence_embedding_dimension = get_embedding_dimension

    def _prompt_length(self, features: dict[str, Any]) -> int:
        """The number of prompt tokens to leave out (0 with ``include_prompt`` or without a prompt)."""
        value = features.get("prompt_length")
        if self.include_prompt or value is None:
            return 0
        return int(value.flatten()[0]) if isinstance(value, Tensor) else int(value)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Add ``sentence_embedding`` (B, n_modes * D).

        Padded input: ``token_embeddings`` (B, T, D) with ``attention_mask`` (B, T) (all ones when absent).
        Flattened input (FlashAttention-2 style, as ``transformers.DataCollatorWithFlattening`` produces):
        ``token_embeddings`` (1, N, D) with ``cu_seq_lens_q`` (B + 1,) sequence offsets.

        Raises:
            ValueError: ``attention_mask`` does not match the (B, T) of padded token embeddings.
        """
        tokens = features["token_embeddings"]
        prompt_length = self._prompt_length(features)
        if "cu_seq_lens_q" in features:
            pooled = self._pool_flat(tokens, features, prompt_length)
        else:
            mask = features.get("attention_mask")
            if mask is None:
                mask = torch.ones(tokens.shape[:-1], dtype=torch.long, device=tokens.device)
            elif tuple(mask.shape) != tuple(tokens.shape[:-1]):
                raise ValueError(
                    f"Pooling: attention_mask has shape {tuple(mask.shape)} but token_embeddings has shape "
                    f"{tuple(tokens.shape)}; expected a mask of shape {tuple(tokens.shape[:-1])}"
                )
            pooled = self._pool_padded(tokens, mask, features, prompt_length)
        return {**features, "sentence_embedding": torch.cat(pooled, dim=-1)}

    def _pool_padded(self, tokens: Tensor, mask: Tensor, features: dict[str, Any], prompt_length: int
                     ) -> list[Tensor]:
        original_mask = mask
        if prompt_length:
            mask = exclude_prompt(mask, prompt_length)
        acc_dtype = torch.float32 if tokens.dtype in (torch.float16, torch.bfloat16) else tokens.dtype
        outputs = []
        for mode in self.modes:
            if mode == "cls":
                if "cls_token_embeddings" in features:
                    outputs.append(features["cls_token_embeddings"])
                else:
                    first = mask.to(torch.int).argmax(dim=1)  # (B,)
                    outputs.append(tokens[torch.arange(tokens.shape[0], device=tokens.device), first])
            elif mode == "max":
                masked = tokens.masked_fill(mask.unsqueeze(-1) == 0, float("-inf"))
                outputs.append(masked.max(dim=1).values)  # (B, D)
            elif mode in ("mean", "mean_sqrt_len_tokens"):
                m = mask.unsqueeze(-1).to(tokens.dtype)  # (B, T, 1)
                total = (tokens * m).sum(dim=1, dtype=acc_dtype)  # (B, D)
                out_dtype = tokens.dtype
                if "token_weights_sum" in features:
                    count = features["token_weights_sum"].unsqueeze(-1)
                    out_dtype = torch.promote_types(out_dtype, count.dtype)
                    count = count.to(torch.promote_types(acc_dtype, count.dtype))
                else:
                    count = m.sum(dim=1, dtype=acc_dtype)  # (B, 1)
                count = count.clamp(min=1e-9)
                pooled = total / (count if mode == "mean" else count.sqrt())
                outputs.append(pooled.to(out_dtype) if out_dtype.is_floating_point else pooled)
            elif mode == "weightedmean":
                m = mask.unsqueeze(-1).to(acc_dtype)  # (B, T, 1)
                weights = torch.arange(1, tokens.shape[1] + 1, device=tokens.device, dtype=acc_dtype).view(1, -1, 1)
                if original_mask.numel():
                    weights = weights - original_mask.to(torch.int32).argmax(dim=1).view(-1, 1, 1)
                weighted = m * weights  # (B, T, 1)
                total = (tokens * weighted).sum(dim=1)
                out_dtype = tokens.dtype
                if "token_weights_sum" in features:
                    denom = features["token_weights_sum"].unsqueeze(-1)
                    out_dtype = torch.promote_types(out_dtype, denom.dtype)
                    denom = denom.to(torch.promote_types(acc_dtype, denom.dtype))
                else:
                    denom = weighted.sum(dim=1)
                outputs.append((total / denom.clamp(min=1e-9)).to(out_dtype))
            else:  # lasttoken
                T = tokens.shape[1]
                values, flipped = mask.flip(1).max(dim=1)  # last attended position, counted from the end
                flipped = torch.where(values == 0, T - 1, flipped)
                last = T - 1 - flipped  # (B,)
                masked = tokens * mask.unsqueeze(-1).to(tokens.dtype)
                outputs.append(masked[torch.arange(tokens.shape[0], device=tokens.device), last])
        return outputs

    def _pool_flat(self, tokens: Tensor, features: dict[str, Any], prompt_length: int) -> list[Tensor]:
        """Pool sequences packed back to back: ``tokens`` (1, N, D), ``cu_seq_lens_q`` (B + 1,) offsets."""
        flat = tokens.reshape(-1, tokens.shape[-1])  # (N, D)
        starts = features["cu_seq_lens_q"].to(flat.device).long()
        lengths = starts[1:] - starts[:-1]  # (B,)
        n_seqs, dim, device = lengths.shape[0], flat.shape[1], flat.device
        if "seq_idx" in features:
            segment = features["seq_idx"].reshape(-1).to(device).long()  # (N,) sequence of each token
        else:
            segment = torch.repeat_interleave(torch.arange(n_seqs, device=device), lengths)
        position = torch.arange(flat.shape[0], device=device) - torch.repeat_interleave(starts[:-1], lengths)
        keep = position >= prompt_length  # (N,) tokens that take part in the pooling
        acc_dtype = torch.float32 if flat.dtype in (torch.float16, torch.bfloat16) else flat.dtype
        kept, kept_segment, kept_position = flat[keep], segment[keep], position[keep]
        kept_lengths = (lengths - prompt_length).clamp(min=0) if prompt_length else lengths

        def segment_sum(values: Tensor) -> Tensor:
            out = torch.zeros(n_seqs, values.shape[1], device=device, dtype=values.dtype)
            return out.index_add(0, kept_segment, values)

        outputs = []
        for mode in self.modes:
            if mode == "cls":
                if "cls_token_embeddings" in features:
                    outputs.append(features["cls_token_embeddings"])
                else:
                    offset = torch.where(lengths > prompt_length, prompt_length, 0) if prompt_length else 0
                    outputs.append(flat[starts[:-1] + offset])
            elif mode == "lasttoken":
                outputs.append(flat[starts[1:] - 1])
            elif mode in ("mean", "mean_sqrt_len_tokens"):
                total = segment_sum(kept.to(acc_dtype))
                count = kept_lengths.unsqueeze(1).to(acc_dtype).clamp(min=1e-9)
                outputs.append((total / (count if mode == "mean" else count.sqrt())).to(flat.dtype))
            elif mode == "max":
                init = torch.full((n_seqs, dim), float("-inf"), device=device, dtype=flat.dtype)
                index = kept_segment.unsqueeze(1).expand(-1, dim)
                outputs.append(init.scatter_reduce(0, index, kept, reduce="amax"))
            else:  # weightedmean: weights 1, 2, ... by position in the sequence
                weights = (kept_position + 1).to(acc_dtype).unsqueeze(1)  # (N', 1)
                total = segment_sum(kept.to(acc_dtype) * weights)
                outputs.append((total / segment_sum(weights).clamp(min=1e-9)).to(flat.dtype))
        return outputs

    def get_config_dict(self) -> dict[str, Any]:
        """Written in the classic boolean layout, which sentence-transformers 5.x and 6.x both read.

        A multi-mode tuple not in the canonical order cannot be expressed with booleans; it is written in the
        v5.4+ layout (``pooling_mode`` list) instead.
        """
        modes = self.modes
        canonical = tuple(m for m in POOLING_MODES if m in modes)
        if modes != canonical:
            return {"embedding_dimension": self.embedding_dimension, "pooling_mode": list(modes),
                    "include_prompt": self.include_prompt}
        config: dict[str, Any] = {"word_embedding_dimension": self.embedding_dimension}
        config.update({key: mode in modes for key, mode in _LEGACY_KEYS.items()})
        config["include_prompt"] = self.include_prompt
        return config

    def _repr_config(self) -> dict[str, Any]:
        """sentence-transformers 6.x's keys (the saved file keeps the classic layout, see :meth:`get_config_dict`)."""
        mode: Any = self.modes[0] if len(self.modes) == 1 else tuple(self.modes)
        return {"embedding_dimension": self.embedding_dimension, "pooling_mode": mode,
                "include_prompt": self.include_prompt}

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        write_json_file(Path(output_path) / self.config_file_name, self.get_config_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Pooling:
        config = read_json_file(Path(path) / cls.config_file_name)
        dim = config.get("embedding_dimension", config.get("word_embedding_dimension"))
        mode = config.get("pooling_mode")
        if mode is None:
            mode = _modes_from_legacy(config)
        elif isinstance(mode, list):
            mode = tuple(mode)
        known = {"embedding_dimension", "word_embedding_dimension", "pooling_mode", "include_prompt", *_LEGACY_KEYS}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"{Path(path) / cls.config_file_name}: unknown Pooling config keys {sorted(unknown)}")
        return cls(dim, mode, include_prompt=config.get("include_prompt", True))
