"""``BinaryCrossEntropyLoss``: binary cross-entropy on one logit per pair.

sentence-transformers keeps this loss in ``cross_encoder/losses/binary_cross_entropy.py``; embedkit implements it in
:mod:`embedkit.cross_encoder.losses.pointwise` and re-exports it here under that module path.
"""

from __future__ import annotations

from embedkit.cross_encoder.losses.pointwise import BinaryCrossEntropyLoss

__all__ = ["BinaryCrossEntropyLoss"]
