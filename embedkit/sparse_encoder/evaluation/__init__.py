"""Evaluators for SparseEncoder models (sentence-transformers' ``sparse_encoder.evaluation``).

Each sparse evaluator subclasses the dense one from :mod:`embedkit.sentence_transformer.evaluation` (same metrics, CSV
file and ``primary_metric``) with sparse embeddings, ``max_active_dims`` instead of ``truncate_dim``, the model's
``dot`` similarity by default, and sentence-transformers' sparsity statistics (``active_dims``, ``sparsity_ratio``,
with ``query_``/``corpus_``/``anchor_``... variants, ``avg_flops`` for retrieval).
:class:`ReciprocalRankFusionEvaluator` scores precomputed dense and sparse rankings and their reciprocal rank fusion.
"""

from __future__ import annotations

from embedkit.sparse_encoder.evaluation.reciprocal_rank_fusion import ReciprocalRankFusionEvaluator
from embedkit.sparse_encoder.evaluation.sparse_binary_classification import SparseBinaryClassificationEvaluator
from embedkit.sparse_encoder.evaluation.sparse_embedding_similarity import SparseEmbeddingSimilarityEvaluator
from embedkit.sparse_encoder.evaluation.sparse_information_retrieval import SparseInformationRetrievalEvaluator
from embedkit.sparse_encoder.evaluation.sparse_mse import SparseMSEEvaluator
from embedkit.sparse_encoder.evaluation.sparse_nano_beir import SparseNanoBEIREvaluator
from embedkit.sparse_encoder.evaluation.sparse_reranking import SparseRerankingEvaluator
from embedkit.sparse_encoder.evaluation.sparse_translation import SparseTranslationEvaluator
from embedkit.sparse_encoder.evaluation.sparse_triplet import SparseTripletEvaluator

__all__ = [
    "ReciprocalRankFusionEvaluator",
    "SparseBinaryClassificationEvaluator",
    "SparseEmbeddingSimilarityEvaluator",
    "SparseInformationRetrievalEvaluator",
    "SparseMSEEvaluator",
    "SparseNanoBEIREvaluator",
    "SparseRerankingEvaluator",
    "SparseTranslationEvaluator",
    "SparseTripletEvaluator",
]
