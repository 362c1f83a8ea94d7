"""Text -> token ids with the ``tokenizers`` library, reproducing what transformers' fast tokenizers produce.

A model folder holds either ``tokenizer.json`` (used as is) or only ``vocab.txt`` (a WordPiece tokenizer is built
from it as transformers' converters do, honouring ``do_lower_case``, ``tokenize_chinese_chars`` and
``strip_accents`` from ``tokenizer_config.json``). Calls pad to the longest input and truncate at ``max_length``
with the ``longest_first`` strategy for pairs, as sentence-transformers asks of its tokenizer.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from embedkit.chat_template import (
    ChatTemplate,
    CompiledTemplates,
    read_chat_template,
    render_chat,
    select_template,
    write_chat_template,
)
from embedkit.model_files import MAX_TOKENIZER_BYTES, read_model_text
from embedkit.tokenizer_vocabulary import SPECIAL_TOKEN_KEYS, VocabularyEditing, token_content
from embedkit.util.file_io import read_config_text

# transformers uses int(1e30) for "no limit"; the Rust backend takes at most a usize.
_NO_LIMIT = 2**31 - 1
# Texts longer than this many characters per kept token are cut before tokenizing (see _without_dropped_tail).
CHARS_PER_KEPT_TOKEN = 16
# Long texts are counted in pieces of about this many characters, cut at spaces (see _token_count).
COUNT_PIECE_CHARS = 1 << 16
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _checked_padding_side(side: Any) -> str:
    if side not in ("left", "right"):
        raise ValueError(f"Padding side should be selected between 'right' and 'left', current value: {side!r}")
    return side


def _read_json(path: Path) -> dict[str, Any]:
    if not os.path.lexists(path):
        return {}
    try:
        return json.loads(read_config_text(path))
    except ValueError as exc:
        raise ValueError(f"cannot parse {path}: {exc}") from exc


def _wordpiece_from_vocab(vocab_file: Path, config: dict[str, Any], special: dict[str, str]):
    """Build the tokenizer transformers derives from a BERT/MPNet ``vocab.txt``."""
    from tokenizers import Tokenizer as Backend
    from tokenizers import decoders, models, normalizers, pre_tokenizers, processors

    vocab = {}
    text = io.StringIO(read_model_text(vocab_file, MAX_TOKENIZER_BYTES), newline=None)  # newlines as open() reads
    for index, line in enumerate(text):
        vocab[line.rstrip("\n")] = index
    is_mpnet = config.get("tokenizer_class", "").startswith("MPNet")
    cls = special.get("cls_token", "<s>" if is_mpnet else "[CLS]")
    sep = special.get("sep_token", "</s>" if is_mpnet else "[SEP]")
    unk = special.get("unk_token", "[UNK]")
    backend = Backend(models.WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=config.get("tokenize_chinese_chars", True),
        strip_accents=config.get("strip_accents"),
        lowercase=config.get("do_lower_case", True),
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    pair = f"{cls}:0 $A:0 {sep}:0 {sep}:0 $B:1 {sep}:1" if is_mpnet else f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1"
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=pair, special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])]
    )
    backend.decoder = decoders.WordPiece(prefix="##")
    backend.add_special_tokens([tok for tok in special.values() if tok in vocab])
    return backend



# tokenizer_config.json tokenizer classes whose vocab.json + merges.txt pair texts as DeBERTa v1 does (transformers 5:
# ``[CLS] A [SEP] [SEP] B [SEP]``, all type 0); the other byte-level BPE classes with <s> / </s> pair as RoBERTa does.
_DEBERTA_BPE_CLASSES = ("DebertaTokenizer", "DebertaTokenizerFast")
_ROBERTA_BPE_CLASSES = ("RobertaTokenizer", "RobertaTokenizerFast")
# The special tokens transformers' RobertaTokenizer / DebertaTokenizer take when the folder names none, and the class
# a folder without ``tokenizer_class`` gets from its config.json ``model_type`` (as AutoTokenizer picks it).
_BPE_DEFAULTS = {
    "roberta": ("RobertaTokenizer", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                                     "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}),
    "deberta": ("DebertaTokenizer", {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]",
                                     "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                                     "mask_token": "[MASK]"}),
}


def _byte_level_bpe_from_files(folder: Path, config: dict[str, Any], special: dict[str, str]):
    """Build the tokenizer transformers 5 derives from a byte-level BPE ``vocab.json`` + ``merges.txt`` (RoBERTa,
    DistilRoBERTa, DeBERTa v1) -> (backend, special tokens, tokenizer class): ByteLevel pre-tokenizer and decoder
    (``add_prefix_space`` from tokenizer_config.json), no normalizer, the special tokens as added tokens, and the pair
    layout of the class: RoBERTa's ``<s> A </s></s> B </s>``, DeBERTa's ``[CLS] A [SEP] [SEP] B [SEP]`` (both all
    type 0). The class is ``tokenizer_class``, else the one config.json's ``model_type`` implies; special tokens the
    folder does not name take that class's defaults.

    Raises:
        ValueError: another tokenizer class (GPT-2's, ...), a vocab.json that is not a token -> id object, or a
            special token missing from it.
    """
    from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors
    from tokenizers import Tokenizer as Backend

    tokenizer_class = config.get("tokenizer_class")
    if tokenizer_class is None:
        model_type = _read_json(folder / "config.json").get("model_type")
        tokenizer_class = _BPE_DEFAULTS.get(model_type, (None, {}))[0]
    if tokenizer_class in _DEBERTA_BPE_CLASSES:
        kind = "deberta"
    elif tokenizer_class in _ROBERTA_BPE_CLASSES:
        kind = "roberta"
    else:
        raise ValueError(f"{folder}: a vocab.json + merges.txt tokenizer of class {tokenizer_class!r} is not "
                         f"supported (RoBERTa's and DeBERTa v1's are; a tokenizer.json is read for any class)")
    special = {**_BPE_DEFAULTS[kind][1], **special}
    vocab = json.loads(read_model_text(folder / "vocab.json", MAX_TOKENIZER_BYTES))
    if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
        raise ValueError(f"{folder / 'vocab.json'}: expected an object of token -> id")
    merges = []
    for line in read_model_text(folder / "merges.txt", MAX_TOKENIZER_BYTES).splitlines():
        if line.startswith("#version") or not line.strip():
            continue
        first, _, second = line.partition(" ")
        merges.append((first, second))
    backend = Backend(models.BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                                 end_of_word_suffix="", fuse_unk=False))
    add_prefix_space = bool(config.get("add_prefix_space", False))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    backend.decoder = decoders.ByteLevel()
    missing = sorted(tok for tok in special.values() if tok not in vocab)
    if missing:
        raise ValueError(f"{folder}: special tokens {missing} are not in vocab.json")
    backend.add_special_tokens([AddedToken(tok, special=True, normalized=False) for tok in special.values()])
    cls, sep = special["cls_token"], special["sep_token"]
    if kind == "deberta":
        backend.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} {sep} $B {sep}",
            special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    else:
        backend.post_processor = processors.RobertaProcessing(
            (sep, vocab[sep]), (cls, vocab[cls]), trim_offsets=bool(config.get("trim_offsets", True)),
            add_prefix_space=add_prefix_space)
    return backend, special, tokenizer_class


def _replace_lone_surrogates(text: str) -> str:
    """``text`` with each lone UTF-16 surrogate (legal in a Python string, e.g. from JSON, but not in UTF-8, which
    the tokenizer needs) replaced by U+FFFD; valid text is returned as is."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _padded(row: list[int], width: int, fill: int, side: str) -> list[int]:
    pad = [fill] * (width - len(row))
    return row + pad if side == "right" else pad + row


class BatchEncoding(dict):
    """What calling a :class:`Tokenizer` returns: a dict of ``input_ids``, ``attention_mask`` (and
    ``token_type_ids``), also readable as attributes, with ``.to(device)`` for tensors (transformers'
    ``BatchEncoding``).

    Example:
        >>> BatchEncoding({"input_ids": [1, 2]}).input_ids
        [1, 2]
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, device: Any) -> BatchEncoding:
        return BatchEncoding({k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.items()})

    def convert_to_tensors(self, kind: str) -> BatchEncoding:
        """The lists as ``"pt"`` tensors or ``"np"`` arrays; unequal lengths raise, as in transformers."""
        import numpy as np

        out = BatchEncoding()
        for key, value in self.items():
            rows = value if value and isinstance(value[0], list) else [value]
            if len({len(r) for r in rows}) > 1:
                raise ValueError("Unable to create tensor, you should probably activate truncation and/or padding "
                                 "with 'padding=True' 'truncation=True' to have batched tensors with the same length.")
            array = np.array(rows, dtype=np.int64).reshape(len(rows), -1)
            out[key] = torch.from_numpy(array) if kind == "pt" else array
        return out


def well_formed(texts: Any) -> list[Any]:
    """The batch as a list, with lone surrogates replaced in every text and in both texts of a pair.

    Example:
        >>> well_formed(["caf\\ud800e", ("a", "b")]) == ["caf\\ufffde", ("a", "b")]
        True
    """
    out = []
    for item in texts:
        if isinstance(item, str):
            item = _replace_lone_surrogates(item)
        elif isinstance(item, tuple) and len(item) == 2 and all(isinstance(t, str) for t in item):
            item = (_replace_lone_surrogates(item[0]), _replace_lone_surrogates(item[1]))
        out.append(item)
    return out

class Tokenizer(VocabularyEditing):
    """Tokenizer of one model folder.

    Args:
        folder: directory holding ``tokenizer.json`` or ``vocab.txt`` (plus optional ``tokenizer_config.json``
            and ``special_tokens_map.json``).
        do_lower_case: lowercase every text first (sentence-transformers' ``do_lower_case``, independent of the
            tokenizer's own normalizer).
        return_token_type_ids: include ``token_type_ids`` in the output (BERT yes, MPNet no).

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> tok = Tokenizer(default_model_path())
        >>> tok(["Hello world!"], max_length=8)["input_ids"]
        [[101, 7592, 2088, 999, 102]]
    """

    def __init__(
        self, folder: str | os.PathLike, do_lower_case: bool = False, return_token_type_ids: bool = True
    ) -> None:
        from tokenizers import Tokenizer as Backend
        from tokenizers import normalizers

        self.folder = Path(folder)
        self.config = _read_json(self.folder / "tokenizer_config.json")
        self.special_tokens_map = _read_json(self.folder / "special_tokens_map.json")
        special = {}
        for key in SPECIAL_TOKEN_KEYS:
            content = token_content(self.special_tokens_map.get(key, self.config.get(key)))
            if content is not None:
                special[key] = content
        if os.path.lexists(self.folder / "tokenizer.json"):  # a FIFO or /dev/zero link is refused, not skipped
            text = read_model_text(self.folder / "tokenizer.json", MAX_TOKENIZER_BYTES)
            try:
                self.backend = Backend.from_str(text)
            except Exception as exc:
                raise ValueError(f"cannot read {self.folder / 'tokenizer.json'}: {exc}") from exc
        elif os.path.lexists(self.folder / "vocab.txt"):
            self.backend = _wordpiece_from_vocab(self.folder / "vocab.txt", self.config, special)
        elif os.path.lexists(self.folder / "vocab.json") and os.path.lexists(self.folder / "merges.txt"):
            self.backend, special, tokenizer_class = _byte_level_bpe_from_files(self.folder, self.config, special)
            self.config.setdefault("tokenizer_class", tokenizer_class)  # saved with the folder
        else:
            raise FileNotFoundError(f"no tokenizer in {self.folder}: looked for tokenizer.json, vocab.txt and "
                                    "vocab.json + merges.txt")
        self.backend.no_truncation()
        self.backend.no_padding()
        # The backend's truncation and padding are settings of one shared object: each call sets them and
        # encodes under this lock, so threads sharing a model never see another call's settings.
        self._lock = threading.RLock()
        self._json_to_save = self.backend.to_str()  # before our Lowercase step: that flag is saved separately
        self.do_lower_case = do_lower_case
        if do_lower_case:
            current = self.backend.normalizer
            parts = [normalizers.Lowercase()] + ([current] if current is not None else [])
            self.backend.normalizer = normalizers.Sequence(parts)
        self.return_token_type_ids = return_token_type_ids
        self.padding_side = self.config.get("padding_side", "right")
        limit = self.config.get("model_max_length", _NO_LIMIT)
        self.model_max_length = int(min(limit, _NO_LIMIT)) if isinstance(limit, (int, float)) else _NO_LIMIT

        self.special_tokens = special
        self.chat_template: ChatTemplate | None = read_chat_template(self.folder, self.config)
        """The folder's chat template (a Jinja source, or a dict of named ones); None when it has none. Assign
        to change it; :meth:`save` writes it as ``chat_template.jinja``."""
        self._compiled_templates = CompiledTemplates()
        self._refresh_special_ids()
        pad = special.get("pad_token")
        pad_id = self.backend.token_to_id(pad) if pad is not None else None
        if pad_id is None:
            pad_id = 0
            pad = self.backend.id_to_token(0) or "[PAD]"
        self._pad_token, self.pad_token_id = pad, pad_id
        eos = special.get("eos_token")
        self.eos_token_id = self.backend.token_to_id(eos) if eos is not None else None
        cls, sep = special.get("cls_token"), special.get("sep_token")
        self.cls_token_id = self.backend.token_to_id(cls) if cls is not None else None
        self.sep_token_id = self.backend.token_to_id(sep) if sep is not None else None

    @property
    def all_special_ids(self) -> list[int]:
        """Ids of the special tokens: those the tokenizer files name, and the current ``cls_token_id``,
        ``sep_token_id`` and ``eos_token_id`` (setting one makes it special, as in transformers)."""
        current = {self.cls_token_id, self.sep_token_id, self.eos_token_id} - {None}
        return sorted(self._file_special_ids | current)

    @property
    def padding_side(self) -> str:
        """Where padding goes: ``"right"`` (the default) or ``"left"`` (``padding_side`` in tokenizer_config.json,
        as decoder embedding models such as Qwen3-Embedding ship it); settable, and saved."""
        return self._padding_side

    @padding_side.setter
    def padding_side(self, value: str) -> None:
        self._padding_side = _checked_padding_side(value)

    @property
    def backend_tokenizer(self) -> Any:
        """The ``tokenizers.Tokenizer`` doing the work (transformers' name for it; ``_tokenizer`` is the other one)."""
        return self.backend

    _tokenizer = backend_tokenizer

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    def largest_token_id(self) -> tuple[str, int]:
        """(token, id) of the largest id in the vocabulary and added tokens; ids may have gaps, so this can exceed
        ``vocab_size - 1``. (``("", -1)`` for an empty vocabulary.)"""
        vocab = self.backend.get_vocab(with_added_tokens=True)
        if not vocab:
            return "", -1
        token = max(vocab, key=vocab.__getitem__)
        return token, vocab[token]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]  # a lock cannot be copied or pickled; each copy gets its own
        state.pop("_compiled_templates", None)  # compiled Jinja code is rebuilt on use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "pad_token" in state:  # pickled when the padding token was a plain attribute
            state["_pad_token"] = state.pop("pad_token")
        self.__dict__.update(state)
        self.__dict__.setdefault("_padding_side", "right")  # pickled before padding sides existed
        if "all_special_ids" in self.__dict__:  # pickled when the ids were a plain list
            self._file_special_ids = frozenset(self.__dict__.pop("all_special_ids"))
        self._lock = threading.RLock()
        self.__dict__.setdefault("chat_template", None)  # pickled before chat templates were read
        self._compiled_templates = CompiledTemplates()

    def apply_chat_template(self, conversation: list[dict[str, Any]] | list[list[dict[str, Any]]],
                            chat_template: str | None = None, add_generation_prompt: bool = False,
                            continue_final_message: bool = False, tokenize: bool = True,
                            max_length: int | None = None, padding_side: str | None = None, **kwargs: Any
                            ) -> str | list[str] | dict[str, Tensor]:
        """Render one conversation (a list of messages) or a batch of them through the chat template, as
        transformers' ``apply_chat_template`` does, and tokenize the text without adding special tokens.

        Args:
            chat_template: the name of one of the model's templates, or a template source (default: the model's).
            tokenize: False returns the rendered text (a list of texts for a batch).
            max_length / padding_side: as in :meth:`__call__` (truncation at ``max_length``, padding to the longest).
            **kwargs: template variables (``tools``, ``documents``, ``enable_thinking``, ``task``, ...).

        Raises:
            ValueError: the model has no chat template and none was given (or see :func:`render_chat`).

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> tok = Tokenizer(default_model_path())
            >>> tok.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }} {% endfor %}"
            >>> tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
            'user: hi '
            >>> tok.apply_chat_template([{"role": "user", "content": "hi"}])["input_ids"].tolist()
            [[5310, 1024, 7632]]
        """
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        conversations = conversation if batched else [conversation]
        source = select_template(self.chat_template, chat_template, kwargs.get("tools"))
        texts = [render_chat(source, list(messages), dict(self.special_tokens),
                             add_generation_prompt=add_generation_prompt,
                             continue_final_message=continue_final_message, compiled=self._compiled_templates,
                             **kwargs)
                 for messages in conversations]
        if not tokenize:
            return texts if batched else texts[0]
        return self.batch_features(texts, max_length=max_length, add_special_tokens=False, padding_side=padding_side)

    def encode_ids(self, texts: list[str] | list[tuple[str, str]], max_length: int | None = None,
                   add_special_tokens: bool = True) -> list[list[int]]:
        """Token ids per input (no padding, no tensors), truncated like :meth:`__call__`.

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> tok = Tokenizer(default_model_path())
            >>> _ = tok(["a", "a much longer text"])  # a padded call leaves no padding behind
            >>> tok.encode_ids(["a", "a much longer text"])
            [[101, 1037, 102], [101, 1037, 2172, 2936, 3793, 102]]
        """
        with self._lock:
            self._set_truncation(max_length)
            texts = self._without_dropped_tail(well_formed(texts))
            self.backend.no_padding()
            return [enc.ids for enc in self.backend.encode_batch(texts, add_special_tokens=add_special_tokens)]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs: Any
                 ) -> list[str]:
        """The tokens of one text (or pair), without special tokens unless asked, never truncated (transformers'
        ``tokenize``)."""
        with self._lock:
            self.backend.no_truncation()
            self.backend.no_padding()
            item = well_formed([text if pair is None else (text, pair)])[0]
            parts = item if isinstance(item, tuple) else (item,)
            return self.backend.encode(*parts, add_special_tokens=add_special_tokens).tokens

    def _set_truncation(self, max_length: int | None) -> None:
        max_length = self.model_max_length if max_length is None else max_length
        if max_length >= _NO_LIMIT:
            self.backend.no_truncation()
        else:
            self.backend.enable_truncation(max_length, strategy="longest_first")

    def _without_dropped_tail(self, texts: list[Any]) -> list[Any]:
        """Very long texts cut to a prefix that tokenizes to the same kept tokens.

        Truncation keeps at most ``max_length`` tokens of a text, but the tokenizer would first tokenize all of it
        (a 100,000-word text takes gigabytes). A prefix cut at a space tokenizes to a prefix of the full text's
        tokens (every earlier word is split the same way), so when it already holds ``max_length`` tokens the
        truncated result is the same; otherwise the cut grows, up to the whole text.

        In a pair, truncation's split depends on the two token counts: the shorter text is kept whole when it
        fits in half the room, the longer one gets the rest, and when both are long each gets half the room, the odd
        token going to the second text unless the first has strictly more tokens. So the split is the same for any
        cut texts that (a) each still hold at least ``max_length`` tokens or are whole and (b) compare as the whole
        texts did (first longer, or not). The two texts are counted exactly (in pieces, see :meth:`_token_count`),
        cut, and a cut is grown until (b) holds.
        """
        truncation = self.backend.truncation
        if truncation is None:
            return texts
        keep = truncation["max_length"]

        def cut(text: Any, at_least: int = keep) -> Any:
            if not isinstance(text, str):
                return text
            limit = CHARS_PER_KEPT_TOKEN * at_least
            while limit < len(text):
                boundary = text.rfind(" ", 0, limit)
                if boundary > 0 and self._token_count(text[:boundary]) >= at_least:
                    return text[:boundary]
                limit *= 4
            return text

        out = []
        self.backend.no_truncation()  # counts below are of whole texts and prefixes
        try:
            for item in texts:
                if isinstance(item, tuple) and len(item) == 2 and all(isinstance(text, str) for text in item):
                    if max(len(item[0]), len(item[1])) > CHARS_PER_KEPT_TOKEN * keep:
                        item = self._cut_pair(item[0], item[1], cut)
                elif not isinstance(item, tuple):
                    item = cut(item)
                out.append(item)
        finally:
            self.backend.enable_truncation(**truncation)
        return out

    def _cut_pair(self, first: str, second: str, cut: Any) -> tuple[str, str]:
        """Both texts of a pair cut to prefixes that truncation splits as it splits the whole texts."""
        first_longer = self._token_count(first) > self._token_count(second)
        a, b = cut(first), cut(second)
        count_a, count_b = self._token_count(a), self._token_count(b)
        if first_longer and count_a <= count_b:
            a = cut(first, count_b + 1)  # reachable: the whole first text has more tokens than the whole second
        elif not first_longer and count_a > count_b:
            b = cut(second, count_a)
        return a, b

    def _token_count(self, text: str) -> int:
        """The number of tokens of ``text`` (no special tokens), tokenized in pieces of about ``COUNT_PIECE_CHARS``
        characters cut before a space, so memory stays bounded; a piece keeps its leading space, and WordPiece
        splits words the same way in a piece as in the whole text."""
        count, start = 0, 0
        while start < len(text):
            stop = len(text)
            if start + COUNT_PIECE_CHARS < len(text):
                boundary = text.rfind(" ", start + 1, start + COUNT_PIECE_CHARS)
                if boundary < 0:
                    boundary = text.find(" ", start + COUNT_PIECE_CHARS)
                stop = boundary if boundary > start else len(text)
            count += len(self.backend.encode(text[start:stop], add_special_tokens=False).ids)
            start = stop
        return count

    def __call__(self, text: str | list[str] | list[tuple[str, str]] | None = None,
                 text_pair: str | list[str] | None = None, add_special_tokens: bool = True,
                 padding: bool | str = False, truncation: bool | str | None = None, max_length: int | None = None,
                 return_tensors: str | None = None, padding_side: str | None = None,
                 return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                 **kwargs: Any) -> BatchEncoding:
        """Tokenize as transformers' tokenizer call does: one text (or one ``text`` / ``text_pair``) gives one
        example's lists, a list gives a list per example; ``padding`` (True / "longest", "max_length"),
        ``truncation`` (to ``max_length``, default ``model_max_length``; ``max_length`` alone also truncates) and
        ``return_tensors`` ("pt", "np") as there. A list (or tuple) is a batch, whose items may be (text, text) pairs.

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> tok = Tokenizer(default_model_path())
            >>> tok("Hello world")["input_ids"]
            [101, 7592, 2088, 102]
            >>> tok(["Hi", "Hello world"], padding=True, return_tensors="pt")["attention_mask"].tolist()
            [[1, 1, 1, 0], [1, 1, 1, 1]]
            >>> tok("Hello", "world")["token_type_ids"]
            [0, 0, 0, 1, 1]
        """
        if text is None:
            raise ValueError("You need to specify `text` (a string or a list of strings) to tokenize")
        batched = isinstance(text, (list, tuple))  # as transformers: a tuple of two texts is two examples
        items: list[Any] = list(text) if batched else [text]
        if text_pair is not None:
            pairs = list(text_pair) if batched else [text_pair]
            if len(pairs) != len(items):
                raise ValueError(f"text has {len(items)} examples but text_pair has {len(pairs)}")
            items = [(a, b) for a, b in zip(items, pairs)]
        items = [tuple(item) if isinstance(item, list) else item for item in items]
        if padding not in (False, True, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"padding={padding!r}: expected True, False, 'longest', 'max_length' or 'do_not_pad'")
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors={return_tensors!r}: embedkit returns 'pt', 'np' or lists (None)")
        truncate = truncation not in (None, False, "do_not_truncate") or (truncation is None and max_length)
        limit = (max_length or self.model_max_length) if truncate else _NO_LIMIT
        side = self.padding_side if padding_side is None else _checked_padding_side(padding_side)
        with self._lock:
            self._set_truncation(limit)
            items = self._without_dropped_tail(well_formed(items))
            self.backend.no_padding()
            encodings = self.backend.encode_batch(items, add_special_tokens=add_special_tokens)
        columns = {"input_ids": [e.ids for e in encodings]}
        if return_token_type_ids if return_token_type_ids is not None else self.return_token_type_ids:
            columns["token_type_ids"] = [e.type_ids for e in encodings]
        if return_attention_mask is not False:
            columns["attention_mask"] = [e.attention_mask for e in encodings]
        width = max((len(ids) for ids in columns["input_ids"]), default=0)
        if padding == "max_length":
            width = max(width, max_length or self.model_max_length)
        if padding in (True, "longest", "max_length"):
            fill = {"input_ids": self.pad_token_id or 0, "token_type_ids": 0, "attention_mask": 0}
            for key, rows in columns.items():
                columns[key] = [_padded(row, width, fill[key], side) for row in rows]
        out = BatchEncoding(columns if batched else {k: v[0] for k, v in columns.items()})
        return out.convert_to_tensors(return_tensors) if return_tensors else out

    def encode(self, text: str | tuple[str, str], text_pair: str | None = None, add_special_tokens: bool = True,
               **kwargs: Any) -> list[int]:
        """One text's (or pair's) token ids, as transformers' ``encode``.

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> Tokenizer(default_model_path()).encode("Hello world")
            [101, 7592, 2088, 102]
        """
        return self(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def batch_features(self, texts: list[str] | list[tuple[str, str]], max_length: int | None = None,
                       add_special_tokens: bool = True, padding_side: str | None = None, **kwargs: Any
                       ) -> BatchEncoding:
        """Tokenize a batch of texts or (text, text) pairs into padded (B, T) tensors.

        Shapes: ``input_ids``, ``attention_mask`` and, when enabled, ``token_type_ids`` are all (B, T) int64.
        Padding goes on ``padding_side`` (this call's, else :attr:`padding_side`); truncation to ``max_length``
        (default: ``model_max_length``). What the models' ``tokenize`` / ``preprocess`` run; calling the tokenizer
        itself behaves as transformers' tokenizer call.

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> tok = Tokenizer(default_model_path())
            >>> tok.batch_features(["Hello world!", "Hi"], padding_side="left")["attention_mask"].tolist()
            [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]
        """
        side = self.padding_side if padding_side is None else _checked_padding_side(padding_side)
        with self._lock:
            self._set_truncation(max_length)
            texts = self._without_dropped_tail(well_formed(texts))
            self.backend.enable_padding(pad_id=self.pad_token_id, pad_token=self.pad_token, direction=side)
            encodings = self.backend.encode_batch(texts, add_special_tokens=add_special_tokens)
        features = {
            "input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.long),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),
        }
        if self.return_token_type_ids:
            features["token_type_ids"] = torch.tensor([e.type_ids for e in encodings], dtype=torch.long)
        if not encodings:
            features = {k: v.reshape(0, 0) for k, v in features.items()}
        return BatchEncoding(features)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str | None]:
        return [self.backend.id_to_token(int(i)) for i in ids]

    def decode(self, ids: list[int] | Tensor, skip_special_tokens: bool = False, **kwargs: Any) -> str:
        """The text of token ids (special tokens kept unless ``skip_special_tokens``, as in transformers)."""
        ids = ids.tolist() if isinstance(ids, Tensor) else ids
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def batch_decode(self, sequences: list[list[int]] | Tensor, skip_special_tokens: bool = False, **kwargs: Any
                     ) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in sequences]

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int] | None:
        """Ids of tokens (the unknown token's id for a token not in the vocabulary, as in transformers)."""
        if isinstance(tokens, str):
            found = self.backend.token_to_id(tokens)
            return found if found is not None else self.backend.token_to_id(self.special_tokens.get("unk_token", ""))
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def get_vocab(self) -> dict[str, int]:
        """Token -> id, added tokens included."""
        return self.backend.get_vocab(with_added_tokens=True)

    def save_pretrained(self, folder: str | os.PathLike, **kwargs: Any) -> tuple[str, ...]:
        """Write the tokenizer files into ``folder`` (transformers' name for :meth:`save`)."""
        self.save(folder)
        return tuple(str(p) for p in sorted(Path(folder).iterdir()))

    def save(self, folder: str | os.PathLike, model_max_length: int | None = None) -> None:
        """Write the tokenizer files (``tokenizer.json``, configs, original ``vocab.txt``) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tokenizer.json").write_text(self._json_to_save, encoding="utf-8")
        config = dict(self.config)
        if config.get("tokenizer_class") == "TokenizersBackend":
            # transformers 5 writes this name for a plain tokenizer.json; 4.x knows the same class only by its older
            # name, which 5.x still accepts: the folder then loads in both (and in sentence-transformers 5 and 6)
            config["tokenizer_class"] = "PreTrainedTokenizerFast"
        if isinstance(config.get("extra_special_tokens"), list) and "additional_special_tokens" not in config:
            # transformers 5 writes the extra special tokens (CamemBERT's <s>NOTUSED ...) as a list under this key,
            # which 4.x reads as a dict and fails on; both read the list under its 4.x name
            config["additional_special_tokens"] = config.pop("extra_special_tokens")
        is_mpnet = "<s>" in self.special_tokens.values()
        config.setdefault("tokenizer_class", "MPNetTokenizer" if is_mpnet else "BertTokenizer")
        for key, value in self.special_tokens.items():
            config.setdefault(key, value)
        if model_max_length is not None:
            config["model_max_length"] = model_max_length
        if self.padding_side != "right" or "padding_side" in config:
            config["padding_side"] = self.padding_side
        if self.chat_template is not None:  # written as chat_template.jinja (and additional_chat_templates/)
            config.pop("chat_template", None)
        write_chat_template(folder, self.chat_template)
        (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        special_map = self.special_tokens_map or dict(self.special_tokens)
        (folder / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2, ensure_ascii=False) + "\n")
        vocab = self.folder / "vocab.txt"
        if vocab.is_file() and vocab.resolve() != (folder / "vocab.txt").resolve():
            shutil.copyfile(vocab, folder / "vocab.txt")
