"""WhitespaceTokenizer: split on whitespace, strip punctuation, map words to vocabulary indices."""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterable
from typing import Any

from embedkit.model_files import MAX_TOKENIZER_BYTES, read_model_text
from embedkit.sentence_transformer.modules.tokenizer.word import (
    ENGLISH_STOP_WORDS,
    WordTokenizer,
)


class WhitespaceTokenizer(WordTokenizer):
    """Whitespace word tokenizer. Each word is looked up as written, then without surrounding punctuation, then
    lowercased; stop words and unknown words are dropped.

    Saved as ``whitespacetokenizer_config.json`` (``vocab``, ``stop_words``, ``do_lower_case``).

    Example:
        >>> tok = WhitespaceTokenizer(["hello", "world"], stop_words=[])
        >>> tok.tokenize("Hello, world! unknown")
        [0, 1]
    """

    config_file_name = "whitespacetokenizer_config.json"

    def __init__(self, vocab: Iterable[str] = (), stop_words: Iterable[str] = ENGLISH_STOP_WORDS,
                 do_lower_case: bool = False) -> None:
        self.stop_words = set(stop_words)
        self.do_lower_case = do_lower_case
        self.set_vocab(vocab)

    def get_vocab(self) -> list[str]:
        return self.vocab

    def set_vocab(self, vocab: Iterable[str]) -> None:
        self.vocab = list(vocab)
        self.word2idx = {word: idx for idx, word in enumerate(self.vocab)}

    def _lookup(self, word: str) -> int | None:
        """Index of ``word`` (as is, punctuation-stripped, lowercased, in that order); None for stop/unknown."""
        for candidate in (word, word.strip(string.punctuation), word.strip(string.punctuation).lower()):
            if candidate in self.stop_words:
                return None
            if candidate and candidate in self.word2idx:
                return self.word2idx[candidate]
        return None

    def tokenize(self, text: str, **kwargs: Any) -> list[int]:
        if self.do_lower_case:
            text = text.lower()
        ids = (self._lookup(word) for word in text.split())
        return [i for i in ids if i is not None]

    def save(self, output_path: str) -> None:
        config = {"vocab": list(self.word2idx), "stop_words": sorted(self.stop_words),
                  "do_lower_case": self.do_lower_case}
        with open(os.path.join(output_path, self.config_file_name), "w", encoding="utf-8") as f:
            json.dump(config, f)

    @staticmethod
    def load(input_path: str) -> WhitespaceTokenizer:
        path = os.path.join(input_path, WhitespaceTokenizer.config_file_name)
        return WhitespaceTokenizer(**json.loads(read_model_text(path, MAX_TOKENIZER_BYTES)))
