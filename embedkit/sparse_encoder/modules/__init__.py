"""SparseEncoder pipeline modules (sentence-transformers 6.x ``sparse_encoder.modules``; 5.x ``sparse_encoder.models``).

The SPLADE modules live here; the shared Transformer, Dense and Router are re-exported, as sentence-transformers does.
"""

from __future__ import annotations

from embedkit.base.modules import Asym, Dense, InputModule, Module, Router, Transformer
from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer
from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder
from embedkit.sparse_encoder.modules.sparse_static_embedding import SparseStaticEmbedding
from embedkit.sparse_encoder.modules.splade_pooling import SpladePooling

__all__ = ["Asym", "Dense", "InputModule", "MLMTransformer", "Module", "Router", "SparseAutoEncoder",
           "SparseStaticEmbedding", "SpladePooling", "Transformer"]
