"""LayerNorm: layer normalization of the sentence embedding (legacy sentence-transformers module)."""

from __future__ import annotations

from typing import Any

from torch import nn

from embedkit.base.modules.module import Module


class LayerNorm(Module):
    """``sentence_embedding`` -> ``nn.LayerNorm(dimension)(sentence_embedding)``.

    Saved as ``config.json`` (``dimension``) + ``model.safetensors`` (``norm.weight``/``norm.bias``).

    Example:
        >>> import torch
        >>> out = LayerNorm(2)({"sentence_embedding": torch.tensor([[1.0, 3.0]])})["sentence_embedding"]
        >>> [round(x, 3) for x in out[0].tolist()]
        [-1.0, 1.0]
    """

    config_keys: list[str] = ["dimension"]

    def __init__(self, dimension: int) -> None:
        super().__init__()
        self.dimension = dimension
        self.norm = nn.LayerNorm(dimension)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**features, "sentence_embedding": self.norm(features["sentence_embedding"])}

    def get_embedding_dimension(self) -> int:
        return self.dimension

    get_sentence_embedding_dimension = get_embedding_dimension
