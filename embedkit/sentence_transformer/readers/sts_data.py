"""STSDataReader: sentence pairs with a similarity score from a delimited file (``STSBenchmarkDataReader``: the
STS benchmark column layout)."""

from __future__ import annotations

import csv
import os

from embedkit.data import InputExample
from embedkit.sentence_transformer.readers._files import open_text


class STSDataReader:
    """Read ``sentence1, sentence2, score`` rows; scores are scaled to [0, 1] with ``min_score``/``max_score`` when
    ``normalize_scores``.

    Example:
        >>> import tempfile, pathlib
        >>> folder = tempfile.mkdtemp(); _ = (pathlib.Path(folder) / "sts.tsv").write_text("a\\tb\\t4\\n")
        >>> [(e.texts, e.label) for e in STSDataReader(folder).get_examples("sts.tsv")]
        [(['a', 'b'], 0.8)]
    """

    def __init__(self, dataset_folder: str, s1_col_idx: int = 0, s2_col_idx: int = 1, score_col_idx: int = 2,
                 delimiter: str = "\t", quoting: int = csv.QUOTE_NONE, normalize_scores: bool = True,
                 min_score: float = 0, max_score: float = 5) -> None:
        self.dataset_folder = dataset_folder
        self.score_col_idx, self.s1_col_idx, self.s2_col_idx = score_col_idx, s1_col_idx, s2_col_idx
        self.delimiter, self.quoting = delimiter, quoting
        self.normalize_scores, self.min_score, self.max_score = normalize_scores, min_score, max_score

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The file's pairs (at most ``max_examples`` when > 0)."""
        examples = []
        with open_text(os.path.join(self.dataset_folder, filename)) as f:
            for row in csv.reader(f, delimiter=self.delimiter, quoting=self.quoting):
                score = float(row[self.score_col_idx])
                if self.normalize_scores:
                    score = (score - self.min_score) / (self.max_score - self.min_score)
                examples.append(InputExample(guid=f"{filename}{len(examples)}",
                                             texts=[row[self.s1_col_idx], row[self.s2_col_idx]], label=score))
                if 0 < max_examples <= len(examples):
                    break
        return examples


class STSBenchmarkDataReader(STSDataReader):
    """:class:`STSDataReader` with the STS benchmark's columns (sentences in 5 and 6, score in 4)."""

    def __init__(self, dataset_folder: str, s1_col_idx: int = 5, s2_col_idx: int = 6, score_col_idx: int = 4,
                 delimiter: str = "\t", quoting: int = csv.QUOTE_NONE, normalize_scores: bool = True,
                 min_score: float = 0, max_score: float = 5) -> None:
        super().__init__(dataset_folder, s1_col_idx, s2_col_idx, score_col_idx, delimiter, quoting,
                         normalize_scores, min_score, max_score)


__all__ = ["STSBenchmarkDataReader", "STSDataReader"]
