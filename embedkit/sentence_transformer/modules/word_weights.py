"""WordWeights: scale each token embedding by a per-word weight (e.g. idf) (legacy sentence-transformers module)."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from embedkit.base.modules.module import Module

logger = logging.getLogger(__name__)


class WordWeights(Module):
    """Multiply ``token_embeddings`` by the weight of each ``input_ids`` word (masked by ``attention_mask``) and
    write ``token_weights_sum`` (B,), which Pooling's mean uses as the denominator.

    Words missing from ``word_weights`` (also tried lowercased) get ``unknown_word_weight``. Saved as
    ``config.json`` + ``model.safetensors`` (``emb_layer.weight``, one weight per vocabulary word).

    Example:
        >>> import torch
        >>> ww = WordWeights(["a", "b"], {"a": 2.0})
        >>> out = ww({"input_ids": torch.tensor([[0, 1]]), "attention_mask": torch.tensor([[1, 1]]),
        ...           "token_embeddings": torch.ones(1, 2, 3)})
        >>> out["token_weights_sum"].tolist()
        [3.0]
    """

    config_keys: list[str] = ["vocab", "word_weights", "unknown_word_weight"]

    def __init__(self, vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float = 1) -> None:
        super().__init__()
        self.vocab = vocab
        self.word_weights = word_weights
        self.unknown_word_weight = unknown_word_weight
        weights = [word_weights.get(w, word_weights.get(w.lower(), unknown_word_weight)) for w in vocab]
        unknown = sum(w not in word_weights and w.lower() not in word_weights for w in vocab)
        logger.info("%d of %d words without a weight; using %s", unknown, len(vocab), unknown_word_weight)
        self.emb_layer = nn.Embedding(len(vocab), 1)
        self.emb_layer.load_state_dict({"weight": torch.tensor(weights, dtype=torch.float32).unsqueeze(1)})

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        tokens = features["token_embeddings"]  # (B, T, D)
        weights = self.emb_layer(features["input_ids"]).squeeze(-1) * features["attention_mask"].float()  # (B, T)
        return {**features, "token_embeddings": tokens * weights.unsqueeze(-1).expand(tokens.size()),
                "token_weights_sum": weights.sum(dim=1)}
