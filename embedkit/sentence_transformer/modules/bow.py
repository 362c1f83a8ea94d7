"""BoW: a bag-of-words (optionally tf-idf weighted) sentence embedding of vocabulary size (legacy module)."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from embedkit.base.modules.input_module import InputModule
from embedkit.sentence_transformer.modules.tokenizer import WhitespaceTokenizer

logger = logging.getLogger(__name__)


class BoW(InputModule):
    """``sentence_embedding`` (B, len(vocab)) computed during preprocessing: each known word adds its weight
    (``cumulative_term_frequency``) or sets it. Words missing from ``word_weights`` (also tried lowercased)
    get ``unknown_word_weight``. Saved as ``config.json`` in its own folder.

    Example:
        >>> bow = BoW(["cat", "dog"], word_weights={"cat": 2.0})
        >>> bow(bow.preprocess(["cat cat dog"]))["sentence_embedding"].tolist()
        [[4.0, 1.0]]
    """

    save_in_root: bool = False
    config_keys: list[str] = ["vocab", "word_weights", "unknown_word_weight", "cumulative_term_frequency"]

    def __init__(self, vocab: list[str], word_weights: dict[str, float] | None = None,
                 unknown_word_weight: float = 1, cumulative_term_frequency: bool = True) -> None:
        super().__init__()
        word_weights = dict(word_weights or {})
        self.vocab = list(dict.fromkeys(vocab))
        self.word_weights = word_weights
        self.unknown_word_weight = unknown_word_weight
        self.cumulative_term_frequency = cumulative_term_frequency
        self.weights = [word_weights.get(w, word_weights.get(w.lower(), unknown_word_weight)) for w in self.vocab]
        unknown = sum(w not in word_weights and w.lower() not in word_weights for w in self.vocab)
        logger.info("%d of %d words without a weight; using %s", unknown, len(self.vocab), unknown_word_weight)
        self.tokenizer = WhitespaceTokenizer(self.vocab, stop_words=set(), do_lower_case=False)
        self.sentence_embedding_dimension = len(self.vocab)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return features

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        if prompt:
            inputs = self._prepend_prompt(list(inputs), prompt)
        return self.get_sentence_features([self.tokenizer.tokenize(text, **kwargs) for text in inputs])

    def get_sentence_features(self, tokenized_texts: list[list[int]], pad_seq_length: int = 0
                              ) -> dict[str, torch.Tensor]:
        """Bag-of-words vectors of already tokenized texts."""
        out = torch.zeros(len(tokenized_texts), len(self.vocab), dtype=torch.float32)
        for row, ids in enumerate(tokenized_texts):
            for i in ids:
                out[row, i] = out[row, i] + self.weights[i] if self.cumulative_term_frequency else self.weights[i]
        return {"sentence_embedding": out}

    def get_embedding_dimension(self) -> int:
        return self.sentence_embedding_dimension

    get_sentence_embedding_dimension = get_embedding_dimension

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        self.save_config(output_path)

    @classmethod
    def load(cls, model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any) -> BoW:
        from pathlib import Path

        from embedkit.base.modules.module import read_json_file

        return cls(**read_json_file(Path(model_name_or_path) / kwargs.get("subfolder", "") / cls.config_file_name))
