"""CrossEncoderClassificationEvaluator: accuracy / F1 / AP of a binary CrossEncoder, macro/micro/weighted F1 of a
multi-class one.

Same parameters, metric keys, primary metric (``average_precision`` for one label, ``f1_macro`` otherwise) and CSV
file (``CrossEncoderClassificationEvaluator[_{name}]_results.csv``) as sentence-transformers 6.2. Thresholds come
from the searches of :mod:`embedkit.base.evaluation.statistics`; the F1 averages follow ``sklearn.metrics.f1_score``
(labels = the sorted union of gold and predicted labels; an undefined F1 counts as 0).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from embedkit.base.evaluation.evaluator import SentenceEvaluator
from embedkit.base.evaluation.statistics import (
    average_precision,
    find_best_acc_and_threshold,
    find_best_f1_and_threshold,
)
from embedkit.cross_encoder.evaluation.pair_evaluation import (
    finish_pair_evaluation,
    init_pair_evaluator,
    predict_logged,
)

logger = logging.getLogger(__name__)


def f1_averages(labels: np.ndarray, predictions: np.ndarray) -> tuple[float, float, float]:
    """(macro, micro, weighted) F1 of single-label multi-class predictions, as ``sklearn.metrics.f1_score``.

    Example:
        >>> [round(x, 4) for x in f1_averages(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]))]
        [0.6, 0.75, 0.65]
    """
    classes = np.union1d(labels, predictions)
    tp = np.array([np.sum((predictions == c) & (labels == c)) for c in classes], dtype=np.float64)
    predicted = np.array([np.sum(predictions == c) for c in classes], dtype=np.float64)
    support = np.array([np.sum(labels == c) for c in classes], dtype=np.float64)
    denominator = predicted + support  # 2tp + fp + fn
    per_class = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    macro = float(per_class.mean())
    micro_denominator = 2 * tp.sum() + (predicted.sum() - tp.sum()) + (support.sum() - tp.sum())
    micro = float(2 * tp.sum() / micro_denominator) if micro_denominator > 0 else 0.0
    weighted = float(np.average(per_class, weights=support)) if support.sum() > 0 else 0.0
    return macro, micro, weighted


class CrossEncoderClassificationEvaluator(SentenceEvaluator):
    """Classification metrics of ``model.predict`` on labelled pairs.

    With ``model.num_labels == 1`` the scores are thresholded (best-accuracy and best-F1 thresholds, AP over the
    ranking): keys ``accuracy, accuracy_threshold, f1, f1_threshold, precision, recall, average_precision``, primary
    ``average_precision``. Otherwise the predicted class is the argmax: keys ``f1_macro, f1_micro, f1_weighted``,
    primary ``f1_macro``.

    Args:
        sentence_pairs: ``[text_a, text_b]`` pairs.
        labels: gold label of each pair (0/1 for a single-label model, class ids otherwise).
        name: prefix of the metric keys and suffix of the CSV file.
        prompt_name: passed to ``model.predict`` (only for models whose ``predict`` takes prompts).
        batch_size: prediction batch size.
        show_progress_bar: tqdm bar (default: when logging is at INFO or DEBUG).
        write_csv: append a row to the CSV file when called with an ``output_path``.

    Raises:
        ValueError: ``sentence_pairs`` and ``labels`` differ in length.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit import CrossEncoder
        >>> model = CrossEncoder(default_model_path(), num_labels=3, device="cpu")  # a new, untrained 3-label head
        >>> evaluator = CrossEncoderClassificationEvaluator([["a", "b"], ["c", "d"]], [0, 1], name="toy")
        >>> sorted(evaluator(model)), evaluator.primary_metric
        (['toy_f1_macro', 'toy_f1_micro', 'toy_f1_weighted'], 'toy_f1_macro')
    """

    def __init__(
        self,
        sentence_pairs: list[list[str]],
        labels: list[int],
        *,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        write_csv: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        init_pair_evaluator(self, "CrossEncoderClassificationEvaluator", sentence_pairs, labels, "labels", name=name,
                            prompt_name=prompt_name, batch_size=batch_size, show_progress_bar=show_progress_bar,
                            write_csv=write_csv, log=logger)
        self.labels = np.asarray(labels)

    @classmethod
    def from_input_examples(cls, examples: list[Any], **kwargs: Any) -> CrossEncoderClassificationEvaluator:
        """Build from ``InputExample`` objects (``texts`` is the pair, ``label`` the label)."""
        return cls([e.texts for e in examples], [e.label for e in examples], **kwargs)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        predicted = predict_logged(self, "CrossEncoderClassificationEvaluator", model, epoch, steps, logger)
        metrics: dict[str, Any]
        if model.num_labels == 1:
            acc, acc_threshold = find_best_acc_and_threshold(predicted, self.labels, True)
            f1, precision, recall, f1_threshold = find_best_f1_and_threshold(predicted, self.labels, True)
            ap = average_precision(self.labels, predicted)
            logger.info("Accuracy:          %.2f\t(Threshold: %.4f)", acc * 100, acc_threshold)
            logger.info("F1:                %.2f\t(Threshold: %.4f)", f1 * 100, f1_threshold)
            logger.info("Precision:         %.2f", precision * 100)
            logger.info("Recall:            %.2f", recall * 100)
            logger.info("Average Precision: %.2f", ap * 100)
            metrics = {"accuracy": acc, "accuracy_threshold": acc_threshold, "f1": f1, "f1_threshold": f1_threshold,
                       "precision": precision, "recall": recall, "average_precision": ap}
            self.csv_headers = ["epoch", "steps", "Accuracy", "Accuracy_Threshold", "F1", "F1_Threshold",
                                "Precision", "Recall", "Average_Precision"]
            self.primary_metric = "average_precision"
        else:
            if predicted.ndim != 2:
                raise ValueError(f"a {model.num_labels}-label model must predict (N, num_labels) scores, got shape "
                                 f"{predicted.shape}")
            f1_macro, f1_micro, f1_weighted = f1_averages(self.labels, np.argmax(predicted, axis=1))
            logger.info("Macro F1:           %.2f", f1_macro * 100)
            logger.info("Micro F1:           %.2f", f1_micro * 100)
            logger.info("Weighted F1:        %.2f", f1_weighted * 100)
            metrics = {"f1_macro": f1_macro, "f1_micro": f1_micro, "f1_weighted": f1_weighted}
            self.csv_headers = ["epoch", "steps", "Macro_F1", "Micro_F1", "Weighted_F1"]
            self.primary_metric = "f1_macro"
        return finish_pair_evaluation(self, model, metrics, output_path, epoch, steps)
