"""embedkit: sentence-transformers in plain PyTorch (encoders, models, losses, training).

Public names are loaded on first use, so ``import embedkit`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SentenceTransformer": "embedkit.sentence_transformer",
    "SparseEncoder": "embedkit.sparse_encoder",
    "CrossEncoder": "embedkit.cross_encoder",
    "SimilarityFunction": "embedkit.util",
    "quantize_embeddings": "embedkit.util",
    "mine_hard_negatives": "embedkit.util",
    "SentenceTransformerTrainer": "embedkit.trainer",
    "CrossEncoderTrainer": "embedkit.trainer",
    "SparseEncoderTrainer": "embedkit.trainer",
    "SentenceTransformerTrainingArguments": "embedkit.training_args",
    "CrossEncoderTrainingArguments": "embedkit.training_args",
    "SparseEncoderTrainingArguments": "embedkit.training_args",
    "BatchSamplers": "embedkit.training_args",
    "MultiDatasetBatchSamplers": "embedkit.training_args",
    "InputExample": "embedkit.data",
    "Dataset": "embedkit.data",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'embedkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
