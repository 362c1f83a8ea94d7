"""Adding tokens to a tokenizer, as transformers' ``add_tokens`` / ``add_special_tokens`` / ``pad_token = ...`` do.

New tokens go into the ``tokenizers`` backend as added tokens (never split, matched before the model's own
tokenization) and into the ``tokenizer.json`` that ``save`` writes, so a saved folder carries them. After adding
tokens, grow the model's token embeddings to match: ``model[0].auto_model.resize_token_embeddings(len(tokenizer))``.

Example:
    >>> from embedkit import SentenceTransformer
    >>> from embedkit.default_model import default_model_path
    >>> model = SentenceTransformer(default_model_path(), device="cpu")
    >>> tokenizer = model.tokenizer
    >>> tokenizer.add_tokens(["[QRY]"], special_tokens=True)
    1
    >>> tokenizer("[QRY] what is a cat")["input_ids"][:2]
    [101, 30522]
    >>> model[0].auto_model.resize_token_embeddings(len(tokenizer)).num_embeddings
    30523
"""

from __future__ import annotations

from typing import Any

SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_ID_ATTRIBUTES = {"pad_token": "pad_token_id", "eos_token": "eos_token_id", "cls_token": "cls_token_id",
                  "sep_token": "sep_token_id"}


def token_content(value: Any) -> str | None:
    """The text of a token given as a string, a ``tokenizers.AddedToken`` or transformers' dict form."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("content")
    return getattr(value, "content", None)


class VocabularyEditing:
    """``add_tokens``, ``add_special_tokens`` and the settable ``pad_token`` of :class:`~embedkit.tokenizer.Tokenizer`
    (mixed into it; see the module docstring)."""

    def add_tokens(self, new_tokens: Any, special_tokens: bool = False) -> int:
        """Add tokens not yet in the vocabulary at its end; returns how many were added.

        ``new_tokens`` is a string, a ``tokenizers.AddedToken`` or a list of them. Plain tokens match the normalized
        text (a lowercasing tokenizer also finds them in upper case); with ``special_tokens=True`` they match the raw
        text and ``decode(..., skip_special_tokens=True)`` drops them. Adding a token again replaces its flags (the
        ``tokenizers`` library's rule).
        """
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        for token in new_tokens:
            if token_content(token) is None or not isinstance(token_content(token), str):
                raise TypeError(f"tokens to add must be str or tokenizers.AddedToken, got {token!r}")
        return self._add_to_backends(list(new_tokens), special_tokens)

    def add_special_tokens(self, special_tokens_dict: dict[str, Any], replace_extra_special_tokens: bool = True
                           ) -> int:
        """Set special tokens by role (``pad_token``, ``eos_token``, ...) and/or extra special tokens
        (``extra_special_tokens``, or its former name ``additional_special_tokens``), adding any not yet in the
        vocabulary; returns how many were added. With ``replace_extra_special_tokens=False`` the extra tokens extend
        the current list instead of replacing it (replaced ones stay in the vocabulary)."""
        from tokenizers import AddedToken

        if not special_tokens_dict:
            return 0
        wanted = dict(special_tokens_dict)
        if "additional_special_tokens" in wanted and not wanted.get("extra_special_tokens"):
            wanted["extra_special_tokens"] = wanted.pop("additional_special_tokens")
        allowed = set(SPECIAL_TOKEN_KEYS) | {"extra_special_tokens"}
        to_add: list[Any] = []
        for key, value in wanted.items():
            if key not in allowed:
                raise ValueError(f"Key {key} is not a valid special token. Valid keys are: {allowed}")
            if key == "extra_special_tokens":
                if not isinstance(value, (list, tuple)) or not all(isinstance(token_content(t), str) for t in value):
                    raise ValueError(f"Tokens {value} for key {key} should all be str or AddedToken instances")
                current = self._extra_special_tokens()
                tokens = [t for t in value if replace_extra_special_tokens or token_content(t) not in current]
                names = [token_content(t) for t in tokens]
                self._set_extra_special_tokens(names if replace_extra_special_tokens and names else current + names)
            else:
                if not isinstance(token_content(value), str):
                    raise ValueError(f"Token {value} for key {key} should be a str or an AddedToken instance")
                tokens = [value]
            to_add.extend(AddedToken(t, rstrip=False, lstrip=False, normalized=False, special=True)
                          if isinstance(t, str) else t for t in tokens)
        added = self._add_to_backends(to_add, special=True)
        for key, value in wanted.items():  # after adding: the ids exist now
            if key != "extra_special_tokens":
                self._set_special_token(key, token_content(value))
        self._refresh_special_ids()
        return added

    @property
    def pad_token(self) -> str:
        """The padding token; assigning one (e.g. ``tokenizer.pad_token = tokenizer.eos_token``) also sets
        ``pad_token_id`` and is saved, as in transformers. A token not in the vocabulary must be added first."""
        return self._pad_token

    @pad_token.setter
    def pad_token(self, value: Any) -> None:
        content = token_content(value)
        if self.backend.token_to_id(content) is None:
            raise ValueError(f"{content!r} is not in the vocabulary: add it first (tokenizer.add_special_tokens("
                             f"{{'pad_token': {content!r}}}) adds and sets it)")
        self._set_special_token("pad_token", content)

    @property
    def all_special_tokens(self) -> list[str]:
        """The special tokens' texts: the roles (bos, eos, unk, sep, pad, cls, mask) then the extra ones, each once."""
        names = [self.special_tokens.get(key) for key in SPECIAL_TOKEN_KEYS] + self._extra_special_tokens()
        return list(dict.fromkeys(name for name in names if name is not None))

    def _add_to_backends(self, tokens: list[Any], special: bool) -> int:
        """Add to the backend that encodes and to the one ``save`` writes (which lacks embedkit's own lowercasing
        step), in the same order, so ids agree."""
        from tokenizers import Tokenizer as Backend

        with self._lock:
            saved = Backend.from_str(self._json_to_save)
            added = self.backend.add_special_tokens(tokens) if special else self.backend.add_tokens(tokens)
            saved.add_special_tokens(tokens) if special else saved.add_tokens(tokens)
            self._json_to_save = saved.to_str()
        return added

    def _set_special_token(self, key: str, content: str | None) -> None:
        self.special_tokens[key] = content
        self.config[key] = content
        if self.special_tokens_map:
            self.special_tokens_map[key] = content
        token_id = self.backend.token_to_id(content) if content is not None else None
        if key == "pad_token":
            self._pad_token, self.pad_token_id = content, token_id if token_id is not None else 0
        elif key in _ID_ATTRIBUTES:
            setattr(self, _ID_ATTRIBUTES[key], token_id)

    def _extra_special_tokens(self) -> list[str]:
        extras = self.config.get("additional_special_tokens") or []
        if isinstance(self.config.get("extra_special_tokens"), list):  # transformers 5's name for the same list
            extras = [*extras, *self.config["extra_special_tokens"]]
        return [token_content(t) for t in extras]

    def _set_extra_special_tokens(self, names: list[str]) -> None:
        if isinstance(self.config.get("extra_special_tokens"), list):
            self.config.pop("extra_special_tokens")
        self.config["additional_special_tokens"] = list(names)
        if self.special_tokens_map:
            self.special_tokens_map["additional_special_tokens"] = list(names)

    def _refresh_special_ids(self) -> None:
        """The ids of the role tokens and the extra special tokens (``all_special_ids`` adds the current cls / sep /
        eos ids)."""
        names = [*self.special_tokens.values(), *self._extra_special_tokens()]
        ids = {self.backend.token_to_id(name) for name in names if name is not None}
        ids.discard(None)
        self._file_special_ids = frozenset(ids)
