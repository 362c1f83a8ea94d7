"""PhraseTokenizer: a word tokenizer that merges multi-word phrases of the vocabulary (``New_York``) into one token.

Word splitting uses NLTK's ``word_tokenize``; NLTK is optional and imported only when the tokenizer is built.
"""

from __future__ import annotations

import json
import logging
import os
import string
from collections.abc import Iterable
from typing import Any

from embedkit.model_files import MAX_TOKENIZER_BYTES, read_model_text
from embedkit.sentence_transformer.modules.tokenizer.word import (
    ENGLISH_STOP_WORDS,
    WordTokenizer,
)

logger = logging.getLogger(__name__)


def _require_nltk() -> Any:
    try:
        import nltk  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError("PhraseTokenizer needs the NLTK library: pip install nltk") from exc
    return nltk


class PhraseTokenizer(WordTokenizer):
    """Tokenize with NLTK, merge runs of words that form a vocabulary phrase (words joined by ``ngram_separator``,
    at most ``max_ngram_length`` words), then map to indices dropping stop words and unknown words.

    Saved as ``phrasetokenizer_config.json``.

    Raises:
        ImportError: NLTK is not installed.
    """

    config_file_name = "phrasetokenizer_config.json"

    def __init__(self, vocab: Iterable[str] = (), stop_words: Iterable[str] = ENGLISH_STOP_WORDS,
                 do_lower_case: bool = False, ngram_separator: str = "_", max_ngram_length: int = 5) -> None:
        _require_nltk()
        self.stop_words = set(stop_words)
        self.do_lower_case = do_lower_case
        self.ngram_separator = ngram_separator
        self.max_ngram_length = max_ngram_length
        self.set_vocab(vocab)

    def get_vocab(self) -> list[str]:
        return self.vocab

    def set_vocab(self, vocab: Iterable[str]) -> None:
        self.vocab = list(vocab)
        self.word2idx = {word: idx for idx, word in enumerate(self.vocab)}
        self.ngram_lookup: set[str] = set()
        self.ngram_lengths: set[int] = set()
        sep = self.ngram_separator
        for word in self.vocab:
            if sep and sep in word and sep + sep not in word:
                n = word.count(sep) + 1
                if n <= self.max_ngram_length:
                    self.ngram_lookup.add(word)
                    self.ngram_lengths.add(n)
        if self.vocab:
            logger.info("PhraseTokenizer: %d phrases, lengths %s", len(self.ngram_lookup), sorted(self.ngram_lengths))

    def _merge_phrases(self, words: list[str]) -> list[str]:
        for n in sorted(self.ngram_lengths, reverse=True):
            i = 0
            while i <= len(words) - n:
                phrase = self.ngram_separator.join(words[i:i + n])
                if phrase in self.ngram_lookup:
                    words[i:i + n] = [phrase]
                elif phrase.lower() in self.ngram_lookup:
                    words[i:i + n] = [phrase.lower()]
                i += 1
        return words

    def tokenize(self, text: str, **kwargs: Any) -> list[int]:
        words = self._merge_phrases(_require_nltk().word_tokenize(text, preserve_line=True))
        ids = []
        for word in words:
            for candidate in (word, word.lower(), word.lower().strip(string.punctuation)):
                if candidate in self.stop_words:
                    break
                if candidate and candidate in self.word2idx:
                    ids.append(self.word2idx[candidate])
                    break
        return ids

    def save(self, output_path: str) -> None:
        config = {"vocab": list(self.word2idx), "stop_words": sorted(self.stop_words),
                  "do_lower_case": self.do_lower_case, "ngram_separator": self.ngram_separator,
                  "max_ngram_length": self.max_ngram_length}
        with open(os.path.join(output_path, self.config_file_name), "w", encoding="utf-8") as f:
            json.dump(config, f)

    @staticmethod
    def load(input_path: str) -> PhraseTokenizer:
        path = os.path.join(input_path, PhraseTokenizer.config_file_name)
        return PhraseTokenizer(**json.loads(read_model_text(path, MAX_TOKENIZER_BYTES)))
