"""SentencesDataset: a list of :class:`InputExample` s as a torch ``Dataset`` (the model is not used)."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from embedkit.data import InputExample


class SentencesDataset(Dataset):
    """``examples[i]`` as item ``i`` (``model`` is accepted for compatibility and ignored).

    Example:
        >>> len(SentencesDataset([InputExample(texts=["a"])], model=None))
        1
    """

    def __init__(self, examples: list[InputExample], model: Any = None) -> None:
        self.examples = examples

    def __getitem__(self, item: int) -> InputExample:
        return self.examples[item]

    def __len__(self) -> int:
        return len(self.examples)


__all__ = ["SentencesDataset"]
