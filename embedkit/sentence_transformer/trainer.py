"""SentenceTransformerTrainer: the shared training loop (:mod:`embedkit.base.trainer`) for SentenceTransformer
models.
"""

from __future__ import annotations

from embedkit.base.trainer import SentenceTransformerTrainer

__all__ = ["SentenceTransformerTrainer"]
