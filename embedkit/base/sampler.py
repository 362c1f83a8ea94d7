"""Batch samplers with sentence-transformers' names, signatures and batching rules.

Single-dataset samplers take ``(dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0)``;
when a ``generator`` is given it is reseeded with ``seed + epoch`` at every ``__iter__``, so an epoch's batches are
a pure function of the seed and the epoch (what resuming and distributed training rely on):

- :class:`DefaultBatchSampler`: ``torch.utils.data.BatchSampler`` over the given index sampler.
- :class:`NoDuplicatesBatchSampler`: no cell value twice in a batch, across columns (label columns and
  ``dataset_name`` excluded).
- :class:`GroupByLabelBatchSampler`: labels emit two rows per round, so every label in a batch appears at least twice.

Multi-dataset samplers take ``(dataset: ConcatDataset, batch_samplers, generator=None, seed=0)`` and offset each
child's indices into the concatenation: :class:`RoundRobinBatchSampler` and :class:`ProportionalBatchSampler`.

Distributed training wraps the sampler built for the *global* batch (``per_device_batch_size * world_size``) in a
:class:`ShardedBatchSampler`: every rank computes the same global batches and takes its own contiguous slice, so all
ranks yield equally many batches, their rows are disjoint, and together they form the single-process batch.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, ConcatDataset, Sampler, SubsetRandomSampler

from embedkit.base.training_args import BatchSamplers, MultiDatasetBatchSamplers

logger = logging.getLogger(__name__)

_EXCLUDED_COLUMNS = {"dataset_name"}
_MAX_EXTRA_PASSES = 2
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


class SetEpochMixin:
    """Keeps ``self.epoch``; the trainer calls ``set_epoch`` at the start of every epoch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


def _reseed(generator: torch.Generator | None, seed: int | None, epoch: int) -> None:
    if generator is not None and seed is not None:
        generator.manual_seed(seed + epoch)


class EpochRandomSampler(Sampler[int]):
    """A random permutation of ``range(num_rows)`` drawn from ``seed + epoch`` (what the trainer shuffles with).

    Example:
        >>> sampler = EpochRandomSampler(5, seed=1)
        >>> sorted(sampler) == [0, 1, 2, 3, 4], list(sampler) == list(EpochRandomSampler(5, seed=1))
        (True, True)
    """

    def __init__(self, num_rows: int, seed: int = 0) -> None:
        self.num_rows, self.seed, self.epoch = num_rows, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.randperm(self.num_rows, generator=generator).tolist()

    def __len__(self) -> int:
        return self.num_rows


class DefaultBatchSampler(SetEpochMixin, BatchSampler):
    """``torch.utils.data.BatchSampler`` with the sentence-transformers signature (``BatchSamplers.BATCH_SAMPLER``).

    Args:
        dataset: the index sampler (or any iterable of indices) to batch, e.g. a ``RandomSampler``.
        batch_size: rows per batch.
        drop_last: drop the last, shorter batch.
        valid_label_columns: label column names (kept for subclasses).
        generator: random generator (kept for subclasses).
        seed: seed (kept for subclasses).

    Example:
        >>> [len(b) for b in DefaultBatchSampler(range(10), batch_size=4, drop_last=False)]
        [4, 4, 2]
    """

    def __init__(self, dataset: Any, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator: torch.Generator | None = None, seed: int = 0) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last)
        self.valid_label_columns = valid_label_columns
        self.generator = generator
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


def _column_names(dataset: Any) -> list[str]:
    names = getattr(dataset, "column_names", None)
    if isinstance(names, list):
        return names
    return list(dataset[0]) if len(dataset) else []


def _column(dataset: Any, name: str) -> list[Any]:
    if isinstance(getattr(dataset, "column_names", None), list):
        return list(dataset[name])
    return [dataset[i][name] for i in range(len(dataset))]


