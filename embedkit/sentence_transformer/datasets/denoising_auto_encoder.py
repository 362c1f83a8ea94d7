"""DenoisingAutoEncoderDataset: (noisy sentence, sentence) pairs for TSDAE training."""

from __future__ import annotations

import random
from collections.abc import Callable

from torch.utils.data import Dataset

from embedkit.data import InputExample


class DenoisingAutoEncoderDataset(Dataset):
    """Each item is ``InputExample(texts=[noise_fn(sentence), sentence])``.

    Args:
        sentences: the raw sentences.
        noise_fn: the corruption; the default deletes each word with probability 0.6 (keeping at least one).

    Example:
        >>> item = DenoisingAutoEncoderDataset(["a b c d e f"])[0]
        >>> item.texts[1], set(item.texts[0].split()) <= set("abcdef")
        ('a b c d e f', True)
    """

    def __init__(self, sentences: list[str], noise_fn: Callable[[str], str] | None = None) -> None:
        self.sentences = sentences
        self.noise_fn = noise_fn or (lambda text: self.delete(text))

    def __getitem__(self, item: int) -> InputExample:
        sentence = self.sentences[item]
        return InputExample(texts=[self.noise_fn(sentence), sentence])

    def __len__(self) -> int:
        return len(self.sentences)

    @staticmethod
    def delete(text: str, del_ratio: float = 0.6) -> str:
        """Drop each (whitespace-separated) word with probability ``del_ratio``, keeping at least one."""
        words = text.split()
        if not words:
            return text
        kept = [w for w in words if random.random() > del_ratio]
        if not kept:
            kept = [random.choice(words)]
        return " ".join(kept)


__all__ = ["DenoisingAutoEncoderDataset"]
