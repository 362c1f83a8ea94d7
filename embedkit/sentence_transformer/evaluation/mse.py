"""MSEEvaluator: 100 x mean squared error between teacher embeddings of source texts and student embeddings of
target texts (knowledge distillation, e.g. multilingual). Key ``negative_mse`` (higher is better) and CSV file
``mse_evaluation_{name}_results.csv`` (header ``epoch,steps,MSE``) as in sentence-transformers.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text

logger = logging.getLogger(__name__)


class MSEEvaluator(SentenceEvaluator):
    """``negative_mse = -100 * mean((teacher(source) - student(target))**2)``.

    The teacher embeddings are computed once, in the constructor.

    Args:
        source_sentences: texts for the teacher.
        target_sentences: texts for the evaluated (student) model, aligned with ``source_sentences``.
        teacher_model: the teacher model.
        show_progress_bar: tqdm bar while encoding.
        batch_size: encoding batch size.
        name: prefix of the metric key and part of the CSV file name.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        truncate_dim: keep the first dimensions of the embeddings (teacher and student).

    Raises:
        ValueError: the two lists differ in length.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = MSEEvaluator(["Hello world"], ["Hello world"], teacher_model=model)
        >>> abs(evaluator(model)["negative_mse"]) < 1e-6
        True
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        teacher_model: Any = None,
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        if len(source_sentences) != len(target_sentences):
            raise ValueError(f"source_sentences ({len(source_sentences)}) and target_sentences "
                             f"({len(target_sentences)}) must have the same length.")
        if teacher_model is None:
            raise ValueError("MSEEvaluator needs a teacher_model to embed the source sentences")
        self.truncate_dim = truncate_dim
        self.target_sentences = target_sentences
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.name = name
        self.csv_file = f"mse_evaluation_{name}_results.csv"
        self.csv_headers = ["epoch", "steps", "MSE"]
        self.write_csv = write_csv
        self.primary_metric = "negative_mse"
        self.source_embeddings = self.embed_inputs(teacher_model, source_sentences)

    def embed_inputs(self, model: Any, sentences: list[str]) -> np.ndarray:
        return model.encode(sentences, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
                            convert_to_numpy=True, truncate_dim=self.truncate_dim)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        target_embeddings = self.embed_inputs(model, self.target_sentences)
        mse = (((self.source_embeddings - target_embeddings) ** 2).mean() * 100).item()
        logger.info("MSE evaluation (lower = better) on the %s dataset%s:\tMSE (*100): %.6f", self.name,
                    epoch_text(epoch, steps, self.truncate_dim), mse)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, mse])
        metrics = self.prefix_name_to_metrics({"negative_mse": -mse}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "Knowledge Distillation"

    def get_config_dict(self) -> dict[str, Any]:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}