class GroupByLabelBatchSampler(DefaultBatchSampler):
    """Batches in which every label present appears at least twice, with at least two labels
    (``BatchSamplers.GROUP_BY_LABEL``), for in-batch triplet mining.

    Each label's rows are shuffled and trimmed to an even count; then, in rounds with a freshly shuffled label order,
    every label still holding rows emits two of them, until fewer than two labels remain. The stream is cut into
    batches of ``batch_size`` (an even number >= 4); a last partial batch is kept (``drop_last=False``) only when it
    holds at least 4 rows.

    Example:
        >>> data = {"text": [str(i) for i in range(12)], "label": [i % 3 for i in range(12)]}
        >>> from embedkit.data import Dataset
        >>> sampler = GroupByLabelBatchSampler(Dataset(data), 4, False, valid_label_columns=["label"])
        >>> all(min([data["label"][i] for i in b].count(l) for l in {data["label"][i] for i in b}) >= 2
        ...     for b in sampler)
        True
    """

    def __init__(self, dataset: Any, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator: torch.Generator | None = None, seed: int = 0) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        self.dataset = dataset
        if self.batch_size < 4 or self.batch_size % 2:
            raise ValueError(f"batch_size must be an even number >= 4, but got {self.batch_size}.")
        groups: dict[Any, list[int]] = defaultdict(list)
        for index, label in enumerate(self._determine_labels_to_use(dataset, valid_label_columns)):
            groups[label.item() if hasattr(label, "item") else label].append(index)
        self.groups = {label: rows for label, rows in groups.items() if len(rows) >= 2}
        if len(self.groups) < 2:
            raise ValueError("GroupByLabelBatchSampler requires at least 2 distinct labels with >= 2 samples each, "
                             f"but only {len(self.groups)} label(s) qualified.")
        # The rounds stop once one label is left: every label contributes at most as many pairs as the
        # second-largest label has.
        pairs = sorted((len(rows) // 2 for rows in self.groups.values()), reverse=True)
        self._stream_length = 2 * sum(min(p, pairs[1]) for p in pairs)

    @staticmethod
    def _determine_labels_to_use(dataset: Any, valid_label_columns: list[str] | None) -> list[Any]:
        names = _column_names(dataset)
        for name in valid_label_columns or []:
            if name in names:
                return _column(dataset, name)
        raise ValueError(f"None of the valid_label_columns {valid_label_columns} are in the dataset, "
                         f"which only has these columns: {names}.")

    def __iter__(self) -> Iterator[list[int]]:
        _reseed(self.generator, self.seed, self.epoch)
        queues: dict[Any, deque[int]] = {}
        for label, rows in self.groups.items():
            order = torch.randperm(len(rows), generator=self.generator)[: len(rows) // 2 * 2]
            queues[label] = deque(rows[i] for i in order)
        labels = list(queues)
        pending: list[int] = []
        previous = None
        while len(labels) >= 2:
            labels = [labels[i] for i in torch.randperm(len(labels), generator=self.generator)]
            if pending and labels[0] == previous:  # two consecutive pairs of one label would look like one group
                labels[0], labels[1] = labels[1], labels[0]
            for label in labels:
                pending += [queues[label].popleft(), queues[label].popleft()]
                if len(pending) >= self.batch_size:
                    yield pending[: self.batch_size]
                    pending = pending[self.batch_size:]
            previous = labels[-1]
            labels = [label for label in labels if queues[label]]
        if not self.drop_last and len(pending) >= 4:  # 4 rows from the round-robin: >= 2 labels, each twice
            yield pending

    def __len__(self) -> int:
        full, rest = divmod(self._stream_length, self.batch_size)
        return full + (1 if not self.drop_last and rest >= 4 else 0)


_PLAIN_TYPES = (str, int, float, bool, bytes, type(None), np.integer, np.floating, np.bool_)


def _sample_value_str(value: Any) -> str:
    """The key a cell is compared by in :class:`NoDuplicatesBatchSampler`.

    Plain values (text, numbers, lists of them) keep their ``str()``; other objects (images, arrays, media
    decoders), whose ``str()`` may hold a memory address or be truncated, are keyed by a digest of their pickled
    content (a media decoder by the encoded source it wraps). Unpicklable objects fall back to ``str()``.

    Example:
        >>> _sample_value_str("a text"), _sample_value_str([1, 2])
        ('a text', '[1, 2]')
    """
    if isinstance(value, _PLAIN_TYPES):
        return str(value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, _PLAIN_TYPES) for item in value):
            return str(value)
        return "[" + ", ".join(_sample_value_str(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_sample_value_str(item)}" for key, item in value.items()) + "}"
    encoded = getattr(value, "_hf_encoded", None)
    if encoded is not None:
        value = encoded
    try:
        return hashlib.sha256(pickle.dumps(value)).hexdigest()
    except Exception:
        return str(value)


def _int64_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class NoDuplicatesBatchSampler(DefaultBatchSampler):
    """Batches in which no value appears twice, even across columns (``BatchSamplers.NO_DUPLICATES``), for losses
    that treat the other rows of a batch as negatives.

    The rows are shuffled; each batch takes, in shuffled order, every remaining row none of whose values is already in
    the batch, until full; skipped rows wait for later batches. Label columns (``valid_label_columns``) and
    ``dataset_name`` are not compared. ``len()`` is ``ceil(n / batch_size)`` (floor with ``drop_last``); when one pass
    gives fewer batches, up to two reshuffled passes top it up (with a warning), so some rows then repeat.

    Args:
        dataset: a dataset with ``column_names`` and row indexing (or a list of row dicts).
        batch_size: rows per batch.
        drop_last: drop batches that could not be filled.
        valid_label_columns: columns excluded from the comparison.
        generator: random generator, reseeded with ``seed + epoch`` at every iteration (None: torch's global RNG).
        seed: seed.
        precompute_hashes: compare 64-bit hashes of the values, computed once (``_row_hashes``, an int64 matrix),
            instead of the value strings; faster for media datasets, whose rows would otherwise be re-read.
        precompute_num_proc: accepted for compatibility; hashing runs in this process.
        precompute_batch_size: accepted for compatibility.

    Example:
        >>> data = [{"a": "x", "p": "y"}, {"a": "x", "p": "z"}, {"a": "q", "p": "r"}, {"a": "s", "p": "t"}]
        >>> batches = list(NoDuplicatesBatchSampler(data, 2, False, generator=torch.Generator(), seed=3))
        >>> sorted(i for b in batches for i in b), any(set(b) == {0, 1} for b in batches)
        ([0, 1, 2, 3], False)
    """

    def __init__(self, dataset: Any, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator: torch.Generator | None = None, seed: int = 0, precompute_hashes: bool = False,
                 precompute_num_proc: int | None = None, precompute_batch_size: int = 1000) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        self.dataset = dataset
        self.compared_columns = [c for c in _column_names(dataset)
                                 if c not in set(valid_label_columns or []) | _EXCLUDED_COLUMNS]
        self.precompute_hashes = precompute_hashes
        self.precompute_num_proc = precompute_num_proc
        self.precompute_batch_size = precompute_batch_size
        self._row_hashes: np.ndarray | None = None

    def _build_hashes(self) -> None:
        """Hash every compared cell once into ``_row_hashes`` (rows x columns, int64)."""
        if self._row_hashes is not None:
            return
        columns = [_column(self.dataset, name) for name in self.compared_columns]
        hashes = np.zeros((len(self.dataset), len(columns)), dtype=np.int64)
        for j, values in enumerate(columns):
            hashes[:, j] = [_int64_hash(_sample_value_str(v)) for v in values]
        self._row_hashes = hashes

    def _row_keys(self) -> Callable[[int], Any]:
        if self.precompute_hashes:
            self._build_hashes()
            hashes = self._row_hashes
            return lambda index: set(hashes[index].tolist())
        names = self.compared_columns
        return lambda index: {_sample_value_str(v) for k, v in self.dataset[index].items() if k in names}

    def _one_pass(self, keys: Callable[[int], Any]) -> Iterator[list[int]]:
        num_rows = len(self.dataset)
        index_dtype = torch.int32 if num_rows <= np.iinfo(np.int32).max else torch.int64
        remaining = torch.randperm(num_rows, generator=self.generator, dtype=index_dtype).tolist()
        while remaining:
            batch: list[int] = []
            seen: set[Any] = set()
            deferred: list[int] = []
            position = 0
            for position, index in enumerate(remaining):
                values = keys(index)
                if not values.isdisjoint(seen):
                    deferred.append(index)
                    continue
                batch.append(index)
                if len(batch) == self.batch_size:
                    break
                seen |= values
            else:
                position = len(remaining)
            remaining = deferred + remaining[position + 1:]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __iter__(self) -> Iterator[list[int]]:
        _reseed(self.generator, self.seed, self.epoch)
        if len(self.dataset) == 0:
            return
        keys = self._row_keys()
        expected = len(self)
        produced = 0
        for batch in self._one_pass(keys):  # the first pass is never cut short
            produced += 1
            yield batch
        if produced >= expected:
            return
        if produced:
            missing = expected - produced
            _warn_once(f"NoDuplicatesBatchSampler produced only {produced} of the expected {expected} batches in a "
                       f"full pass over the dataset. The remaining {missing} batches are resampled, so at most "
                       f"{missing / expected:.1%} of this epoch's samples are repeats from earlier batches.")
            for _ in range(_MAX_EXTRA_PASSES):
                for batch in self._one_pass(keys):
                    produced += 1
                    yield batch
                    if produced >= expected:
                        return
        _warn_once(f"NoDuplicatesBatchSampler yielded only {produced} of the expected {expected} batches. The "
                   "dataset has too few distinct values for this batch size. Consider lowering it.")

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.dataset) // self.batch_size
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size


class MultiDatasetDefaultBatchSampler(SetEpochMixin, BatchSampler, ABC):
    """Base of the multi-dataset samplers: batches drawn from one child sampler per dataset of a ``ConcatDataset``,
    with indices offset into the concatenation.

    Args:
        dataset: the ``ConcatDataset`` (anything with ``.datasets``).
        batch_samplers: one batch sampler per dataset.
        generator: random generator, reseeded with ``seed + epoch`` at every iteration.
        seed: seed.
    """

    def __init__(self, dataset: ConcatDataset, batch_samplers: list[Any], generator: torch.Generator | None = None,
                 seed: int = 0) -> None:
        if len(dataset.datasets) != len(batch_samplers):
            raise ValueError("The number of batch samplers must match the number of datasets in the ConcatDataset.")
        super().__init__(dataset, batch_size=batch_samplers[0].batch_size, drop_last=batch_samplers[0].drop_last)
        self.dataset = dataset
        self.batch_samplers = batch_samplers
        self.generator = generator
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for sampler in self.batch_samplers:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)

    def _offsets(self) -> list[int]:
        return [0, *accumulate(len(d) for d in self.dataset.datasets)]

    @abstractmethod
    def __iter__(self) -> Iterator[list[int]]: ...

    @abstractmethod
    def __len__(self) -> int: ...


