"""ParallelSentencesDataset: translated sentences labelled with the teacher's embedding of the source sentence,
for multilingual knowledge distillation (``MSELoss``)."""

from __future__ import annotations

import random
from typing import Any

from torch.utils.data import Dataset

from embedkit.data import InputExample
from embedkit.sentence_transformer.readers._files import open_text


class ParallelSentencesDataset(Dataset):
    """Items are ``InputExample(texts=[sentence], label=teacher_embedding(source))`` for the source sentence (first
    column) and each of its translations.

    Args:
        student_model: the model being trained (kept for compatibility).
        teacher_model: anything with ``encode(sentences, ...)``; it embeds the source sentences.
        batch_size: the teacher's encode batch size.
        use_embedding_cache: reuse the teacher embedding of a source sentence seen before.
    """

    def __init__(self, student_model: Any, teacher_model: Any, batch_size: int = 8, use_embedding_cache: bool = True
                 ) -> None:
        self.student_model, self.teacher_model = student_model, teacher_model
        self.batch_size, self.use_embedding_cache = batch_size, use_embedding_cache
        self.datasets: list[list[tuple[str, set[str]]]] = []
        self.datasets_iterator: list[int] = []
        self.dataset_indices: list[int] = []
        self.cache: list[InputExample] = []
        self.embedding_cache: dict[str, Any] = {}
        self.num_sentences = 0

    def load_data(self, filepath: str, weight: int = 100, max_sentences: int | None = None,
                  max_sentence_length: int = 128) -> None:
        """Read a tab-separated file (plain or ``.gz``): the source sentence, then its translations."""
        rows = []
        with open_text(filepath) as f:
            for line in f:
                sentences = line.strip().split("\t")
                if max_sentence_length and max(len(s) for s in sentences) > max_sentence_length:
                    continue
                rows.append(sentences)
                if max_sentences and len(rows) >= max_sentences:
                    break
        self.add_dataset(rows, weight=weight, max_sentences=max_sentences, max_sentence_length=max_sentence_length)

    def add_dataset(self, parallel_sentences: list[list[str]], weight: int = 100, max_sentences: int | None = None,
                    max_sentence_length: int = 128) -> None:
        """Add rows of ``[source, translation, ...]``; ``weight`` sets how often this dataset is drawn from."""
        by_source: dict[str, set[str]] = {}
        for sentences in parallel_sentences:
            if max_sentence_length and max(len(s) for s in sentences) > max_sentence_length:
                continue
            by_source.setdefault(sentences[0], set()).update(sentences)
            if max_sentences and len(by_source) >= max_sentences:
                break
        if not by_source:
            return
        self.num_sentences += sum(len(targets) for targets in by_source.values())
        self.dataset_indices += [len(self.datasets)] * weight
        self.datasets.append(list(by_source.items()))
        self.datasets_iterator.append(0)

    def next_entry(self, data_idx: int) -> tuple[str, set[str]]:
        entries = self.datasets[data_idx]
        source, targets = entries[self.datasets_iterator[data_idx]]
        self.datasets_iterator[data_idx] += 1
        if self.datasets_iterator[data_idx] >= len(entries):
            self.datasets_iterator[data_idx] = 0
            random.shuffle(entries)
        return source, targets

    def get_embeddings(self, sentences: list[str]) -> list[Any]:
        """The teacher's embeddings of ``sentences`` (through the cache when enabled)."""
        if not self.use_embedding_cache:
            return list(self.teacher_model.encode(sentences, batch_size=self.batch_size, show_progress_bar=False,
                                                  convert_to_numpy=True))
        new = list(dict.fromkeys(s for s in sentences if s not in self.embedding_cache))
        if new:
            embeddings = self.teacher_model.encode(new, batch_size=self.batch_size, show_progress_bar=False,
                                                   convert_to_numpy=True)
            self.embedding_cache.update(zip(new, embeddings))
        return [self.embedding_cache[s] for s in sentences]

    def generate_data(self) -> None:
        entries = [self.next_entry(i) for i in self.dataset_indices]
        embeddings = self.get_embeddings([source for source, _ in entries])
        for embedding, (_, targets) in zip(embeddings, entries):
            self.cache += [InputExample(texts=[target], label=embedding) for target in targets]
        random.shuffle(self.cache)

    def __len__(self) -> int:
        return self.num_sentences

    def __getitem__(self, idx: int) -> InputExample:
        if not self.cache:
            self.generate_data()
        return self.cache.pop()


__all__ = ["ParallelSentencesDataset"]
