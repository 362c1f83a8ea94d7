"""SequentialEvaluator: run several evaluators, merge their metric dicts, add ``sequential_score``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from embedkit.base.evaluation.evaluator import SentenceEvaluator


def _last(scores: list[float]) -> float:
    return scores[-1]


class SequentialEvaluator(SentenceEvaluator):
    """Call each evaluator in turn; ``sequential_score = main_score_function(primary scores)`` is primary.

    Args:
        evaluators: the evaluators, run in order with the same arguments.
        main_score_function: list of each evaluator's primary score -> one score (default: the last one).

    Example:
        >>> from embedkit.sentence_transformer.evaluation import SentenceEvaluator
        >>> class Const(SentenceEvaluator):
        ...     def __init__(self, key, value):
        ...         super().__init__(); self.primary_metric, self.value = key, value
        ...     def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        ...         return {self.primary_metric: self.value}
        >>> SequentialEvaluator([Const("a", 1.0), Const("b", 2.0)], main_score_function=max)(None)
        {'a': 1.0, 'b': 2.0, 'sequential_score': 2.0}
    """

    def __init__(self, evaluators: Iterable[SentenceEvaluator],
                 main_score_function: Callable[[list[float]], float] = _last) -> None:
        super().__init__()
        self.evaluators = list(evaluators)
        self.main_score_function = main_score_function

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        results: dict[str, float] = {}
        scores: list[float] = []
        for index, evaluator in enumerate(self.evaluators):
            evaluation = evaluator(model, output_path, epoch, steps)
            if not isinstance(evaluation, dict):  # an old-style evaluator returning one float
                scores.append(evaluation)
                evaluation = {f"evaluator_{index}": evaluation}
            elif getattr(evaluator, "primary_metric", None) is not None:
                scores.append(evaluation[evaluator.primary_metric])
            else:
                scores.append(evaluation[next(iter(evaluation))])
            results.update(evaluation)
        self.primary_metric = "sequential_score"
        results["sequential_score"] = self.main_score_function(scores) if scores else 0.0
        return results
