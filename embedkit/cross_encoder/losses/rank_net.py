"""``RankNetLoss``: pairwise RankNet loss over ranked lists.

sentence-transformers keeps this loss in ``cross_encoder/losses/rank_net.py``; embedkit implements it in
:mod:`embedkit.cross_encoder.losses.lambda_loss` and re-exports it here under that module path.
"""

from __future__ import annotations

from embedkit.cross_encoder.losses.lambda_loss import RankNetLoss

__all__ = ["RankNetLoss"]
