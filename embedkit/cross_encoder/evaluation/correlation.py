"""CrossEncoderCorrelationEvaluator: Pearson/Spearman between gold pair scores and CrossEncoder scores.

Same parameters, metric keys (``pearson``, ``spearman``; primary ``spearman``) and CSV file
(``CrossEncoderCorrelationEvaluator[_{name}]_results.csv``) as sentence-transformers 6.2; the statistics come from
:mod:`embedkit.base.evaluation.statistics` (SciPy's definitions, without SciPy).
"""

from __future__ import annotations

import logging
from typing import Any

from embedkit.base.evaluation.evaluator import SentenceEvaluator
from embedkit.base.evaluation.statistics import pearson, spearman
from embedkit.cross_encoder.evaluation.pair_evaluation import (
    finish_pair_evaluation,
    init_pair_evaluator,
    predict_logged,
)

logger = logging.getLogger(__name__)


class CrossEncoderCorrelationEvaluator(SentenceEvaluator):
    """Correlation of ``model.predict(pair_i)`` with gold ``scores_i``; primary metric ``spearman``.

    Args:
        sentence_pairs: ``[text_a, text_b]`` pairs.
        scores: gold score of each pair.
        name: prefix of the metric keys and suffix of the CSV file.
        prompt_name: passed to ``model.predict`` (only for models whose ``predict`` takes prompts).
        batch_size: prediction batch size.
        show_progress_bar: tqdm bar (default: when logging is at INFO or DEBUG).
        write_csv: append a row to the CSV file when called with an ``output_path``.

    Raises:
        ValueError: ``sentence_pairs`` and ``scores`` differ in length.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit import CrossEncoder
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> evaluator = CrossEncoderCorrelationEvaluator(
        ...     [["A man plays guitar.", "Someone plays music."], ["A cat sleeps.", "Stocks fell."],
        ...      ["Kids play soccer.", "Children play football."]], [4.5, 0.2, 4.8], name="toy")
        >>> sorted(evaluator(model)), evaluator.primary_metric
        (['toy_pearson', 'toy_spearman'], 'toy_spearman')
    """

    def __init__(
        self,
        sentence_pairs: list[list[str]],
        scores: list[float],
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        write_csv: bool = True,
    ) -> None:
        super().__init__()
        init_pair_evaluator(self, "CrossEncoderCorrelationEvaluator", sentence_pairs, scores, "scores", name=name,
                            prompt_name=prompt_name, batch_size=batch_size, show_progress_bar=show_progress_bar,
                            write_csv=write_csv, log=logger)
        self.scores = scores
        self.csv_headers = ["epoch", "steps", "Pearson_Correlation", "Spearman_Correlation"]
        self.primary_metric = "spearman"

    @classmethod
    def from_input_examples(cls, examples: list[Any], **kwargs: Any) -> CrossEncoderCorrelationEvaluator:
        """Build from ``InputExample`` objects (``texts`` is the pair, ``label`` the score)."""
        return cls([e.texts for e in examples], [e.label for e in examples], **kwargs)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        predicted = predict_logged(self, "CrossEncoderCorrelationEvaluator", model, epoch, steps, logger)
        eval_pearson = pearson(self.scores, predicted)
        eval_spearman = spearman(self.scores, predicted)
        logger.info("Correlation:\tPearson: %.4f\tSpearman: %.4f", eval_pearson, eval_spearman)
        return finish_pair_evaluation(self, model, {"pearson": eval_pearson, "spearman": eval_spearman}, output_path,
                                      epoch, steps)
