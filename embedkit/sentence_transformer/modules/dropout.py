"""Dropout on the sentence embedding (legacy sentence-transformers module)."""

from __future__ import annotations

from typing import Any

from torch import nn

from embedkit.base.modules.module import Module


class Dropout(Module):
    """Apply ``nn.Dropout(dropout)`` to ``sentence_embedding`` (active in training mode only).

    Saved as ``config.json`` (``dropout``); no weights.

    Example:
        >>> import torch
        >>> Dropout(0.5).eval()({"sentence_embedding": torch.ones(1, 2)})["sentence_embedding"].tolist()
        [[1.0, 1.0]]
    """

    config_keys: list[str] = ["dropout"]

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.dropout = dropout
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**features, "sentence_embedding": self.dropout_layer(features["sentence_embedding"])}
