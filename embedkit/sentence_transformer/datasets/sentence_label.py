"""SentenceLabelDataset: :class:`InputExample` s streamed in groups of ``samples_per_label`` with one label each,
for batch triplet losses."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import IterableDataset

from embedkit.data import InputExample


class SentenceLabelDataset(IterableDataset):
    """Cycle over the labels (in a reshuffled order each round), emitting ``samples_per_label`` distinct examples
    of the current label; labels with fewer examples are left out. Without replacement, an example is emitted once
    per round of the labels. ``len()`` is the number of usable examples.

    Example:
        >>> examples = [InputExample(texts=[str(i)], label=i % 2) for i in range(8)]
        >>> labels = [e.label for e in SentenceLabelDataset(examples)]
        >>> len(labels), labels[0] == labels[1]
        (8, True)
    """

    def __init__(self, examples: list[InputExample], samples_per_label: int = 2, with_replacement: bool = False
                 ) -> None:
        super().__init__()
        self.samples_per_label = samples_per_label
        self.with_replacement = with_replacement
        by_label: dict = {}
        for example in examples:
            by_label.setdefault(example.label, []).append(example)
        self.groups = [group for group in by_label.values() if len(group) >= samples_per_label]
        self.grouped_inputs = [example for group in self.groups for example in group]

    def __iter__(self) -> Iterator[InputExample]:
        emitted = 0
        while emitted < len(self.grouped_inputs):
            seen: list[set[int]] = [set() for _ in self.groups]
            progressed = False
            for g in np.random.permutation(len(self.groups)):
                group = self.groups[g]
                choices = [i for i in range(len(group)) if self.with_replacement or i not in seen[g]]
                if len(choices) < self.samples_per_label:
                    continue
                for i in np.random.choice(choices, self.samples_per_label, replace=False):
                    seen[g].add(int(i))
                    emitted += 1
                    progressed = True
                    yield group[int(i)]
                    if emitted >= len(self.grouped_inputs):
                        return
            if not progressed:
                return

    def __len__(self) -> int:
        return len(self.grouped_inputs)


__all__ = ["SentenceLabelDataset"]
