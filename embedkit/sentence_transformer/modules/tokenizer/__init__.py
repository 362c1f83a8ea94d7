"""Word-level tokenizers of the legacy WordEmbeddings/BoW modules (sentence-transformers ``models.tokenizer``)."""

from __future__ import annotations

from embedkit.sentence_transformer.modules.tokenizer.phrase import PhraseTokenizer
from embedkit.sentence_transformer.modules.tokenizer.whitespace import (
    WhitespaceTokenizer,
)
from embedkit.sentence_transformer.modules.tokenizer.word import (
    ENGLISH_STOP_WORDS,
    WordTokenizer,
)

__all__ = ["ENGLISH_STOP_WORDS", "PhraseTokenizer", "WhitespaceTokenizer", "WordTokenizer"]
