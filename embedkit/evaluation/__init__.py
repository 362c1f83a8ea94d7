"""Evaluators for SentenceTransformer models (sentence-transformers' ``evaluation`` package, without SciPy/sklearn).

Every evaluator is called as ``evaluator(model, output_path=None, epoch=-1, steps=-1) -> dict[str, float]`` and
names its main metric in ``primary_metric``; metric keys, defaults and CSV files follow sentence-transformers 6.2.
Statistics (Pearson, Spearman, AP, MCC, nDCG, threshold searches) live in :mod:`embedkit.evaluation.statistics`;
file readers for BEIR / STS / pair-classification data in :mod:`embedkit.datasets_io`.
"""

from __future__ import annotations

from ..util import SimilarityFunction
from .base import BaseEvaluator, SentenceEvaluator
from .binary_classification import BinaryClassificationEvaluator
from .embedding_similarity import EmbeddingSimilarityEvaluator
from .information_retrieval import InformationRetrievalEvaluator
from .label_accuracy import LabelAccuracyEvaluator
from .mse import MSEEvaluator
from .nano_beir import NanoBEIREvaluator
from .paraphrase_mining import ParaphraseMiningEvaluator
from .reranking import RerankingEvaluator
from .sequential import SequentialEvaluator
from .translation import TranslationEvaluator
from .triplet import TripletEvaluator

__all__ = [
    "BaseEvaluator",
    "SentenceEvaluator",
    "SimilarityFunction",
    "BinaryClassificationEvaluator",
    "EmbeddingSimilarityEvaluator",
    "InformationRetrievalEvaluator",
    "LabelAccuracyEvaluator",
    "MSEEvaluator",
    "NanoBEIREvaluator",
    "ParaphraseMiningEvaluator",
    "RerankingEvaluator",
    "SequentialEvaluator",
    "TranslationEvaluator",
    "TripletEvaluator",
]
