"""Evaluator bases shared by every model type, and the evaluator that runs several in turn."""

from __future__ import annotations

from embedkit.base.evaluation.evaluator import BaseEvaluator, SentenceEvaluator
from embedkit.base.evaluation.sequential import SequentialEvaluator

__all__ = ["BaseEvaluator", "SentenceEvaluator", "SequentialEvaluator"]
