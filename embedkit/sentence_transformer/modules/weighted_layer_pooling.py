"""WeightedLayerPooling: token embeddings as a learned weighted mean of the encoder's hidden layers (legacy)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from embedkit.base.modules.module import Module


class WeightedLayerPooling(Module):
    """Replace ``token_embeddings`` by ``sum_l w_l * h_l / sum_l w_l`` over layers ``layer_start`` ..
    ``num_hidden_layers`` of ``all_layer_embeddings`` (the embeddings output counts as layer 0). Features without
    ``all_layer_embeddings`` pass through unchanged (build the Transformer with
    ``model_kwargs={"output_hidden_states": True}`` to get them).

    Saved as ``config.json`` + ``model.safetensors`` (``layer_weights``).

    Example:
        >>> import torch
        >>> pool = WeightedLayerPooling(2, num_hidden_layers=2, layer_start=1)
        >>> layers = [torch.zeros(1, 3, 2), torch.ones(1, 3, 2), 3 * torch.ones(1, 3, 2)]
        >>> pool({"all_layer_embeddings": layers})["token_embeddings"][0, 0].tolist()
        [2.0, 2.0]
    """

    config_keys: list[str] = ["embedding_dimension", "layer_start", "num_hidden_layers"]
    config_key_renames = {"word_embedding_dimension": "embedding_dimension"}

    def __init__(self, embedding_dimension: int | None = None, num_hidden_layers: int = 12, layer_start: int = 4,
                 layer_weights: nn.Parameter | None = None, *, word_embedding_dimension: int | None = None) -> None:
        super().__init__()
        if embedding_dimension is None:
            embedding_dimension = word_embedding_dimension
        if embedding_dimension is None:
            raise ValueError("WeightedLayerPooling needs embedding_dimension")
        self.embedding_dimension = embedding_dimension
        self.layer_start = layer_start
        self.num_hidden_layers = num_hidden_layers
        self.layer_weights = layer_weights if layer_weights is not None else nn.Parameter(
            torch.ones(num_hidden_layers + 1 - layer_start, dtype=torch.float))

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        layers = features.get("all_layer_embeddings")
        if layers is None:
            return features
        stacked = torch.stack(list(layers))[self.layer_start:]  # (L, B, T, D)
        weights = self.layer_weights.view(-1, 1, 1, 1)
        return {**features, "token_embeddings": (weights * stacked).sum(dim=0) / self.layer_weights.sum()}

    def get_embedding_dimension(self) -> int:
        return self.embedding_dimension

    def get_config_dict(self) -> dict[str, Any]:
        """Classic key ``word_embedding_dimension``, which sentence-transformers 5.x and 6.x both read."""
        return {"word_embedding_dimension": self.embedding_dimension, "layer_start": self.layer_start,
                "num_hidden_layers": self.num_hidden_layers}
