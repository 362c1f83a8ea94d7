"""PairedFilesReader: parallel text files (line i of every file belongs together) -> :class:`InputExample` s."""

from __future__ import annotations

from embedkit.data import InputExample
from embedkit.sentence_transformer.readers._files import open_text


class PairedFilesReader:
    """Read aligned lines of several files (plain or ``.gz``) as the texts of one example each.

    Args:
        filepaths: the files, one per text position.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); a, b = os.path.join(d, "a.txt"), os.path.join(d, "b.txt")
        >>> _ = open(a, "w").write("hello\\nbye\\n"); _ = open(b, "w").write("hallo\\ntschuess\\n")
        >>> [e.texts for e in PairedFilesReader([a, b]).get_examples()]
        [['hello', 'hallo'], ['bye', 'tschuess']]
    """

    def __init__(self, filepaths: list[str]) -> None:
        self.filepaths = filepaths

    def get_examples(self, max_examples: int = 0) -> list[InputExample]:
        """Examples until the shortest file ends (at most ``max_examples`` when > 0)."""
        files = [open_text(path) for path in self.filepaths]
        examples = []
        try:
            for lines in zip(*files):
                examples.append(InputExample(guid=str(len(examples)), texts=[line.strip() for line in lines], label=1))
                if 0 < max_examples <= len(examples):
                    break
        finally:
            for f in files:
                f.close()
        return examples


__all__ = ["PairedFilesReader"]
