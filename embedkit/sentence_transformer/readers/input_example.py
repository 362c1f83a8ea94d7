"""InputExample: one legacy training example (``texts`` and a ``label``); the same class as
:class:`embedkit.data.InputExample`."""

from __future__ import annotations

from embedkit.data import InputExample

__all__ = ["InputExample"]
