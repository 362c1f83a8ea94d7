"""NoDuplicatesDataLoader: batches of :class:`InputExample` s in which no text appears twice."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from embedkit.data import InputExample


class NoDuplicatesDataLoader:
    """Yield ``len(train_examples) // batch_size`` batches per pass; an example whose texts collide with the batch's
    waits for a later batch (for in-batch-negative losses). ``model.fit`` given this loader trains with the
    ``no_duplicates`` batch sampler.

    Example:
        >>> examples = [InputExample(texts=[f"q{i % 3}", f"a{i}"]) for i in range(6)]
        >>> batches = list(NoDuplicatesDataLoader(examples, batch_size=3))
        >>> len(batches), all(len({t for e in b for t in e.texts}) == 6 for b in batches)
        (2, True)
    """

    def __init__(self, train_examples: list[InputExample], batch_size: int) -> None:
        self.batch_size = batch_size
        self.train_examples = train_examples
        self.dataset = train_examples
        self.data_pointer = 0
        self.collate_fn: Callable[[list[InputExample]], Any] | None = None
        random.shuffle(self.train_examples)

    def __iter__(self) -> Iterator[Any]:
        for _ in range(len(self)):
            batch: list[InputExample] = []
            texts: set[str] = set()
            scanned = 0
            while len(batch) < self.batch_size and scanned < len(self.train_examples):
                example = self.train_examples[self.data_pointer]
                scanned += 1
                keys = {t.strip().lower() if isinstance(t, str) else str(t) for t in example.texts}
                if keys.isdisjoint(texts):
                    batch.append(example)
                    texts |= keys
                self.data_pointer += 1
                if self.data_pointer >= len(self.train_examples):
                    self.data_pointer = 0
                    random.shuffle(self.train_examples)
            yield self.collate_fn(batch) if self.collate_fn is not None else batch

    def __len__(self) -> int:
        return len(self.train_examples) // self.batch_size


__all__ = ["NoDuplicatesDataLoader"]
