"""What a loaded encoder can index: token ids, token types and positions, checked against its tokenizer at load.

A folder whose tokenizer and config disagree would load and then fail on the first text that reaches a missing
embedding row (an ``IndexError`` on CPU, a device-side assert on GPU). These checks run once at load so that
such a folder is either refused with a one-line message naming the folder, the field and the numbers, or
adjusted (with a warning) where sentence-transformers users get a working model from the same folder.
"""

from __future__ import annotations

import logging
from typing import Any

from embedkit.encoders.config import ROBERTA_TYPES, EncoderConfig
from embedkit.encoders.mpnet import PADDING_IDX

logger = logging.getLogger(__name__)


def max_input_length(config: EncoderConfig) -> int:
    """The most tokens one input may have so that every position id has a row in the position table.

    BERT and DistilBERT number positions 0..T-1, so T <= ``max_position_embeddings``. MPNet and RoBERTa /
    XLM-RoBERTa (fairseq style) number them from ``padding_idx + 1`` (padding gets ``padding_idx``), so
    T <= ``max_position_embeddings - padding_idx - 1`` (512 for 514 rows and padding_idx 1; MPNet's padding_idx is
    always 1, RoBERTa's is ``pad_token_id``). T5 has no position table (relative buckets): its
    ``max_position_embeddings`` is only a bound on what embedkit accepts.

    Example:
        >>> max_input_length(EncoderConfig(model_type="mpnet", vocab_size=10, hidden_size=8, num_attention_heads=2,
        ...                                max_position_embeddings=514))
        512
    """
    if config.model_type == "mpnet":
        return config.max_position_embeddings - PADDING_IDX - 1
    if config.model_type in ROBERTA_TYPES:
        return config.max_position_embeddings - config.pad_token_id - 1
    return config.max_position_embeddings


POSITION_TABLE_TYPES = ("bert", "distilbert", "electra", "albert", "mpnet", *ROBERTA_TYPES)


def has_position_table(config: EncoderConfig) -> bool:
    """Whether the encoder looks positions up in a learned table (so no input may be longer than its rows): BERT,
    DistilBERT, ELECTRA, ALBERT, MPNet, the RoBERTa family and DeBERTa with ``position_biased_input``. Rotary
    (ModernBERT, GTE, NomicBERT, the decoders) and relative (T5, DeBERTa) positions have no such bound.

    Example:
        >>> has_position_table(EncoderConfig(model_type="bert", vocab_size=10, hidden_size=8, num_attention_heads=2))
        True
    """
    if config.model_type in ("deberta", "deberta-v2"):
        return bool(getattr(config, "position_biased_input", False))
    return config.model_type in POSITION_TABLE_TYPES


def clamp_max_length(value: int, config: EncoderConfig, where: str, field: str = "max_seq_length") -> int:
    """``value`` capped at :func:`max_input_length`, with a warning when it is capped, for encoders with a position
    table (:func:`has_position_table`); other encoders take any length, as in sentence-transformers.

    Clamped rather than refused: sentence-transformers takes ``max_seq_length``/``model_max_length`` from the folder
    as they are, and transformers only warns that a sequence is longer than the model allows, so an ST user expects
    the folder to load and short texts to work; a longer value could only ever fail (no position row), so the
    position table's limit is what they get, as ST's default (``min(max_position_embeddings, model_max_length)``)
    would give them.

    Raises:
        ValueError: the position table leaves room for no token at all.
    """
    limit = max_input_length(config)
    if limit < 1:
        raise ValueError(f"{where}: max_position_embeddings={config.max_position_embeddings} leaves no position for "
                         f"any token of a {config.model_type} model")
    if not has_position_table(config):  # rotary or relative positions: longer inputs work, as in ST
        return value
    if value > limit:
        logger.warning("%s: %s=%d is longer than the position table allows (max_position_embeddings=%d -> at most "
                       "%d tokens); using %d", where, field, value, config.max_position_embeddings, limit, limit)
        return limit
    return value


def check_tokenizer_fits(tokenizer: Any, config: EncoderConfig, where: str) -> None:
    """Refuse a tokenizer that can produce an id the token embedding has no row for.

    The largest id in the vocabulary and added tokens is compared with ``vocab_size`` (a count is not enough: a
    vocabulary with gaps has fewer tokens than its largest id), and so is the id used for padding. Refused, not
    clamped: mapping such tokens to another row would silently embed the wrong token, and sentence-transformers
    would fail on the first text holding one.

    Raises:
        ValueError: naming the folder, the token, its id and the number of rows.
    """
    rows = config.vocab_size
    token, largest = tokenizer.largest_token_id()
    if largest >= rows:
        raise ValueError(f"{where}: the tokenizer's token {token!r} has id {largest} but the model's embedding has "
                         f"only {rows} rows (vocab_size={rows}, ids 0..{rows - 1}); tokenizer and weights do not "
                         "belong together")
    if not 0 <= tokenizer.pad_token_id < rows:
        raise ValueError(f"{where}: the tokenizer pads with id {tokenizer.pad_token_id} ({tokenizer.pad_token!r}) "
                         f"but the model's embedding has ids 0..{rows - 1} (vocab_size={rows})")


def uses_token_types(config: EncoderConfig, where: str) -> bool:
    """Whether the tokenizer should hand ``token_type_ids`` to the encoder.

    MPNet and DistilBERT have no token-type embedding; RoBERTa / XLM-RoBERTa tokenizers give none in transformers
    (every token gets type 0, whatever ``type_vocab_size`` is). A BERT with ``type_vocab_size=1`` has one row, so
    the second text of a pair (type 1) would index past it: its token types are left out (all 0, as RoBERTa-style
    tokenizers do for single-type models in transformers), with a warning, so that pairs (a CrossEncoder's only
    input) still work. DeBERTa's tokenizers (v1 and v2) give token types whatever the model has (as transformers'
    do): a model without a type table (deberta-base, DeBERTa-v3) ignores them, one with a single row is treated as
    BERT's. GTE models
    (one or no type row: every token has type 0, or none) get none. ALBERT's tokenizer gives none in transformers 5
    (its ``model_input_names``; transformers 4 gave types 0 / 1), so a pair's second text gets type 0 there, and here.
    """
    if config.model_type in ("deberta", "deberta-v2") and config.type_vocab_size == 0:
        return True
    if config.model_type in ("gte", "new"):  # types only where the model has a row for type 1
        return config.type_vocab_size >= 2
    if config.model_type not in ("bert", "electra", "deberta", "deberta-v2", "nomic_bert"):  # with types
        return False
    if config.type_vocab_size < 2:
        logger.warning("%s: type_vocab_size=%d: both texts of a pair get token type 0 (the model has no row for "
                       "type 1)", where, config.type_vocab_size)
        return False
    return True
