"""``ListMLELoss``: ListMLE (Plackett-Luce likelihood) over ranked lists.

sentence-transformers keeps this loss in ``cross_encoder/losses/list_mle.py``; embedkit implements it in
:mod:`embedkit.cross_encoder.losses.plist_mle` and re-exports it here under that module path.
"""

from __future__ import annotations

from embedkit.cross_encoder.losses.plist_mle import ListMLELoss

__all__ = ["ListMLELoss"]
