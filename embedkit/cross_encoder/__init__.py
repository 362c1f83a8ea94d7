"""CrossEncoder: joint scoring of text pairs with a sequence-classification encoder."""

from __future__ import annotations

from .model import CrossEncoder

__all__ = ["CrossEncoder"]
