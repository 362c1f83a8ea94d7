"""Evaluators for CrossEncoder models (sentence-transformers' ``cross_encoder.evaluation``, without SciPy/sklearn).

Each is called as ``evaluator(model, output_path=None, epoch=-1, steps=-1) -> dict[str, float]`` and names its main
metric in ``primary_metric``; metric keys, defaults and CSV files follow sentence-transformers 6.2.
:class:`CrossEncoderNanoBEIREvaluator` reads local BEIR folders and first-stage rankings (nothing is downloaded).
"""

from __future__ import annotations

from embedkit.cross_encoder.evaluation.classification import CrossEncoderClassificationEvaluator
from embedkit.cross_encoder.evaluation.correlation import CrossEncoderCorrelationEvaluator
from embedkit.cross_encoder.evaluation.deprecated import (
    CEBinaryAccuracyEvaluator,
    CEBinaryClassificationEvaluator,
    CECorrelationEvaluator,
    CEF1Evaluator,
    CERerankingEvaluator,
    CESoftmaxAccuracyEvaluator,
)
from embedkit.cross_encoder.evaluation.nano_beir import CrossEncoderNanoBEIREvaluator
from embedkit.cross_encoder.evaluation.reranking import CrossEncoderRerankingEvaluator

__all__ = [
    "CrossEncoderClassificationEvaluator",
    "CrossEncoderCorrelationEvaluator",
    "CrossEncoderRerankingEvaluator",
    "CrossEncoderNanoBEIREvaluator",
    # Deprecated:
    "CERerankingEvaluator",
    "CECorrelationEvaluator",
    "CEBinaryAccuracyEvaluator",
    "CEBinaryClassificationEvaluator",
    "CEF1Evaluator",
    "CESoftmaxAccuracyEvaluator",
]
