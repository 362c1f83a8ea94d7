"""The error raised for inputs of a type a model cannot take, and the test for text that is not Unicode."""

from __future__ import annotations


class InputTypeError(TypeError, ValueError):
    """An input of a type a model cannot take (``None``, a number, bytes, a triple, ...).

    sentence-transformers raises ``ValueError`` for these; a type error is what the mistake is. This class is both,
    so ``except ValueError`` and ``except TypeError`` both catch it.

    Example:
        >>> issubclass(InputTypeError, ValueError) and issubclass(InputTypeError, TypeError)
        True
    """


def lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in ``text`` (what a JSON ``"\\ud800"`` escape or undecodable command-line
    bytes give: not a Unicode character, no UTF-8 output can hold it), or None.

    Example:
        >>> lone_surrogate("a\\ud800b"), lone_surrogate("emoji \\U0001f600")
        ('\\ud800', None)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None
