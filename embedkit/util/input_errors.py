"""The error raised for inputs of a type a model cannot take."""

from __future__ import annotations


class InputTypeError(TypeError, ValueError):
    """An input of a type a model cannot take (``None``, a number, bytes, a triple, ...).

    sentence-transformers raises ``ValueError`` for these; a type error is what the mistake is. This class is both,
    so ``except ValueError`` and ``except TypeError`` both catch it.

    Example:
        >>> issubclass(InputTypeError, ValueError) and issubclass(InputTypeError, TypeError)
        True
    """
