"""What a model's ``encode`` does to its inputs before tokenizing: the ``inputs`` / ``sentences`` alias, the length
that sorts a batch, and the text of a ``{"text": ...}`` input."""

from __future__ import annotations

from typing import Any

from embedkit.base.modality import is_message_dict
from embedkit.util import decorators
from embedkit.util.input_errors import InputTypeError
from embedkit.util.logging import warning_once


def resolve_inputs_alias(inputs: Any, sentences: Any, method: str) -> Any:
    """The inputs given as ``inputs`` (sentence-transformers 6.x) or ``sentences`` (5.x); both must not differ.

    Example:
        >>> resolve_inputs_alias(None, ["a"], "encode")
        ['a']
    """
    if sentences is None:
        if inputs is None:
            raise InputTypeError(f"{method}() got no inputs (inputs=None): pass a string or a list of inputs")
        return inputs
    # as sentence-transformers 6.x: one warning per process; with both names, the new one wins
    warning_once(decorators.logger, decorators.renamed_message("sentences", "inputs"))
    return inputs if inputs is not None else sentences


def _input_length(item: Any) -> int:
    """Characters of an input's text (of a pair's texts, of a conversation's string contents): the sort key."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict):
        return _input_length(item.get("content"))
    if isinstance(item, (tuple, list)):
        return sum(_input_length(x) for x in item)
    return 0



def _text_of(item: Any) -> Any:
    """The text of one input: a ``{"text": ...}`` dict (sentence-transformers' multimodal form) is its text; other
    dicts are refused, since these models read text only; anything else is returned as is."""
    if isinstance(item, dict) and not is_message_dict(item):
        if set(item) != {"text"}:
            raise ValueError(f"this model reads text only: an input dict must be {{'text': ...}}, got keys "
                             f"{sorted(item)}")
        return item["text"]
    return item
