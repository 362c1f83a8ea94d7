"""TripletReader: ``anchor, positive, negative`` rows from a delimited file -> :class:`InputExample` s."""

from __future__ import annotations

import csv
import os

from embedkit.data import InputExample
from embedkit.sentence_transformer.readers._files import open_text


class TripletReader:
    """Read triplets (label 0), optionally skipping a header row.

    Example:
        >>> import tempfile, pathlib
        >>> folder = tempfile.mkdtemp(); _ = (pathlib.Path(folder) / "t.tsv").write_text("a\\tp\\tn\\n")
        >>> [e.texts for e in TripletReader(folder).get_examples("t.tsv")]
        [['a', 'p', 'n']]
    """

    def __init__(self, dataset_folder: str, s1_col_idx: int = 0, s2_col_idx: int = 1, s3_col_idx: int = 2,
                 has_header: bool = False, delimiter: str = "\t", quoting: int = csv.QUOTE_NONE) -> None:
        self.dataset_folder = dataset_folder
        self.s1_col_idx, self.s2_col_idx, self.s3_col_idx = s1_col_idx, s2_col_idx, s3_col_idx
        self.has_header, self.delimiter, self.quoting = has_header, delimiter, quoting

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The file's triplets (at most ``max_examples`` when > 0)."""
        examples = []
        with open_text(os.path.join(self.dataset_folder, filename)) as f:
            reader = csv.reader(f, delimiter=self.delimiter, quoting=self.quoting)
            if self.has_header:
                next(reader, None)
            for row in reader:
                texts = [row[self.s1_col_idx], row[self.s2_col_idx], row[self.s3_col_idx]]
                examples.append(InputExample(texts=texts, label=0))
                if 0 < max_examples <= len(examples):
                    break
        return examples


__all__ = ["TripletReader"]
