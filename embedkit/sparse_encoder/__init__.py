"""Sparse (SPLADE-style) encoders: SparseEncoder and its pipeline modules.

The modules are imported eagerly (``embedkit.models`` registers them in ``MODULE_TYPES``); ``SparseEncoder`` is
loaded on first use, because it builds on the model-folder machinery that imports ``embedkit.models``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .. import models as _models  # noqa: F401  (initialise the module registry before the modules below)
from .mlm_transformer import MLMTransformer
from .sparse_static_embedding import SparseStaticEmbedding
from .splade_pooling import SpladePooling

__all__ = ["MLMTransformer", "SparseEncoder", "SparseStaticEmbedding", "SpladePooling"]


def __getattr__(name: str) -> Any:
    if name == "SparseEncoder":
        value = importlib.import_module(".model", __name__).SparseEncoder
        globals()[name] = value
        return value
    raise AttributeError(f"module 'embedkit.sparse_encoder' has no attribute {name!r}")
