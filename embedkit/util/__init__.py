"""Embedding utilities: similarity functions, search, quantization and hard-negative mining.

A drop-in equivalent of the public similarity, retrieval and quantization
helpers of ``sentence_transformers.util``, written in plain torch and NumPy.
"""

from __future__ import annotations

from .hard_negatives import mine_hard_negatives
from .quantization import quantize_embeddings
from .retrieval import community_detection, paraphrase_mining, paraphrase_mining_embeddings, semantic_search
from .similarity import (
    SimilarityFunction,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    normalize_embeddings,
    pairwise_angle_sim,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    pytorch_cos_sim,
    truncate_embeddings,
)

__all__ = [
    "SimilarityFunction",
    "community_detection",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "mine_hard_negatives",
    "normalize_embeddings",
    "pairwise_angle_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "pytorch_cos_sim",
    "quantize_embeddings",
    "semantic_search",
    "truncate_embeddings",
]
