"""NLIDataReader: the SNLI/MultiNLI folder layout (``s1.<split>.gz``, ``s2.<split>.gz``, ``labels.<split>.gz``)."""

from __future__ import annotations

import os

from embedkit.data import InputExample
from embedkit.sentence_transformer.readers._files import open_text


class NLIDataReader:
    """Read NLI sentence pairs with their label (contradiction 0, entailment 1, neutral 2).

    Args:
        dataset_folder: the folder holding ``s1.<filename>``, ``s2.<filename>`` and ``labels.<filename>``.
    """

    def __init__(self, dataset_folder: str) -> None:
        self.dataset_folder = dataset_folder

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The split's pairs (``filename`` is the shared suffix, e.g. ``"train.gz"``)."""
        files = [open_text(os.path.join(self.dataset_folder, f"{part}.{filename}")) for part in ("s1", "s2", "labels")]
        examples = []
        try:
            for s1, s2, label in zip(*files):
                examples.append(InputExample(guid=f"{filename}-{len(examples)}", texts=[s1.strip(), s2.strip()],
                                             label=self.map_label(label)))
                if 0 < max_examples <= len(examples):
                    break
        finally:
            for f in files:
                f.close()
        return examples

    @staticmethod
    def get_labels() -> dict[str, int]:
        return {"contradiction": 0, "entailment": 1, "neutral": 2}

    def get_num_labels(self) -> int:
        return len(self.get_labels())

    def map_label(self, label: str) -> int:
        return self.get_labels()[label.strip().lower()]


__all__ = ["NLIDataReader"]
