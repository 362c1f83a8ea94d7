"""CNN: 1-D convolutions with several kernel sizes over token embeddings (legacy sentence-transformers module)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from embedkit.base.modules.module import Module


class CNN(Module):
    """``token_embeddings`` (B, T, D) -> (B, T, out_channels * len(kernel_sizes)), one Conv1d per kernel size
    (padding ``(k - 1) // 2``, so odd kernels keep the length), outputs concatenated.

    Saved as ``cnn_config.json`` + ``model.safetensors`` (``convs.{i}.weight``/``bias``).

    Example:
        >>> import torch
        >>> cnn = CNN(4, out_channels=3, kernel_sizes=[1, 3])
        >>> cnn({"token_embeddings": torch.ones(2, 5, 4)})["token_embeddings"].shape
        torch.Size([2, 5, 6])
    """

    config_keys: list[str] = ["in_embedding_dimension", "out_channels", "kernel_sizes", "stride_sizes"]
    config_file_name: str = "cnn_config.json"
    config_key_renames = {"in_word_embedding_dimension": "in_embedding_dimension"}

    def __init__(self, in_embedding_dimension: int | None = None, out_channels: int = 256,
                 kernel_sizes: list[int] | None = None, stride_sizes: list[int] | None = None, *,
                 in_word_embedding_dimension: int | None = None) -> None:
        super().__init__()
        if in_embedding_dimension is None:
            in_embedding_dimension = in_word_embedding_dimension
        if in_embedding_dimension is None:
            raise ValueError("CNN needs in_embedding_dimension")
        kernel_sizes = list(kernel_sizes) if kernel_sizes is not None else [1, 3, 5]
        stride_sizes = list(stride_sizes) if stride_sizes is not None else [1] * len(kernel_sizes)
        self.in_embedding_dimension = in_embedding_dimension
        self.out_channels = out_channels
        self.kernel_sizes = kernel_sizes
        self.stride_sizes = stride_sizes
        self.embeddings_dimension = out_channels * len(kernel_sizes)
        self.convs = nn.ModuleList(
            nn.Conv1d(in_embedding_dimension, out_channels, kernel_size=k, stride=s, padding=(k - 1) // 2)
            for k, s in zip(kernel_sizes, stride_sizes)
        )

    @property
    def in_word_embedding_dimension(self) -> int:
        return self.in_embedding_dimension

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        x = features["token_embeddings"].transpose(1, -1)  # (B, D, T)
        out = torch.cat([conv(x) for conv in self.convs], dim=1).transpose(1, -1)  # (B, T', C * K)
        return {**features, "token_embeddings": out}

    def get_embedding_dimension(self) -> int:
        return self.embeddings_dimension

    def get_config_dict(self) -> dict[str, Any]:
        """Classic key ``in_word_embedding_dimension``, which sentence-transformers 5.x and 6.x both read."""
        return {"in_word_embedding_dimension": self.in_embedding_dimension, "out_channels": self.out_channels,
                "kernel_sizes": self.kernel_sizes, "stride_sizes": self.stride_sizes}

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
