"""EmbeddingSimilarityEvaluator: Pearson/Spearman between gold pair scores and embedding similarities.

Same parameters, metric keys (``pearson_{fn}``, ``spearman_{fn}``, ``*_max`` for several functions) and CSV file
(``similarity_evaluation[_{name}][_{precision}]_results.csv``) as sentence-transformers'
``EmbeddingSimilarityEvaluator``; the correlations come from :mod:`embedkit.base.evaluation.statistics`.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text, resolve_similarity_names
from embedkit.base.evaluation.statistics import pearson, spearman
from embedkit.util import SimilarityFunction

logger = logging.getLogger(__name__)

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]


class EmbeddingSimilarityEvaluator(SentenceEvaluator):
    """Correlation of ``similarity(emb(s1_i), emb(s2_i))`` with gold ``scores_i``; primary: ``spearman_{fn}``.

    Args:
        sentences1: first sentence of each pair.
        sentences2: second sentence of each pair.
        scores: gold similarity of each pair.
        batch_size: encoding batch size.
        main_similarity: makes ``spearman_{main}`` the primary metric (and the only function if
            ``similarity_fn_names`` is not given).
        similarity_fn_names: any of ``cosine``, ``dot``, ``euclidean``, ``manhattan``; default: the model's
            ``similarity_fn_name``.
        name: prefix of the metric keys and suffix of the CSV file.
        show_progress_bar: tqdm bar while encoding.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        precision: quantize embeddings before scoring (``int8``/``uint8`` calibrate on both sides together;
            ``binary``/``ubinary`` are unpacked to bits).
        truncate_dim: keep the first dimensions of the embeddings.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = EmbeddingSimilarityEvaluator(
        ...     ["A man plays guitar.", "A cat sleeps.", "Kids play soccer."],
        ...     ["Someone plays an instrument.", "The stock market fell.", "Children play football."],
        ...     [4.5, 0.2, 4.8], name="toy")
        >>> metrics = evaluator(model)
        >>> sorted(metrics), evaluator.primary_metric
        (['toy_pearson_cosine', 'toy_spearman_cosine'], 'toy_spearman_cosine')
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        scores: list[float],
        batch_size: int = 16,
        main_similarity: str | SimilarityFunction | None = None,
        similarity_fn_names: list[Literal["cosine", "euclidean", "manhattan", "dot"]] | None = None,
        name: str = "",
        show_progress_bar: bool = False,
        write_csv: bool = True,
        precision: Precision | None = None,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        if not (len(sentences1) == len(sentences2) == len(scores)):
            raise ValueError(f"sentences1, sentences2 and scores must have the same length, got "
                             f"{len(sentences1)}, {len(sentences2)} and {len(scores)}")
        if precision not in (None, "float32", "int8", "uint8", "binary", "ubinary"):
            raise ValueError(f"precision must be None, float32, int8, uint8, binary or ubinary, got {precision!r}")
        self.sentences1 = sentences1
        self.sentences2 = sentences2
        self.scores = scores
        self.batch_size = batch_size
        self.main_similarity = SimilarityFunction(main_similarity) if main_similarity else None
        self.similarity_fn_names = resolve_similarity_names(similarity_fn_names, self.main_similarity)
        self.name = name
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.precision = precision
        self.truncate_dim = truncate_dim
        self.csv_file = ("similarity_evaluation" + (f"_{name}" if name else "")
                         + (f"_{precision}" if precision else "") + "_results.csv")
        self.csv_headers = ["epoch", "steps"]
        self._append_csv_headers(self.similarity_fn_names)

    def _append_csv_headers(self, fn_names: list[str]) -> None:
        self.csv_headers += [f"{fn}_{metric}" for fn in fn_names for metric in ("pearson", "spearman")]

    @classmethod
    def from_input_examples(cls, examples: list[Any], **kwargs: Any) -> EmbeddingSimilarityEvaluator:
        """Build from ``InputExample`` objects (``texts[0]``, ``texts[1]``, ``label``)."""
        return cls([e.texts[0] for e in examples], [e.texts[1] for e in examples], [e.label for e in examples],
                   **kwargs)

    def embed_inputs(self, model: Any, sentences: list[str]) -> np.ndarray:
        return model.encode(sentences, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
                            convert_to_numpy=True, precision=self.precision or "float32",
                            normalize_embeddings=bool(self.precision), truncate_dim=self.truncate_dim)

    def _embeddings(self, model: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.precision in ("int8", "uint8"):
            # One calibration for both sides, so a sentence gets the same quantized vector on either side.
            both = self.embed_inputs(model, [*self.sentences1, *self.sentences2])
            emb1, emb2 = both[: len(self.sentences1)], both[len(self.sentences1):]
        else:
            emb1, emb2 = self.embed_inputs(model, self.sentences1), self.embed_inputs(model, self.sentences2)
        if self.precision == "binary":  # int8 = packed bits - 128
            emb1, emb2 = emb1.astype(np.int16) + 128, emb2.astype(np.int16) + 128
        if self.precision in ("binary", "ubinary"):
            emb1 = np.unpackbits(emb1.astype(np.uint8), axis=1)
            emb2 = np.unpackbits(emb2.astype(np.uint8), axis=1)
        if self.precision in ("int8", "uint8", "binary", "ubinary"):
            emb1, emb2 = emb1.astype(np.float32), emb2.astype(np.float32)
        return emb1, emb2

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("EmbeddingSimilarityEvaluator: Evaluating the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps, self.truncate_dim))
        emb1, emb2 = self._embeddings(model)
        if not self.similarity_fn_names:
            self.similarity_fn_names = [model.similarity_fn_name]
            self._append_csv_headers(self.similarity_fn_names)

        metrics: dict[str, float] = {}
        for fn_name in self.similarity_fn_names:
            pair_fn = SimilarityFunction.to_similarity_pairwise_fn(fn_name)
            predicted = pair_fn(emb1, emb2).detach().cpu().numpy()
            metrics[f"pearson_{fn_name}"] = pearson(self.scores, predicted)
            metrics[f"spearman_{fn_name}"] = spearman(self.scores, predicted)
            logger.info("%s-Similarity:\tPearson: %.4f\tSpearman: %.4f", fn_name.capitalize(),
                        metrics[f"pearson_{fn_name}"], metrics[f"spearman_{fn_name}"])

        if output_path is not None and self.write_csv:
            row = [metrics[f"{m}_{fn}"] for fn in self.similarity_fn_names for m in ("pearson", "spearman")]
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])

        if len(self.similarity_fn_names) > 1:
            metrics["pearson_max"] = max(metrics[f"pearson_{fn}"] for fn in self.similarity_fn_names)
            metrics["spearman_max"] = max(metrics[f"spearman_{fn}"] for fn in self.similarity_fn_names)
        if self.main_similarity is not None:
            self.primary_metric = f"spearman_{self.main_similarity.value}"
        elif len(self.similarity_fn_names) > 1:
            self.primary_metric = "spearman_max"
        else:
            self.primary_metric = f"spearman_{self.similarity_fn_names[0]}"

        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "Semantic Similarity"

    def get_config_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ("truncate_dim", "precision") if getattr(self, key) is not None}
