"""BinaryClassificationEvaluator: is a pair similar (label 1) or not (0), judged by an embedding-similarity threshold.

For each similarity function it reports the best accuracy and its threshold, the best F1 with its precision,
recall and threshold, the average precision of the ranking, and the Matthews correlation at the F1 threshold.
Metric keys (``{fn}_accuracy``, ..., ``{fn}_mcc``, ``max_*``), CSV file and header order match
sentence-transformers' ``BinaryClassificationEvaluator``. Distances (euclidean, manhattan) are scored as positive
distances where smaller means more similar.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text, resolve_similarity_names
from embedkit.base.evaluation.statistics import (
    average_precision,
    find_best_acc_and_threshold,
    find_best_f1_and_threshold,
    matthews_corrcoef,
)
from embedkit.util import SimilarityFunction

logger = logging.getLogger(__name__)

_METRICS = ("accuracy", "accuracy_threshold", "f1", "precision", "recall", "f1_threshold", "ap", "mcc")  # CSV order
# name -> (sign applied to the pairwise similarity, higher-is-more-similar, log label)
_SCORING = {
    "cosine": (1.0, True, "Cosine-Similarity"),
    "dot": (1.0, True, "Dot-Product"),
    "manhattan": (-1.0, False, "Manhattan-Distance"),
    "euclidean": (-1.0, False, "Euclidean-Distance"),
}


class BinaryClassificationEvaluator(SentenceEvaluator):
    """Threshold-based paraphrase/duplicate classification; primary metric ``{fn}_ap`` (``max_ap`` for several).

    Args:
        sentences1: first sentence of each pair.
        sentences2: second sentence of each pair.
        labels: 1 for similar pairs, 0 otherwise.
        name: prefix of the metric keys and suffix of the CSV file.
        batch_size: encoding batch size.
        show_progress_bar: tqdm bar while encoding.
        write_csv: append a row to ``binary_classification_evaluation[_{name}]_results.csv``.
        truncate_dim: keep the first dimensions of the embeddings.
        similarity_fn_names: any of ``cosine``, ``dot``, ``euclidean``, ``manhattan``; default: the model's.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = BinaryClassificationEvaluator(
        ...     ["A man plays guitar.", "A cat sleeps.", "Kids play soccer.", "It rains."],
        ...     ["Someone plays an instrument.", "The stock market fell.", "Children play football.", "I like tea."],
        ...     [1, 0, 1, 0])
        >>> metrics = evaluator(model)
        >>> evaluator.primary_metric, metrics["cosine_accuracy"]
        ('cosine_ap', 1.0)
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        labels: list[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
    ) -> None:
        super().__init__()
        if not (len(sentences1) == len(sentences2) == len(labels)):
            raise ValueError(f"sentences1, sentences2 and labels must have the same length, got "
                             f"{len(sentences1)}, {len(sentences2)} and {len(labels)}")
        bad = [label for label in labels if label not in (0, 1)]
        if bad:
            raise ValueError(f"labels must be 0 or 1, got {bad[:5]!r}")
        self.sentences1 = sentences1
        self.sentences2 = sentences2
        self.labels = labels
        self.truncate_dim = truncate_dim
        self.similarity_fn_names = resolve_similarity_names(similarity_fn_names, None)
        self.write_csv = write_csv
        self.name = name
        self.batch_size = batch_size
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        self.show_progress_bar = show_progress_bar
        self.csv_file = "binary_classification_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.similarity_fn_names)

    find_best_acc_and_threshold = staticmethod(find_best_acc_and_threshold)
    find_best_f1_and_threshold = staticmethod(find_best_f1_and_threshold)

    def _append_csv_headers(self, fn_names: list[str]) -> None:
        self.csv_headers += [f"{fn}_{metric}" for fn in fn_names for metric in _METRICS]

    @classmethod
    def from_input_examples(cls, examples: list[Any], **kwargs: Any) -> BinaryClassificationEvaluator:
        """Build from ``InputExample`` objects (``texts[0]``, ``texts[1]``, ``label``)."""
        return cls([e.texts[0] for e in examples], [e.texts[1] for e in examples], [e.label for e in examples],
                   **kwargs)

    def embed_inputs(self, model: Any, sentences: list[str]) -> np.ndarray:
        return model.encode(sentences, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
                            convert_to_numpy=True, truncate_dim=self.truncate_dim)

    def _embeddings(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        try:  # embed each distinct sentence once
            unique = list(dict.fromkeys([*self.sentences1, *self.sentences2]))
        except TypeError:  # unhashable inputs
            return self.embed_inputs(model, self.sentences1), self.embed_inputs(model, self.sentences2)
        embeddings = self.embed_inputs(model, unique)
        row = {sentence: i for i, sentence in enumerate(unique)}
        emb1 = embeddings[[row[s] for s in self.sentences1]]
        emb2 = embeddings[[row[s] for s in self.sentences2]]
        return emb1, emb2

    def compute_metrics(self, model: Any) -> dict[str, dict[str, float]]:
        """``{fn: {metric: value}}`` for every similarity function."""
        emb1, emb2 = self._embeddings(model)
        labels = np.asarray(self.labels)
        output: dict[str, dict[str, float]] = {}
        for fn_name in self.similarity_fn_names:
            sign, higher_is_similar, label = _SCORING[fn_name]
            pair_fn = SimilarityFunction.to_similarity_pairwise_fn(fn_name)
            scores = (sign * pair_fn(emb1, emb2)).detach().cpu().numpy()
            acc, acc_threshold = find_best_acc_and_threshold(scores, labels, higher_is_similar)
            f1, precision, recall, f1_threshold = find_best_f1_and_threshold(scores, labels, higher_is_similar)
            ap = average_precision(labels, scores if higher_is_similar else -scores)
            predicted = scores >= f1_threshold if higher_is_similar else scores <= f1_threshold
            mcc = matthews_corrcoef(labels, predicted)
            logger.info("Accuracy with %s: %.2f (threshold %.4f); F1 %.2f (threshold %.4f); precision %.2f; "
                        "recall %.2f; AP %.2f; MCC %.2f", label, acc * 100, acc_threshold, f1 * 100, f1_threshold,
                        precision * 100, recall * 100, ap * 100, mcc * 100)
            output[fn_name] = {"accuracy": acc, "accuracy_threshold": acc_threshold, "f1": f1,
                               "f1_threshold": f1_threshold, "precision": precision, "recall": recall,
                               "ap": ap, "mcc": mcc}
        return output

    compute_metrices = compute_metrics  # sentence-transformers' historical spelling

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("Binary Accuracy Evaluation of the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps, self.truncate_dim))
        if not self.similarity_fn_names:
            self.similarity_fn_names = [model.similarity_fn_name]
            self._append_csv_headers(self.similarity_fn_names)
        scores = self.compute_metrics(model)

        if output_path is not None and self.write_csv:
            row: list[Any] = [epoch, steps]
            for header in self.csv_headers[2:]:
                fn_name, metric = header.split("_", maxsplit=1)
                if fn_name in scores:
                    row.append(scores[fn_name][metric])
            append_csv_row(output_path, self.csv_file, self.csv_headers, row)

        metrics = {f"{fn}_{metric}": value for fn, values in scores.items() for metric, value in values.items()}
        if len(self.similarity_fn_names) > 1:
            first = next(iter(scores.values()))
            metrics.update({f"max_{metric}": max(scores[fn][metric] for fn in scores) for metric in first})
            self.primary_metric = "max_ap"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_ap"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}
