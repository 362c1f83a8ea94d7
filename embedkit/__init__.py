"""embedkit: sentence-transformers in plain PyTorch (encoders, models, losses, training).

Public names are loaded on first use, so ``import embedkit`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from embedkit.util import deprecated_import as _deprecated_import

__version__ = "0.1.0"

_EXPORTS = {
    "SentenceTransformer": "embedkit.sentence_transformer.model",
    "SparseEncoder": "embedkit.sparse_encoder",
    "CrossEncoder": "embedkit.cross_encoder",
    "SimilarityFunction": "embedkit.util",
    "quantize_embeddings": "embedkit.util",
    "mine_hard_negatives": "embedkit.util",
    "SentenceTransformerTrainer": "embedkit.base.trainer",
    "CrossEncoderTrainer": "embedkit.base.trainer",
    "SparseEncoderTrainer": "embedkit.base.trainer",
    "SentenceTransformerTrainingArguments": "embedkit.base.training_args",
    "CrossEncoderTrainingArguments": "embedkit.base.training_args",
    "SparseEncoderTrainingArguments": "embedkit.base.training_args",
    "BatchSamplers": "embedkit.base.training_args",
    "MultiDatasetBatchSamplers": "embedkit.base.training_args",
    "InputExample": "embedkit.data",
    "Dataset": "embedkit.data",
}

__all__ = ["__version__", *_EXPORTS]

# sentence-transformers 5.x module paths (embedkit.losses, embedkit.models.Pooling, ...) resolve to their 6.x modules.
_deprecated_import.install()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'embedkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
