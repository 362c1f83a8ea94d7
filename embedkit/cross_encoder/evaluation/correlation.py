"""CrossEncoderCorrelationEvaluator: Pearson/Spearman between gold pair scores and CrossEncoder scores.

Same parameters, metric keys (``pearson``, ``spearman``; primary ``spearman``) and CSV file
(``CrossEncoderCorrelationEvaluator[_{name}]_results.csv``) as sentence-transformers 6.2; the statistics come from
:mod:`embedkit.evaluation.statistics` (SciPy's definitions, without SciPy).
"""

from __future__ import annotations

import logging
from typing import Any

from ...evaluation.base import SentenceEvaluator, append_csv_row, epoch_text
from ...evaluation.statistics import pearson, spearman
from ._predict import predict_pairs

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
        >>> from pathlib import Path
        >>> import embedkit
        >>> from embedkit import CrossEncoder
        >>> model = CrossEncoder(Path(embedkit.__file__).parent.parent / "tests/fixtures/ce_bert1", device="cpu")
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
        if len(sentence_pairs) != len(scores):
            raise ValueError(f"sentence_pairs and scores must have the same length, got {len(sentence_pairs)} "
                             f"and {len(scores)}")
        self.sentence_pairs = sentence_pairs
        self.scores = scores
        self.name = name
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.csv_file = "CrossEncoderCorrelationEvaluator" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "Pearson_Correlation", "Spearman_Correlation"]
        self.primary_metric = "spearman"

    @classmethod
    def from_input_examples(cls, examples: list[Any], **kwargs: Any) -> CrossEncoderCorrelationEvaluator:
        """Build from ``InputExample`` objects (``texts`` is the pair, ``label`` the score)."""
        return cls([e.texts for e in examples], [e.label for e in examples], **kwargs)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("CrossEncoderCorrelationEvaluator: Evaluating the model on %s dataset%s:", self.name,
                    epoch_text(epoch, steps))
        predicted = predict_pairs(model, self.sentence_pairs, self.prompt_name, self.batch_size,
                                  self.show_progress_bar)
        eval_pearson = pearson(self.scores, predicted)
        eval_spearman = spearman(self.scores, predicted)
        logger.info("Correlation:\tPearson: %.4f\tSpearman: %.4f", eval_pearson, eval_spearman)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, eval_pearson, eval_spearman])
        metrics = self.prefix_name_to_metrics({"pearson": eval_pearson, "spearman": eval_spearman}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics
