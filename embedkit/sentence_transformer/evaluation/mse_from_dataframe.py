"""MSEEvaluatorFromDataFrame: :class:`MSEEvaluator` over several language pairs of one table of parallel texts.

Rows are ``{language: text}`` dicts (a "dataframe" in sentence-transformers' sense, any list of dicts); for each
``(source, target)`` combination the teacher embeds the source column and the evaluated model the target column, over
the rows where both texts are non-blank. The key is ``negative_mse`` = minus the mean over combinations of
``100 * mean((teacher - student)**2)``; the CSV file ``mse_evaluation[_{name}]_results.csv`` has one column per
combination (``epoch,steps,en-de,...``), as in sentence-transformers.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from embedkit.base.evaluation.evaluator import (
    SentenceEvaluator,
    append_csv_row,
    epoch_text,
)

logger = logging.getLogger(__name__)


class MSEEvaluatorFromDataFrame(SentenceEvaluator):
    """Knowledge-distillation MSE for several ``(source, target)`` language pairs of parallel rows.

    The teacher embeddings of every distinct source text are computed once, in the constructor.

    Args:
        dataframe: rows of parallel texts, ``[{"en": ..., "de": ...}, ...]``.
        teacher_model: the model that embeds the source texts.
        combinations: ``[(source_language, target_language), ...]``.
        batch_size: encoding batch size.
        name: prefix of the metric key and part of the CSV file name.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        truncate_dim: keep the first dimensions of the embeddings (teacher and student).

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> rows = [{"en": "Hello world", "xx": "Hello world"}, {"en": "A cat", "xx": ""}]
        >>> evaluator = MSEEvaluatorFromDataFrame(rows, model, [("en", "xx")])
        >>> abs(evaluator(model)["negative_mse"]) < 1e-6
        True
    """

    def __init__(
        self,
        dataframe: list[dict[str, str]],
        teacher_model: Any,
        combinations: list[tuple[str, str]],
        batch_size: int = 8,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.combinations = [tuple(pair) for pair in combinations]
        self.name = name
        self.batch_size = batch_size
        self.csv_file = "mse_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"] + [f"{src}-{trg}" for src, trg in self.combinations]
        self.primary_metric = "negative_mse"
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.data: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        sources: dict[str, None] = {}  # ordered set
        for src, trg in self.combinations:
            pairs = [(row[src], row[trg]) for row in dataframe if row[src].strip() and row[trg].strip()]
            self.data[(src, trg)] = ([s for s, _ in pairs], [t for _, t in pairs])
            sources.update(dict.fromkeys(s for s, _ in pairs))
        source_list = list(sources)
        embeddings = self.embed_inputs(teacher_model, source_list) if source_list else []
        self.teacher_embeddings = dict(zip(source_list, embeddings))

    def embed_inputs(self, model: Any, sentences: str | list[str] | np.ndarray, **kwargs: Any) -> np.ndarray:
        return model.encode(sentences, batch_size=self.batch_size, convert_to_numpy=True,
                            truncate_dim=self.truncate_dim, **kwargs)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        scores = []
        for src, trg in self.combinations:
            sources, targets = self.data[(src, trg)]
            teacher = np.asarray([self.teacher_embeddings[s] for s in sources])
            student = np.asarray(self.embed_inputs(model, targets))
            mse = float(((teacher - student) ** 2).mean() * 100)
            scores.append(mse)
            logger.info("MSE evaluation on the %s dataset - %s-%s%s:\tMSE (*100): %.6f", self.name, src, trg,
                        epoch_text(epoch, steps, self.truncate_dim), mse)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *scores])
        metrics = self.prefix_name_to_metrics({"negative_mse": -float(np.mean(scores))}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "Knowledge Distillation"

    def get_config_dict(self) -> dict[str, Any]:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}
