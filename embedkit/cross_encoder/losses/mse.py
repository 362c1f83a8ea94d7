"""``MSELoss``: mean squared error between a pair's score and its target.

sentence-transformers keeps this loss in ``cross_encoder/losses/mse.py``; embedkit implements it in
:mod:`embedkit.cross_encoder.losses.pointwise` and re-exports it here under that module path.
"""

from __future__ import annotations

from embedkit.cross_encoder.losses.pointwise import MSELoss

__all__ = ["MSELoss"]
