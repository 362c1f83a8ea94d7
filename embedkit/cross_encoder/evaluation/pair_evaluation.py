"""Steps shared by the CrossEncoder evaluators of a fixed list of labelled pairs (classification, correlation).

Both check that every pair has a gold value, keep the same settings, log and predict the same way, and finish the
same way: a CSV row ``[epoch, steps, *metric values]``, keys prefixed with the evaluator's name, a model-card record.
"""

from __future__ import annotations

import logging
from collections.abc import Sized
from typing import Any

import numpy as np

from embedkit.base.evaluation.evaluator import append_csv_row, epoch_text
from embedkit.cross_encoder.evaluation._predict import predict_pairs


def init_pair_evaluator(evaluator: Any, evaluator_name: str, sentence_pairs: list[list[str]],
                        gold: Sized, gold_name: str, *, name: str, prompt_name: str | None, batch_size: int,
                        show_progress_bar: bool | None, write_csv: bool, log: logging.Logger) -> None:
    """Check the lengths and set ``sentence_pairs, name, prompt_name, batch_size, show_progress_bar, write_csv``
    and ``csv_file`` (``{evaluator_name}[_{name}]_results.csv``) on ``evaluator``.

    ``show_progress_bar=None`` becomes True when ``log`` is at INFO or DEBUG.

    Raises:
        ValueError: ``sentence_pairs`` and ``gold`` (called ``gold_name`` in the message) differ in length.
    """
    if len(sentence_pairs) != len(gold):
        raise ValueError(f"sentence_pairs and {gold_name} must have the same length, got {len(sentence_pairs)} "
                         f"and {len(gold)}")
    evaluator.sentence_pairs = sentence_pairs
    evaluator.name = name
    evaluator.prompt_name = prompt_name
    evaluator.batch_size = batch_size
    if show_progress_bar is None:
        show_progress_bar = log.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
    evaluator.show_progress_bar = show_progress_bar
    evaluator.write_csv = write_csv
    evaluator.csv_file = evaluator_name + (f"_{name}" if name else "") + "_results.csv"


def predict_logged(evaluator: Any, evaluator_name: str, model: Any, epoch: int, steps: int,
                   log: logging.Logger) -> np.ndarray:
    """Log the start of an evaluation (as sentence-transformers does) and score ``evaluator.sentence_pairs``."""
    log.info("%s: Evaluating the model on %s dataset%s:", evaluator_name, evaluator.name, epoch_text(epoch, steps))
    return predict_pairs(model, evaluator.sentence_pairs, evaluator.prompt_name, evaluator.batch_size,
                         evaluator.show_progress_bar)


def finish_pair_evaluation(evaluator: Any, model: Any, metrics: dict[str, Any], output_path: str | None,
                           epoch: int, steps: int) -> dict[str, float]:
    """Append ``[epoch, steps, *metrics.values()]`` to the evaluator's CSV file (when ``output_path`` is given and
    ``write_csv`` is set), prefix the keys with ``evaluator.name``, record them on the model and return them."""
    if output_path is not None and evaluator.write_csv:
        append_csv_row(output_path, evaluator.csv_file, evaluator.csv_headers, [epoch, steps, *metrics.values()])
    metrics = evaluator.prefix_name_to_metrics(metrics, evaluator.name)
    evaluator.store_metrics_in_model_card_data(model, metrics, epoch, steps)
    return metrics
