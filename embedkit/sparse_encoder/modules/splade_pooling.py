"""SpladePooling: MLM logits (B, T, V) -> one sparse lexical vector (B, V) per text (Formal et al. 2021, SPLADE).

    w_j = pool_t  log(1 + relu(logits[t, j] * mask[t]))          (activation "relu")
    w_j = pool_t  log(1 + log(1 + relu(logits[t, j] * mask[t])))  (activation "log1p_relu", OpenSearch models)

with ``pool`` = max (SPLADE v2+) or sum (SPLADE v1) over the tokens; padding contributes 0.

Memory: the logits of a 32 x 256-token batch over a 30,522-word vocabulary take 1 GB in fp32. The pooling is
therefore computed in blocks of (tokens x vocabulary) and never holds more than ``max_block_elements`` logits at
once. When the input is a lazy :class:`~embedkit.encoders.mlm_heads.MLMLogits` (what MLMTransformer writes), the
MLM decoder itself runs block by block, so the full tensor never exists. ``chunk_size`` (sentence-transformers'
parameter) sets the number of tokens per block; without it all tokens go in one block unless that would leave
vocabulary blocks narrower than ``_MIN_VOCAB_BLOCK``. Under autograd (training) every block's intermediate values
are kept for the backward pass, so the bound holds for inference (``torch.inference_mode``/``no_grad``) only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from embedkit.base.modules.module import Module, read_json_file, write_json_file
from embedkit.encoders.mlm_heads import MLMLogits

POOLING_STRATEGIES = ("max", "sum")
ACTIVATIONS = ("relu", "log1p_relu")
DEFAULT_MAX_BLOCK_ELEMENTS = 2**23  # 32 MiB of fp32 logits per block
_MIN_VOCAB_BLOCK = 1024
_CONFIG_KEYS = {"pooling_strategy", "activation_function", "embedding_dimension", "word_embedding_dimension"}


def _block_sizes(B: int, T: int, V: int, chunk_size: int | None, max_elements: int) -> tuple[int, int]:
    """(tokens per block, vocabulary entries per block) so that B * tokens * vocab <= max_elements when possible."""
    if chunk_size is not None and chunk_size > 0:
        t_block = min(chunk_size, T)
    else:
        t_block = min(T, max(1, max_elements // max(1, B * _MIN_VOCAB_BLOCK)))
    v_block = min(V, max(1, max_elements // max(1, B * t_block)))
    return max(1, t_block), v_block


class SpladePooling(Module):
    """Max- or sum-pool ``log1p(relu(logits))`` over the tokens into ``sentence_embedding`` (B, V).

    Args:
        pooling_strategy: ``"max"`` or ``"sum"``.
        activation_function: ``"relu"`` or ``"log1p_relu"`` (a second log1p).
        embedding_dimension: V; filled in on the first forward pass when None.
        chunk_size: tokens per block (sentence-transformers' meaning). None or <= 0: automatic blocking.
        word_embedding_dimension: the sentence-transformers 5.0-5.3 name of ``embedding_dimension``.

    Example:
        >>> pooling = SpladePooling("max", "relu")
        >>> logits = torch.tensor([[[1.0, -2.0], [3.0, 0.5], [9.0, 9.0]]])  # (B=1, T=3, V=2)
        >>> out = pooling({"token_embeddings": logits, "attention_mask": torch.tensor([[1, 1, 0]])})
        >>> out["sentence_embedding"]  # log1p(3), log1p(0.5); the padded token is ignored
        tensor([[1.3863, 0.4055]])
    """

    max_block_elements: int = DEFAULT_MAX_BLOCK_ELEMENTS
    """Upper bound on the logits held at once (elements); lower it to trade speed for memory."""

    def __init__(
        self,
        pooling_strategy: Literal["max", "sum"] = "max",
        activation_function: Literal["relu", "log1p_relu"] = "relu",
        embedding_dimension: int | None = None,
        chunk_size: int | None = None,
        *,
        word_embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        if pooling_strategy not in POOLING_STRATEGIES:
            raise ValueError(f"pooling_strategy must be one of {POOLING_STRATEGIES}, got {pooling_strategy!r}")
        if activation_function not in ACTIVATIONS:
            raise ValueError(f"activation_function must be one of {ACTIVATIONS}, got {activation_function!r}")
        self.pooling_strategy = pooling_strategy
        self.activation_function = activation_function
        self.embedding_dimension = embedding_dimension if embedding_dimension is not None else word_embedding_dimension
        self.chunk_size = chunk_size

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        """Pool ``token_embeddings`` into ``sentence_embedding`` (B, V).

        Two input layouts: padded logits (B, T, V) with an ``attention_mask`` (B, T), or flattened logits
        (1, total, V) of unpadded sequences with their boundaries ``cu_seq_lens_q`` (B + 1,) (what a varlen /
        FlashAttention-2 encoder produces). Both give the same embeddings.
        """
        logits = features["token_embeddings"]  # (B, T, V) Tensor or lazy MLMLogits
        lazy = isinstance(logits, MLMLogits)
        block = logits.block if lazy else (lambda t0, t1, v0, v1: logits[:, t0:t1, v0:v1])
        boundaries = features.get("cu_seq_lens_q") if "attention_mask" not in features else None
        if boundaries is not None:  # flattened: one segment of the single row per text
            V = logits.shape[-1]
            starts = [int(x) for x in boundaries.tolist()]
            rows = []
            for start, end in zip(starts, starts[1:]):
                segment = (lambda t0, t1, v0, v1, s=start: block(s + t0, s + t1, v0, v1))
                rows.append(self._pool(segment, 1, end - start, V, None, logits.dtype, logits.device, lazy))
            embedding = torch.cat(rows, dim=0) if rows else torch.zeros(0, V, dtype=logits.dtype,
                                                                       device=logits.device)
        else:
            B, T, V = logits.shape
            mask = features["attention_mask"][:, :, None].to(logits.dtype)  # (B, T, 1)
            embedding = self._pool(block, B, T, V, mask, logits.dtype, logits.device, lazy)
        if self.embedding_dimension is None:
            self.embedding_dimension = V
        return {**features, "sentence_embedding": embedding}

    def _pool(self, block: Any, B: int, T: int, V: int, mask: Tensor | None, dtype: torch.dtype,
              device: torch.device, lazy: bool) -> Tensor:
        """(B, V) pooled activations of ``block(t0, t1, v0, v1)`` -> (B, t, v) logits, computed block by block."""
        t_block, v_block = _block_sizes(B, T, V, self.chunk_size, self.max_block_elements)
        # Blocks computed by the lazy decoder are fresh tensors: transform them in place unless autograd needs them.
        in_place = not torch.is_grad_enabled()
        columns = [torch.zeros(B, V, dtype=dtype, device=device)] if T == 0 else []
        for v0 in range(0, V if T else 0, v_block):
            v1 = min(v0 + v_block, V)
            pooled = None  # (B, v1 - v0)
            for t0 in range(0, T, t_block):
                t1 = min(t0 + t_block, T)
                x = self._activate(block(t0, t1, v0, v1), None if mask is None else mask[:, t0:t1], in_place,
                                   fresh=lazy)  # (B, t, v)
                if self.pooling_strategy == "max":
                    part = x.amax(dim=1)
                    pooled = part if pooled is None else torch.maximum(pooled, part)
                else:
                    part = x.sum(dim=1)
                    pooled = part if pooled is None else pooled + part
                del x
            columns.append(pooled)
        return torch.cat(columns, dim=1)

    def _activate(self, x: Tensor, mask: Tensor | None, in_place: bool, fresh: bool) -> Tensor:
        """log1p(relu(x * mask)) (twice log1p for "log1p_relu"; no mask: every token counts). In place when
        allowed: never on a view of the caller's logits (``fresh`` False), and never when autograd needs the
        intermediate values."""
        if in_place and fresh:
            x = (x if mask is None else x.mul_(mask)).relu_().log1p_()
            return x.log1p_() if self.activation_function == "log1p_relu" else x
        x = (x if mask is None else x * mask).relu()
        x = x.log1p_() if in_place else x.log1p()
        if self.activation_function == "log1p_relu":
            x = x.log1p_() if in_place else x.log1p()
        return x

    def get_embedding_dimension(self) -> int | None:
        return self.embedding_dimension

    def get_config_dict(self) -> dict[str, Any]:
        """Written with the 5.0-5.3 key ``word_embedding_dimension``, which ST 5.x reads and ST 6.x renames."""
        return {"pooling_strategy": self.pooling_strategy, "activation_function": self.activation_function,
                "word_embedding_dimension": self.embedding_dimension}

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        write_json_file(Path(output_path) / self.config_file_name, self.get_config_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpladePooling:
        config = read_json_file(Path(path) / cls.config_file_name)
        unknown = set(config) - _CONFIG_KEYS
        if unknown:
            raise ValueError(f"{Path(path) / cls.config_file_name}: unknown SpladePooling config keys "
                             f"{sorted(unknown)}")
        dim = config.get("embedding_dimension", config.get("word_embedding_dimension"))
        return cls(config.get("pooling_strategy", "max"), config.get("activation_function", "relu"), dim)

    def __repr__(self) -> str:
        return f"SpladePooling({self.get_config_dict()}, chunk_size={self.chunk_size})"
