"""``CrossEntropyLoss``: cross-entropy over num_labels classes per pair.

sentence-transformers keeps this loss in ``cross_encoder/losses/cross_entropy.py``; embedkit implements it in
:mod:`embedkit.cross_encoder.losses.pointwise` and re-exports it here under that module path.
"""

from __future__ import annotations

from embedkit.cross_encoder.losses.pointwise import CrossEntropyLoss

__all__ = ["CrossEntropyLoss"]
