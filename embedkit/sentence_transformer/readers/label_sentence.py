"""LabelSentenceReader: ``label<TAB>sentence`` files -> single-text :class:`InputExample` s with integer labels."""

from __future__ import annotations

import os

from embedkit.data import InputExample
from embedkit.sentence_transformer.readers._files import open_text


class LabelSentenceReader:
    """Read a file with one labelled sentence per line; labels become consecutive ints in order of appearance
    (the mapping is shared across the files one reader reads).

    Args:
        folder: the folder holding the files.
        label_col_idx: column of the label.
        sentence_col_idx: column of the sentence.
        separator: column separator.

    Example:
        >>> import tempfile, pathlib
        >>> folder = tempfile.mkdtemp()
        >>> _ = (pathlib.Path(folder) / "train.tsv").write_text("pos\\tgood\\nneg\\tbad\\n")
        >>> [(e.texts, e.label) for e in LabelSentenceReader(folder).get_examples("train.tsv")]
        [(['good'], 0), (['bad'], 1)]
    """

    def __init__(self, folder: str, label_col_idx: int = 0, sentence_col_idx: int = 1, separator: str = "\t") -> None:
        self.folder = folder
        self.label_map: dict[str, int] = {}
        self.label_col_idx = label_col_idx
        self.sentence_col_idx = sentence_col_idx
        self.separator = separator

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The file's examples (at most ``max_examples`` when > 0)."""
        examples = []
        with open_text(os.path.join(self.folder, filename)) as f:
            for line in f:
                cells = line.rstrip("\n").split(self.separator)
                label_name, sentence = cells[self.label_col_idx], cells[self.sentence_col_idx]
                label = self.label_map.setdefault(label_name, len(self.label_map))
                examples.append(InputExample(guid=f"{filename}-{len(examples)}", texts=[sentence], label=label))
                if 0 < max_examples <= len(examples):
                    break
        return examples


__all__ = ["LabelSentenceReader"]
