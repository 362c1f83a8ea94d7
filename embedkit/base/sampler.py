"""Batch samplers with sentence-transformers' semantics, sharded for distributed training by construction.

Every sampler first builds the *global* batches of an epoch (``batch_size * world_size`` rows each), seeded by
``seed + epoch`` so every rank computes the same list, then each rank takes its own contiguous slice. Hence:
every rank yields the same number of batches (no hang at epoch ends), the ranks' rows are disjoint from the very
first step, and together they form the global batch that a single process with ``batch_size * world_size`` would
see. A trailing global batch with fewer rows than ranks is dropped; otherwise it is cut to a multiple of the world
size so all ranks get equally many rows (collectives such as all_gather need equal shapes). With one process
nothing is dropped.

Samplers: :class:`DefaultBatchSampler` (shuffled), :class:`NoDuplicatesBatchSampler` (no cell value twice in a
batch, across columns; label columns and ``dataset_name`` excluded), :class:`GroupByLabelBatchSampler` (labels
emitted in pairs, so every label in a batch appears at least twice), and the multi-dataset
:class:`RoundRobinBatchSampler` and :class:`ProportionalBatchSampler` (each batch from one dataset).
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

from embedkit.data import LABEL_COLUMNS

logger = logging.getLogger(__name__)


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """This rank's contiguous slice of a global batch whose length is a multiple of ``world_size``."""
    per_rank = len(batch) // world_size
    return batch[rank * per_rank : (rank + 1) * per_rank]


class ShardedBatchSampler(Sampler[list[int]]):
    """Base: subclasses implement ``global_batches(epoch)``; this class handles seeding, epochs and sharding."""

    def __init__(self, batch_size: int, drop_last: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self, epoch: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + epoch)

    def global_batches(self, epoch: int) -> list[list[int]]:
        raise NotImplementedError

    def _epoch_batches(self) -> list[list[int]]:
        if self._cache is None or self._cache[0] != self.epoch:
            batches = []
            for batch in self.global_batches(self.epoch):
                usable = len(batch) - len(batch) % self.world_size
                if usable:
                    batches.append(batch[:usable])
            self._cache = (self.epoch, batches)
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._epoch_batches():
            yield shard(batch, self.rank, self.world_size)

    def __len__(self) -> int:
        return len(self._epoch_batches())


def _chunk(indices: list[int], size: int, drop_last: bool) -> list[list[int]]:
    batches = [indices[i : i + size] for i in range(0, len(indices), size)]
    if batches and drop_last and len(batches[-1]) < size:
        batches.pop()
    return batches


