"""Deprecated CrossEncoder evaluator names of sentence-transformers < 4, kept as thin subclasses (as ST 6.2 does).

Each warns once per construction (``DeprecationWarning``) and otherwise behaves like its replacement.
"""

from __future__ import annotations

import warnings
from typing import Any

from embedkit.cross_encoder.evaluation.classification import CrossEncoderClassificationEvaluator
from embedkit.cross_encoder.evaluation.correlation import CrossEncoderCorrelationEvaluator
from embedkit.cross_encoder.evaluation.reranking import CrossEncoderRerankingEvaluator

_CLASSIFICATION_MESSAGE = (
    "This evaluator has been deprecated in favor of the more general CrossEncoderClassificationEvaluator. "
    "Please use CrossEncoderClassificationEvaluator instead, which supports both binary and multi-class "
    "evaluation. It accepts approximately the same inputs as this evaluator."
)


class _DeprecatedClassification(CrossEncoderClassificationEvaluator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(_CLASSIFICATION_MESSAGE, DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class CEBinaryAccuracyEvaluator(_DeprecatedClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


class CEBinaryClassificationEvaluator(_DeprecatedClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


class CEF1Evaluator(_DeprecatedClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


class CESoftmaxAccuracyEvaluator(_DeprecatedClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


class CECorrelationEvaluator(CrossEncoderCorrelationEvaluator):
    """Deprecated: renamed to :class:`CrossEncoderCorrelationEvaluator`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn("The CECorrelationEvaluator has been renamed to CrossEncoderCorrelationEvaluator. "
                      "Please use CrossEncoderCorrelationEvaluator instead.", DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class CERerankingEvaluator(CrossEncoderRerankingEvaluator):
    """Deprecated: renamed to :class:`CrossEncoderRerankingEvaluator`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn("The CERerankingEvaluator has been renamed to CrossEncoderRerankingEvaluator. "
                      "Please use CrossEncoderRerankingEvaluator instead.", DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
