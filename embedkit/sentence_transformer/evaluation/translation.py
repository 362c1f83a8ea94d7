"""TranslationEvaluator: for parallel texts (src_i, trg_i), is trg_i the nearest target of src_i (cosine), and
vice versa. Keys ``src2trg_accuracy``, ``trg2src_accuracy``, ``mean_accuracy`` and the CSV file
``translation_evaluation[_{name}]_results.csv`` as in sentence-transformers. A match counts when the nearest text is
*equal* to the expected one, so duplicated texts do not count as errors.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text
from embedkit.util import cos_sim

logger = logging.getLogger(__name__)


class TranslationEvaluator(SentenceEvaluator):
    """Bitext retrieval accuracy in both directions; primary ``mean_accuracy``.

    Args:
        source_sentences: texts in the source language.
        target_sentences: their translations, aligned.
        show_progress_bar: tqdm bar while encoding.
        batch_size: encoding batch size.
        name: prefix of the metric keys and suffix of the CSV file.
        print_wrong_matches: print the mismatched source -> target pairs (src2trg only).
        write_csv: append a row to the CSV file when called with an ``output_path``.
        truncate_dim: keep the first dimensions of the embeddings.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = TranslationEvaluator(["The cat sleeps.", "It is raining."],
        ...                                  ["A cat is sleeping.", "Rain is falling."])
        >>> evaluator(model)["mean_accuracy"]
        1.0
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        print_wrong_matches: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        if len(source_sentences) != len(target_sentences):
            raise ValueError(f"source_sentences ({len(source_sentences)}) and target_sentences "
                             f"({len(target_sentences)}) must have the same length.")
        self.source_sentences = source_sentences
        self.target_sentences = target_sentences
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.print_wrong_matches = print_wrong_matches
        self.truncate_dim = truncate_dim
        self.csv_file = "translation_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "src2trg", "trg2src"]
        self.write_csv = write_csv
        self.primary_metric = "mean_accuracy"

    def embed_inputs(self, model: Any, sentences: list[str]) -> torch.Tensor:
        embeddings = model.encode(sentences, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar,
                                  convert_to_numpy=False, truncate_dim=self.truncate_dim)
        return torch.stack(embeddings)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("Evaluating translation matching Accuracy of the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps, self.truncate_dim))
        sims = cos_sim(self.embed_inputs(model, self.source_sentences),
                       self.embed_inputs(model, self.target_sentences)).detach().cpu().numpy()  # (n, n)
        src2trg = sims.argmax(axis=1)
        trg2src = sims.T.argmax(axis=1)
        correct_src2trg = 0
        for i, j in enumerate(src2trg):
            if self.target_sentences[i] == self.target_sentences[j]:
                correct_src2trg += 1
            elif self.print_wrong_matches:
                print(f"\nIncorrect  : Source {i} is most similar to target {j} instead of target {i}")
                print("Source     :", self.source_sentences[i])
                print("Pred Target:", self.target_sentences[j], f"(Score: {sims[i][j]:.4f})")
                print("True Target:", self.target_sentences[i], f"(Score: {sims[i][i]:.4f})")
                for idx in np.argsort(-sims[i], kind="stable")[:5]:
                    print("\t", idx, f"(Score: {sims[i][idx]:.4f})", self.target_sentences[idx])
        correct_trg2src = sum(self.source_sentences[i] == self.source_sentences[j] for i, j in enumerate(trg2src))
        n = len(sims)
        acc_src2trg, acc_trg2src = correct_src2trg / n, correct_trg2src / n
        logger.info("Accuracy src2trg: %.2f\tAccuracy trg2src: %.2f", acc_src2trg * 100, acc_trg2src * 100)
        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, acc_src2trg, acc_trg2src])
        metrics = {"src2trg_accuracy": acc_src2trg, "trg2src_accuracy": acc_trg2src,
                   "mean_accuracy": (acc_src2trg + acc_trg2src) / 2}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        return {"truncate_dim": self.truncate_dim} if self.truncate_dim is not None else {}
