"""SentenceTransformer pipeline modules (sentence-transformers 6.x ``sentence_transformer.modules``; 5.x ``models``).

Transformer, Dense, Normalize and Router are shared by every model type and live in :mod:`embedkit.base.modules`;
they are re-exported here, as sentence-transformers does.
"""

from __future__ import annotations

from embedkit.base.modules import Dense, InputModule, Module, Normalize, Router, Transformer
from embedkit.sentence_transformer.modules.pooling import Pooling
from embedkit.sentence_transformer.modules.static_embedding import StaticEmbedding

Asym = Router

__all__ = ["Asym", "Dense", "InputModule", "Module", "Normalize", "Pooling", "Router", "StaticEmbedding", "Transformer"]
