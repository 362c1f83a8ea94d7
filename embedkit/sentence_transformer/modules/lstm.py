"""LSTM: a (bi)directional LSTM over token embeddings (legacy sentence-transformers module)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from embedkit.base.modules.module import Module


class LSTM(Module):
    """``token_embeddings`` (B, T, D) -> (B, T', hidden_dim * (2 if bidirectional else 1)), run over each text's
    ``sentence_lengths`` words (packed, so padding never enters the recurrence; T' is the longest length).

    Saved as ``lstm_config.json`` + ``model.safetensors`` (``encoder.*``).

    Example:
        >>> import torch
        >>> lstm = LSTM(4, hidden_dim=3)
        >>> features = {"token_embeddings": torch.ones(2, 5, 4), "sentence_lengths": torch.tensor([5, 2])}
        >>> lstm(features)["token_embeddings"].shape
        torch.Size([2, 5, 6])
    """

    config_keys: list[str] = ["embedding_dimension", "hidden_dim", "num_layers", "dropout", "bidirectional"]
    config_file_name: str = "lstm_config.json"
    config_key_renames = {"word_embedding_dimension": "embedding_dimension"}

    def __init__(self, embedding_dimension: int | None = None, hidden_dim: int | None = None, num_layers: int = 1,
                 dropout: float = 0, bidirectional: bool = True, *,
                 word_embedding_dimension: int | None = None) -> None:
        super().__init__()
        if embedding_dimension is None:
            embedding_dimension = word_embedding_dimension
        if embedding_dimension is None or hidden_dim is None:
            raise ValueError("LSTM needs embedding_dimension and hidden_dim")
        self.embedding_dimension = embedding_dimension
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.embeddings_dimension = hidden_dim * (2 if bidirectional else 1)
        self.encoder = nn.LSTM(embedding_dimension, hidden_dim, num_layers=num_layers, dropout=dropout,
                               bidirectional=bidirectional, batch_first=True)

    @property
    def word_embedding_dimension(self) -> int:
        return self.embedding_dimension

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        lengths = torch.clamp(features["sentence_lengths"], min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(features["token_embeddings"], lengths, batch_first=True,
                                                   enforce_sorted=False)
        output, _ = self.encoder(packed)
        tokens = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)[0]
        return {**features, "token_embeddings": tokens}

    def get_embedding_dimension(self) -> int:
        return self.embeddings_dimension

    def get_config_dict(self) -> dict[str, Any]:
        """Classic key ``word_embedding_dimension``, which sentence-transformers 5.x and 6.x both read."""
        return {"word_embedding_dimension": self.embedding_dimension, "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers, "dropout": self.dropout, "bidirectional": self.bidirectional}

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)  # copies to CPU first