class RoundRobinBatchSampler(MultiDatasetDefaultBatchSampler):
    """One batch from each dataset in turn until one runs out (``MultiDatasetBatchSamplers.ROUND_ROBIN``)."""

    def __iter__(self) -> Iterator[list[int]]:
        _reseed(self.generator, self.seed, self.epoch)
        offsets = self._offsets()
        for batches in zip(*(iter(s) for s in self.batch_samplers)):
            for offset, batch in zip(offsets, batches):
                yield [i + offset for i in batch]

    def __len__(self) -> int:
        return min(len(s) for s in self.batch_samplers) * len(self.batch_samplers)


class ProportionalBatchSampler(MultiDatasetDefaultBatchSampler):
    """Every batch of every dataset, the dataset of each step drawn at random in proportion to its number of
    batches (``MultiDatasetBatchSamplers.PROPORTIONAL``)."""

    def __iter__(self) -> Iterator[list[int]]:
        _reseed(self.generator, self.seed, self.epoch)
        offsets = self._offsets()
        draws = [d for d, sampler in enumerate(self.batch_samplers) for _ in range(len(sampler))]
        iterators = [iter(s) for s in self.batch_samplers]
        for d in SubsetRandomSampler(draws, generator=self.generator):
            batch = next(iterators[d], None)
            if batch is not None:
                yield [i + offsets[d] for i in batch]

    def __len__(self) -> int:
        return sum(len(s) for s in self.batch_samplers)


