"""Evaluators for SentenceTransformer models (sentence-transformers' ``evaluation`` package, without SciPy/sklearn).

Every evaluator is called as ``evaluator(model, output_path=None, epoch=-1, steps=-1) -> dict[str, float]`` and
names its main metric in ``primary_metric``; metric keys, defaults and CSV files follow sentence-transformers 6.2.
Statistics (Pearson, Spearman, AP, MCC, nDCG, threshold searches) live in :mod:`embedkit.base.evaluation.statistics`;
file readers for BEIR / STS / pair-classification data in :mod:`embedkit.datasets_io`.
"""

from __future__ import annotations

from embedkit.base.evaluation.evaluator import BaseEvaluator, SentenceEvaluator
from embedkit.base.evaluation.sequential import SequentialEvaluator
from embedkit.sentence_transformer.evaluation.binary_classification import BinaryClassificationEvaluator
from embedkit.sentence_transformer.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from embedkit.sentence_transformer.evaluation.information_retrieval import InformationRetrievalEvaluator
from embedkit.sentence_transformer.evaluation.label_accuracy import LabelAccuracyEvaluator
from embedkit.sentence_transformer.evaluation.mse import MSEEvaluator
from embedkit.sentence_transformer.evaluation.mse_from_dataframe import MSEEvaluatorFromDataFrame
from embedkit.sentence_transformer.evaluation.nano_beir import NanoBEIREvaluator
from embedkit.sentence_transformer.evaluation.paraphrase_mining import ParaphraseMiningEvaluator
from embedkit.sentence_transformer.evaluation.reranking import RerankingEvaluator
from embedkit.sentence_transformer.evaluation.translation import TranslationEvaluator
from embedkit.sentence_transformer.evaluation.triplet import TripletEvaluator
from embedkit.util import SimilarityFunction

__all__ = [
    "BaseEvaluator",
    "SentenceEvaluator",
    "SimilarityFunction",
    "BinaryClassificationEvaluator",
    "EmbeddingSimilarityEvaluator",
    "InformationRetrievalEvaluator",
    "LabelAccuracyEvaluator",
    "MSEEvaluator",
    "MSEEvaluatorFromDataFrame",
    "NanoBEIREvaluator",
    "ParaphraseMiningEvaluator",
    "RerankingEvaluator",
    "SequentialEvaluator",
    "TranslationEvaluator",
    "TripletEvaluator",
]
