"""ParaphraseMiningEvaluator: mine the most similar pairs of a sentence collection and score them against gold
duplicate pairs (average precision over the mined ranking, best F1 with its threshold).

Keys ``average_precision``, ``f1``, ``precision``, ``recall``, ``threshold`` and the CSV file
``paraphrase_mining_evaluation[_{name}]_results.csv`` match sentence-transformers. Pairs are mined with
:func:`embedkit.util.paraphrase_mining` (cosine similarity, chunked, ``top_k`` per sentence, ``max_pairs`` overall).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from embedkit.base.evaluation.evaluator import SentenceEvaluator, append_csv_row, epoch_text
from embedkit.util import paraphrase_mining

logger = logging.getLogger(__name__)


def _duplicate_graph() -> defaultdict:
    return defaultdict(lambda: defaultdict(bool))


class ParaphraseMiningEvaluator(SentenceEvaluator):
    """Duplicate mining quality; primary ``average_precision``.

    Args:
        sentences_map: ``{id: sentence}``.
        duplicates_list: ``[(id1, id2), ...]`` gold duplicate pairs (ids missing from ``sentences_map`` are ignored).
        duplicates_dict: ``{id1: {id2: True}}``, symmetric, instead of (or in addition to) ``duplicates_list``.
        add_transitive_closure: treat duplicates as equivalence classes (a~b and b~c gives a~c).
        query_chunk_size / corpus_chunk_size / max_pairs / top_k: passed to ``paraphrase_mining``.
        show_progress_bar: tqdm bar while encoding.
        batch_size: encoding batch size.
        name: prefix of the metric keys and suffix of the CSV file.
        write_csv: append a row to the CSV file when called with an ``output_path``.
        truncate_dim: keep the first dimensions of the embeddings.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> evaluator = ParaphraseMiningEvaluator(
        ...     {"a": "How old are you?", "b": "What is your age?", "c": "Where is the station?"},
        ...     duplicates_list=[("a", "b")])
        >>> evaluator(model)["average_precision"]
        1.0
    """

    def __init__(
        self,
        sentences_map: dict[str, str],
        duplicates_list: list[tuple[str, str]] | None = None,
        duplicates_dict: dict[str, dict[str, bool]] | None = None,
        add_transitive_closure: bool = False,
        query_chunk_size: int = 5000,
        corpus_chunk_size: int = 100000,
        max_pairs: int = 500000,
        top_k: int = 100,
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.ids = list(sentences_map.keys())
        self.sentences = [sentences_map[i] for i in self.ids]
        self.name = name
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.query_chunk_size = query_chunk_size
        self.corpus_chunk_size = corpus_chunk_size
        self.max_pairs = max_pairs
        self.top_k = top_k
        self.truncate_dim = truncate_dim
        self._add_transitive_closure = add_transitive_closure

        self.duplicates = duplicates_dict if duplicates_dict is not None else _duplicate_graph()
        for id1, id2 in duplicates_list or []:
            if id1 in sentences_map and id2 in sentences_map:
                self.duplicates[id1][id2] = True
                self.duplicates[id2][id1] = True
        if add_transitive_closure:
            self.duplicates = self.add_transitive_closure(self.duplicates)
        positive_pairs = {
            tuple(sorted((a, b)))
            for a in self.duplicates for b in self.duplicates[a]
            if a in sentences_map and b in sentences_map and (self._dup(a, b) or self._dup(b, a))
        }
        self.total_num_duplicates = len(positive_pairs)

        self.csv_file = "paraphrase_mining_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "precision", "recall", "f1", "threshold", "average_precision"]
        self.write_csv = write_csv
        self.primary_metric = "average_precision"

    def _dup(self, a: str, b: str) -> bool:
        inner = self.duplicates.get(a) if isinstance(self.duplicates, dict) else None
        return bool(inner.get(b, False)) if inner is not None else False

    @staticmethod
    def add_transitive_closure(graph: dict[str, dict[str, bool]]) -> dict[str, dict[str, bool]]:
        """Connect every pair inside each connected component of the duplicate graph (in place; returned)."""
        visited: set[str] = set()
        for start in list(graph.keys()):
            if start in visited:
                continue
            component = {start}
            queue = [node for node, is_dup in graph[start].items() if is_dup]
            while queue:
                node = queue.pop()
                if node not in component:
                    component.add(node)
                    queue.extend(n for n, is_dup in graph.get(node, {}).items() if is_dup)
            members = list(component)
            if len(members) < 2:
                continue
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    graph.setdefault(a, defaultdict(bool))[b] = True
                    graph.setdefault(b, defaultdict(bool))[a] = True
            visited.update(members)
        return graph

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        logger.info("Paraphrase Mining Evaluation of the model on the %s dataset%s:", self.name,
                    epoch_text(epoch, steps, self.truncate_dim))
        pairs = paraphrase_mining(model, self.sentences, show_progress_bar=self.show_progress_bar,
                                  batch_size=self.batch_size, query_chunk_size=self.query_chunk_size,
                                  corpus_chunk_size=self.corpus_chunk_size, max_pairs=self.max_pairs,
                                  top_k=self.top_k, truncate_dim=self.truncate_dim)
        logger.info("Number of candidate pairs: %d", len(pairs))

        # Walk the ranking; groups of equal scores are one cut-off (precision/recall measured after the group).
        n_extract = n_correct = previous_correct = 0
        threshold = 0.0
        best_f1 = best_recall = best_precision = 0.0
        average_precision = 0.0
        for idx, (score, i, j) in enumerate(pairs):
            n_extract += 1
            if self._dup(self.ids[i], self.ids[j]) or self._dup(self.ids[j], self.ids[i]):
                n_correct += 1
            if idx + 1 < len(pairs) and pairs[idx + 1][0] == score:
                continue
            if n_correct > previous_correct:
                precision = n_correct / n_extract
                recall = n_correct / self.total_num_duplicates if self.total_num_duplicates > 0 else 0.0
                f1 = 2 * precision * recall / (precision + recall)
                average_precision += precision * (n_correct - previous_correct)
                if f1 > best_f1:
                    best_f1, best_precision, best_recall = f1, precision, recall
                    threshold = (pairs[idx][0] + pairs[min(idx + 1, len(pairs) - 1)][0]) / 2
            previous_correct = n_correct
        average_precision = average_precision / self.total_num_duplicates if self.total_num_duplicates > 0 else 0.0
        logger.info("Average Precision: %.2f  threshold %.4f  precision %.2f  recall %.2f  F1 %.2f",
                    average_precision * 100, threshold, best_precision * 100, best_recall * 100, best_f1 * 100)

        if output_path is not None and self.write_csv:
            append_csv_row(output_path, self.csv_file, self.csv_headers,
                           [epoch, steps, best_precision, best_recall, best_f1, threshold, average_precision])
        metrics = {"average_precision": average_precision, "f1": best_f1, "precision": best_precision,
                   "recall": best_recall, "threshold": threshold}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"add_transitive_closure": self._add_transitive_closure,
                                  "max_pairs": self.max_pairs, "top_k": self.top_k}
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config