class DefaultBatchSampler(ShardedBatchSampler):
    """Shuffled batches (``BatchSamplers.BATCH_SAMPLER``).

    Example:
        >>> sampler = DefaultBatchSampler(list(range(10)), batch_size=4, drop_last=False, seed=0)
        >>> [len(b) for b in sampler]
        [4, 4, 2]
    """

    def __init__(self, dataset: Sequence[Any], batch_size: int, drop_last: bool, valid_label_columns: Any = None,
                 generator: Any = None, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(batch_size, drop_last, seed, rank, world_size)
        self.num_rows = len(dataset)

    def global_batches(self, epoch: int) -> list[list[int]]:
        order = torch.randperm(self.num_rows, generator=self.generator(epoch)).tolist()
        return _chunk(order, self.global_batch_size, self.drop_last)


def _value_key(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value_key(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_value_key(v)}" for k, v in value.items()) + "}"
    return hashlib.sha256(pickle.dumps(value)).hexdigest()


class NoDuplicatesBatchSampler(ShardedBatchSampler):
    """Batches in which no text (any non-label column's value) appears twice (``BatchSamplers.NO_DUPLICATES``).

    Rows are shuffled, then each batch is filled by scanning the remaining rows in order and taking a row only if
    none of its values is already in the batch; skipped rows stay for later batches, so every row is used (rows that
    only collide with each other end up in short batches, dropped with ``drop_last``). If one pass yields fewer than
    ``ceil(n / batch_size)`` batches, up to two reshuffled passes top it up (rows may then repeat), with a warning.

    Example:
        >>> data = [{"a": "x", "p": "y"}, {"a": "x", "p": "z"}, {"a": "q", "p": "r"}, {"a": "s", "p": "t"}]
        >>> batches = [sorted(b) for b in NoDuplicatesBatchSampler(data, batch_size=2, drop_last=False, seed=3)]
        >>> sorted(i for b in batches for i in b), any(set(b) == {0, 1} for b in batches)
        ([0, 1, 2, 3], False)
    """

    def __init__(self, dataset: Sequence[Any], batch_size: int, drop_last: bool,
                 valid_label_columns: Sequence[str] | None = None, generator: Any = None, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        super().__init__(batch_size, drop_last, seed, rank, world_size)
        excluded = set(valid_label_columns or LABEL_COLUMNS) | {"dataset_name"}
        self.row_values = [{_value_key(v) for k, v in row.items() if k not in excluded} for row in _rows(dataset)]

    def _one_pass(self, order: list[int]) -> list[list[int]]:
        size, remaining, batches = self.global_batch_size, list(order), []
        while remaining:
            batch, seen, kept = [], set(), []
            for index in remaining:
                values = self.row_values[index]
                if len(batch) < size and not (values & seen):
                    batch.append(index)
                    seen |= values
                else:
                    kept.append(index)
            remaining = kept
            if len(batch) == size or not self.drop_last:
                batches.append(batch)
        return batches

    def global_batches(self, epoch: int) -> list[list[int]]:
        generator = self.generator(epoch)
        n = len(self.row_values)
        expected = n // self.global_batch_size if self.drop_last else math.ceil(n / self.global_batch_size)
        batches = self._one_pass(torch.randperm(n, generator=generator).tolist())
        for _ in range(2):
            if len(batches) >= expected:
                break
            logger.warning("NoDuplicatesBatchSampler: duplicates left %d of %d batches short; reshuffling",
                           expected - len(batches), expected)
            batches += self._one_pass(torch.randperm(n, generator=generator).tolist())[: expected - len(batches)]
        return batches


class GroupByLabelBatchSampler(ShardedBatchSampler):
    """Batches where every label present appears at least twice (``BatchSamplers.GROUP_BY_LABEL``), for in-batch
    triplet losses.

    Each label keeps an even number of rows (at least 2). Labels then take turns emitting two rows each, in a
    random order, and the stream is cut into batches; a tail shorter than 4 rows is dropped.

    Example:
        >>> data = [{"text": str(i), "label": i % 3} for i in range(12)]
        >>> batches = list(GroupByLabelBatchSampler(data, batch_size=4, drop_last=False, seed=0))
        >>> all(sorted(data[i]["label"] for i in b).count(data[b[0]]["label"]) >= 2 for b in batches)
        True
    """

    def __init__(self, dataset: Sequence[Any], batch_size: int, drop_last: bool,
                 valid_label_columns: Sequence[str] | None = None, generator: Any = None, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        super().__init__(batch_size, drop_last, seed, rank, world_size)
        if batch_size % 2 or batch_size < 4:
            raise ValueError(f"GROUP_BY_LABEL needs an even batch_size >= 4, got {batch_size}")
        rows = _rows(dataset)
        label_column = next((c for c in (valid_label_columns or LABEL_COLUMNS) if rows and c in rows[0]), None)
        if label_column is None:
            raise ValueError(f"GROUP_BY_LABEL needs a label column (one of {list(valid_label_columns or LABEL_COLUMNS)})")
        self.groups: dict[Any, list[int]] = {}
        for index, row in enumerate(rows):
            label = row[label_column]
            self.groups.setdefault(label.item() if hasattr(label, "item") else label, []).append(index)
        self.groups = {k: v for k, v in self.groups.items() if len(v) >= 2}
        if len(self.groups) < 2:
            raise ValueError("GROUP_BY_LABEL needs at least 2 labels with at least 2 rows each")

    def global_batches(self, epoch: int) -> list[list[int]]:
        generator = self.generator(epoch)
        pools = []
        for label in sorted(self.groups, key=str):
            rows = self.groups[label]
            order = [rows[i] for i in torch.randperm(len(rows), generator=generator).tolist()]
            pools.append(order[: len(order) - len(order) % 2])
        stream: list[int] = []
        while sum(1 for p in pools if p) >= 2:
            active = [i for i, p in enumerate(pools) if p]
            for i in (active[j] for j in torch.randperm(len(active), generator=generator).tolist()):
                stream += pools[i][:2]
                pools[i] = pools[i][2:]
        batches = _chunk(stream, self.global_batch_size, drop_last=False)
        if batches and len(batches[-1]) < self.global_batch_size and (self.drop_last or len(batches[-1]) < 4):
            batches.pop()
        return batches


def _rows(dataset: Any) -> list[dict[str, Any]]:
    return [dataset[i] for i in range(len(dataset))]


class RoundRobinBatchSampler(ShardedBatchSampler):
    """One batch from each dataset in turn until the smallest is exhausted (``ROUND_ROBIN``)."""

    def __init__(self, samplers: Sequence[ShardedBatchSampler], offsets: Sequence[int], seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        super().__init__(samplers[0].batch_size, samplers[0].drop_last, seed, rank, world_size)
        self.samplers, self.offsets = list(samplers), list(offsets)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for sampler in self.samplers:
            sampler.set_epoch(epoch)

    def _epoch_batches(self) -> list[list[int]]:
        per_dataset = [[[i + off for i in b] for b in s._epoch_batches()] for s, off in zip(self.samplers, self.offsets)]
        shortest = min(len(b) for b in per_dataset)
        return [per_dataset[d][i] for i in range(shortest) for d in range(len(per_dataset))]


class ProportionalBatchSampler(RoundRobinBatchSampler):
    """Every batch of every dataset, in a random order of datasets (``PROPORTIONAL``); all data is used."""

    def _epoch_batches(self) -> list[list[int]]:
        per_dataset = [[[i + off for i in b] for b in s._epoch_batches()] for s, off in zip(self.samplers, self.offsets)]
        draws = [d for d, batches in enumerate(per_dataset) for _ in batches]
        order = torch.randperm(len(draws), generator=self.generator(self.epoch)).tolist()
        cursors = [0] * len(per_dataset)
        out = []
        for position in order:
            d = draws[position]
            out.append(per_dataset[d][cursors[d]])
            cursors[d] += 1
        return out


SAMPLERS = {"batch_sampler": DefaultBatchSampler, "no_duplicates": NoDuplicatesBatchSampler,
            "group_by_label": GroupByLabelBatchSampler}
MULTI_DATASET_SAMPLERS = {"round_robin": RoundRobinBatchSampler, "proportional": ProportionalBatchSampler}