class ShardedBatchSampler(Sampler[list[int]]):
    """One rank's share of a batch sampler built for the global batch (``per_device_batch_size * world_size``).

    Each global batch is cut to a multiple of ``world_size`` (a batch with fewer rows than ranks is dropped) and the
    rank takes its contiguous slice. Every rank must build ``batch_sampler`` identically (same seed), so they all see
    the same global batches. ``len()`` is the inner sampler's. With one process the inner batches pass through.

    Example:
        >>> inner = DefaultBatchSampler(range(10), batch_size=4, drop_last=False)
        >>> list(ShardedBatchSampler(inner, rank=1, world_size=2))
        [[2, 3], [6, 7], [9]]
    """

    def __init__(self, batch_sampler: Any, rank: int = 0, world_size: int = 1) -> None:
        self.batch_sampler, self.rank, self.world_size = batch_sampler, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batch_sampler:
            batch = list(batch)
            per_rank = len(batch) // self.world_size
            if per_rank:
                yield batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __len__(self) -> int:
        return len(self.batch_sampler)


__all__ = [
    "BatchSamplers",
    "MultiDatasetBatchSamplers",
    "DefaultBatchSampler",
    "GroupByLabelBatchSampler",
    "NoDuplicatesBatchSampler",
    "MultiDatasetDefaultBatchSampler",
    "RoundRobinBatchSampler",
    "ProportionalBatchSampler",
    "ShardedBatchSampler",
    "EpochRandomSampler",
    "SubsetRandomSampler",
]
