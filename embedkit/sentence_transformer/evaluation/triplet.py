"""TripletEvaluator: how often is ``sim(anchor, positive) > sim(anchor, negative) + margin``.

Anchors go through ``encode_query`` and positives/negatives through ``encode_document`` (as in
sentence-transformers v6). Keys ``{fn}_accuracy`` (+ ``max_accuracy``) and the CSV file
``triplet_evaluation[_{name}]_results.csv`` (columns ``accuracy_{fn}``) match ST's ``TripletEvaluator``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text, resolve_similarity_names
from embedkit.util import SimilarityFunction

logger = logging.getLogger(__name__)

_FN_NAMES = ["cosine", "dot", "manhattan", "euclidean"]


class TripletEvaluator(SentenceEvaluator):
    """Accuracy of (anchor, positive, negative) triplets; primary ``{fn}_accuracy`` (``max_accuracy`` for several).

    Args:
        anchors: anchor texts (queries).
        positives: texts that should be closer to the anchor.
        negatives: texts that should be farther.
        main_similarity_function: makes ``{fn}_accuracy`` primary (and the only function if
            ``similarity_fn_names`` is not given).
        margin: a float for every function, or ``{fn: margin}`` (missing functions get 0).
        name: prefix of the metric keys and suffix of the CSV file.
        batch_size: encoding batch size.
        show_progress_bar: tqdm bar while encoding.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        truncate_dim: keep the first dimensions of the embeddings.
        similarity_fn_names: any of ``cosine``, ``dot``, ``euclidean``, ``manhattan``; default: the model's.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = TripletEvaluator(["A man plays guitar."], ["Someone plays music."], ["Stocks fell."])
        >>> evaluator(model)
        {'cosine_accuracy': 1.0}
    """

    def __init__(
        self,
        anchors: list[str],
        positives: list[str],
        negatives: list[str],
        main_similarity_function: str | SimilarityFunction | None = None,
        margin: float | dict[str, float] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
        main_distance_function: str | SimilarityFunction | None = "deprecated",
    ) -> None:
        super().__init__()
        if main_distance_function != "deprecated" and main_similarity_function is None:
            main_similarity_function = main_distance_function
            logger.warning("The 'main_distance_function' parameter is deprecated. Please use "
                           "'main_similarity_function' instead. 'main_distance_function' will be removed in a future "
                           "release.")
        if not (len(anchors) == len(positives) == len(negatives)):
            raise ValueError(f"anchors, positives and negatives must have the same length, got "
                             f"{len(anchors)}, {len(positives)} and {len(negatives)}")
        self.anchors = anchors
        self.positives = positives
        self.negatives = negatives
        self.name = name
        self.truncate_dim = truncate_dim
        self.main_similarity_function = (SimilarityFunction(main_similarity_function)
                                         if main_similarity_function else None)
        unknown_names = sorted({str(getattr(n, "value", n)) for n in similarity_fn_names or []} - set(_FN_NAMES))
        if unknown_names:
            raise ValueError(f"`similarity_fn_names` got unexpected names {unknown_names}, expected names in "
                             f"{list(_FN_NAMES)}.")
        self.similarity_fn_names = resolve_similarity_names(similarity_fn_names, self.main_similarity_function)
        if margin is None:
            self.margin = {fn: 0 for fn in _FN_NAMES}
        elif isinstance(margin, (int, float)):
            self.margin = {fn: margin for fn in _FN_NAMES}
        elif isinstance(margin, dict):
            unknown = sorted(set(margin) - set(_FN_NAMES))
            if unknown:
                raise ValueError(f"`margin` got unexpected keys {unknown}, expected keys in {_FN_NAMES}.")
            self.margin = {**{fn: 0 for fn in _FN_NAMES}, **margin}
        else:
            raise ValueError(f"`margin` should be a float or a dictionary with keys in {_FN_NAMES}, got {margin!r}")
        self.batch_size = batch_size
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.csv_file = "triplet_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.similarity_fn_names)

    def _append_csv_headers(self, fn_names: list[str]) -> None:
        self.csv_headers += [f"accuracy_{fn}" for fn in fn_names]

    @classmethod
    def from_input_examples(cls, examples: list[Any], **kwargs: Any) -> TripletEvaluator:
        """Build from ``InputExample`` objects with three texts."""
        return cls([e.texts[0] for e in examples], [e.texts[1] for e in examples], [e.texts[2] for e in examples],
                   **kwargs)

    def embed_inputs(self, model: Any, sentences: list[str], encode_fn_name: str | None = None) -> np.ndarray:
        encode = {"query": model.encode_query, "document": model.encode_document}.get(encode_fn_name, model.encode)
        return encode(sentences, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
                      convert_to_numpy=True, truncate_dim=self.truncate_dim)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("TripletEvaluator: Evaluating the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps, self.truncate_dim))
        anchors = self.embed_inputs(model, self.anchors, "query")
        positives = self.embed_inputs(model, self.positives, "document")
        negatives = self.embed_inputs(model, self.negatives, "document")
        if not self.similarity_fn_names:
            self.similarity_fn_names = [model.similarity_fn_name]
            self._append_csv_headers(self.similarity_fn_names)

        metrics: dict[str, float] = {}
        for fn_name in self.similarity_fn_names:
            pair_fn = SimilarityFunction.to_similarity_pairwise_fn(fn_name)
            positive_scores, negative_scores = pair_fn(anchors, positives), pair_fn(anchors, negatives)
            correct = positive_scores > negative_scores + self.margin[fn_name]
            metrics[f"{fn_name}_accuracy"] = correct.float().mean().item()
            logger.info("Accuracy %s Similarity:\t%.2f%%", fn_name.capitalize(), metrics[f"{fn_name}_accuracy"] * 100)

        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *metrics.values()])

        if len(self.similarity_fn_names) > 1:
            metrics["max_accuracy"] = max(metrics.values())
        if self.main_similarity_function is not None:
            self.primary_metric = f"{self.main_similarity_function.value}_accuracy"
        elif len(self.similarity_fn_names) > 1:
            self.primary_metric = "max_accuracy"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_accuracy"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.margin != {fn: 0 for fn in _FN_NAMES}:
            config["margin"] = self.margin
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config
