"""The evaluator base class: ``evaluator(model) -> {metric: value}``.

Mirrors ``sentence_transformers.base.evaluation.BaseEvaluator`` (alias ``SentenceEvaluator``): an evaluator is
called with a model (plus ``output_path``, ``epoch``, ``steps`` during training), returns a flat dict of floats,
and names its main metric in ``primary_metric``. The trainer prefixes every key with ``eval_``.
"""

from __future__ import annotations

import csv
import os
import re
from typing import Any


class SentenceEvaluator:
    """Base class for evaluators.

    Subclasses implement ``__call__`` and set ``primary_metric`` (the key used for model selection);
    ``greater_is_better`` says which direction is better.

    Example:
        >>> class LengthEvaluator(SentenceEvaluator):
        ...     def __init__(self, name: str = "") -> None:
        ...         super().__init__()
        ...         self.name, self.primary_metric = name, "dim"
        ...     def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        ...         return self.prefix_name_to_metrics({"dim": 384}, self.name)
        >>> evaluator = LengthEvaluator("toy")
        >>> evaluator(None), evaluator.primary_metric
        ({'toy_dim': 384.0}, 'toy_dim')
    """

    def __init__(self) -> None:
        self.greater_is_better = True
        self.primary_metric: str | None = None

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        """Evaluate ``model``.

        Args:
            model: the model to evaluate.
            output_path: folder for CSV (and prediction) files; None writes nothing.
            epoch: training epoch (-1: not in training), written to the CSV.
            steps: step in the epoch (-1: end of the epoch), written to the CSV.

        Returns:
            ``{metric_name: value}``; ``self.primary_metric`` names the main one.
        """
        raise NotImplementedError

    def embed_inputs(self, model: Any, sentences: str | list[str] | Any, **kwargs: Any) -> Any:
        """Embed ``sentences`` with ``model.encode(sentences, **kwargs)``; evaluators override it to add their
        batch size, prompts or truncation."""
        return model.encode(sentences, **kwargs)

    def prefix_name_to_metrics(self, metrics: dict[str, Any], name: str) -> dict[str, Any]:
        """``{key: v}`` -> ``{f"{name}_{key}": float(v)}`` (keys unchanged if ``name`` is empty); also prefixes
        ``primary_metric`` once."""

        def to_float(value: Any) -> Any:
            try:
                return float(value)
            except (TypeError, ValueError):
                return value

        if not name:
            return {key: to_float(value) for key, value in metrics.items()}
        metrics = {f"{name}_{key}": to_float(value) for key, value in metrics.items()}
        if self.primary_metric is not None and not self.primary_metric.startswith(name + "_"):
            self.primary_metric = f"{name}_{self.primary_metric}"
        return metrics

    def store_metrics_in_model_card_data(self, model: Any, metrics: dict[str, Any], epoch: int = 0,
                                         step: int = 0) -> None:
        """Record the metrics on the model (``model.evaluation_metrics``, a list of dicts) when it accepts
        attributes, and in its model card data (the README's evaluation section) when it has one."""
        if model is None:
            return
        card = getattr(model, "model_card_data", None)
        if callable(getattr(card, "set_evaluation_metrics", None)):
            card.set_evaluation_metrics(self, metrics, epoch, step)
        try:
            records = model.__dict__.setdefault("evaluation_metrics", [])
        except AttributeError:
            return
        records.append({"evaluator": type(self).__name__, "epoch": epoch, "step": step, "metrics": dict(metrics)})

    @property
    def description(self) -> str:
        """Human-readable name: ``BinaryClassificationEvaluator`` -> ``Binary Classification``."""
        name = type(self).__name__
        if name.startswith("CE"):
            name = "CrossEncoder" + name[2:]
        name = name.split("Evaluator")[0] if "Evaluator" in name else name
        return re.sub(r"([a-z])([A-Z])", r"\g<1> \g<2>", name)

    def get_config_dict(self) -> dict[str, Any]:
        """Non-default settings worth reporting (e.g. ``truncate_dim``)."""
        return {}


BaseEvaluator = SentenceEvaluator


def epoch_text(epoch: int, steps: int, truncate_dim: int | None = None) -> str:
    """The log suffix ST prints: `` after epoch 1``, `` in epoch 1 after 50 steps``, `` (truncated to 64)``."""
    text = ""
    if epoch != -1:
        text = f" after epoch {epoch}" if steps == -1 else f" in epoch {epoch} after {steps} steps"
    if truncate_dim is not None:
        text += f" (truncated to {truncate_dim})"
    return text


def append_csv_row(output_path: str, file_name: str, headers: list[str], row: list[Any]) -> None:
    """Append ``row`` to ``output_path/file_name``; write ``headers`` first if the file is new (csv module)."""
    os.makedirs(output_path, exist_ok=True)
    path = os.path.join(output_path, file_name)
    exists = os.path.isfile(path)
    with open(path, newline="", mode="a" if exists else "w", encoding="utf-8") as f:
        writer = csv.writer(f)
        if not exists:
            writer.writerow(headers)
        writer.writerow(row)


def resolve_similarity_names(names: list[str] | None, main: Any) -> list[str]:
    """ST's rule: explicit names, else ``[main]`` if a main similarity was given, else [] (model's, at call)."""
    from embedkit.util import SimilarityFunction

    resolved = [SimilarityFunction(n).value for n in names] if names else []
    if not resolved and main is not None:
        resolved = [SimilarityFunction(main).value]
    return resolved
