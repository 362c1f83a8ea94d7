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
    "SentenceTransformerModelCardData": "embedkit.sentence_transformer.model_card",
    "SentenceTransformerTrainer": "embedkit.sentence_transformer.trainer",
    "SentenceTransformerTrainingArguments": "embedkit.sentence_transformer.training_args",
    "CrossEncoder": "embedkit.cross_encoder.model",
    "CrossEncoderModelCardData": "embedkit.cross_encoder.model_card",
    "CrossEncoderTrainer": "embedkit.cross_encoder.trainer",
    "CrossEncoderTrainingArguments": "embedkit.cross_encoder.training_args",
    "SparseEncoder": "embedkit.sparse_encoder.model",
    "SparseEncoderModelCardData": "embedkit.sparse_encoder.model_card",
    "SparseEncoderTrainer": "embedkit.sparse_encoder.trainer",
    "SparseEncoderTrainingArguments": "embedkit.sparse_encoder.training_args",
    "InputExample": "embedkit.sentence_transformer.readers",
    "SentencesDataset": "embedkit.sentence_transformer.datasets",
    "ParallelSentencesDataset": "embedkit.sentence_transformer.datasets",
    "LoggingHandler": "embedkit.util.logging",
    "SimilarityFunction": "embedkit.util.similarity",
    "quantize_embeddings": "embedkit.util.quantization",
    "mine_hard_negatives": "embedkit.util.hard_negatives",
    "resolve_ids": "embedkit.util.dataset",
    "DefaultBatchSampler": "embedkit.base.sampler",
    "MultiDatasetDefaultBatchSampler": "embedkit.base.sampler",
    # embedkit's own additions (not in sentence-transformers' top level)
    "BatchSamplers": "embedkit.base.training_args",
    "MultiDatasetBatchSamplers": "embedkit.base.training_args",
    "Dataset": "embedkit.data",
}

__all__ = ["__version__", *_EXPORTS]

# sentence-transformers 5.x module paths (embedkit.losses, embedkit.models.Pooling, ...) resolve to their 6.x modules.
_deprecated_import.install()


# Subpackages reachable as attributes after a bare ``import embedkit``, as sentence-transformers' are.
_SUBPACKAGES = ("base", "cross_encoder", "sentence_transformer", "sparse_encoder", "util")


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"embedkit.{name}")
    raise AttributeError(f"module 'embedkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
