"""Sampler invariants: equal batch counts per rank, disjoint rows forming the global batch, seeding, semantics."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import ConcatDataset

from embedkit.base.sampler import (
    DefaultBatchSampler,
    EpochRandomSampler,
    GroupByLabelBatchSampler,
    NoDuplicatesBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
    ShardedBatchSampler,
)
from embedkit.data import Dataset


def rows(n=37, dup_every=3):
    return Dataset.from_list([{"anchor": f"q{i // dup_every}", "positive": f"p{i}", "label": i % 4} for i in range(n)])


def make(kind, data, batch_size, drop_last=False, seed=5):
    generator = torch.Generator()
    if kind == "default":
        return DefaultBatchSampler(EpochRandomSampler(len(data), seed), batch_size, drop_last)
    cls = {"nodup": NoDuplicatesBatchSampler, "label": GroupByLabelBatchSampler}[kind]
    return cls(data, batch_size, drop_last, valid_label_columns=["label"], generator=generator, seed=seed)


@pytest.mark.parametrize("kind", ["default", "nodup", "label"])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_ranks_get_equal_counts_disjoint_rows_forming_the_global_batch(kind, world):
    data = rows()
    single = list(make(kind, data, 4 * world))
    per_rank = [list(ShardedBatchSampler(make(kind, data, 4 * world), r, world)) for r in range(world)]
    assert len({len(batches) for batches in per_rank}) == 1
    for step, parts in enumerate(zip(*per_rank)):
        assert all(parts) and len({len(p) for p in parts}) == 1
        flat = [i for p in parts for i in p]
        assert len(set(flat)) == len(flat), "ranks must not share rows"
        assert flat == single[step][: len(flat)], "the ranks' rows together are the single-process batch"


@pytest.mark.parametrize("kind", ["default", "nodup", "label"])
def test_seeded_deterministic_and_epoch_dependent(kind):
    a, b = make(kind, rows(), 4), make(kind, rows(), 4)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    assert list(make(kind, rows(), 4, seed=6)) != list(a)


def test_default_covers_every_row_once_and_drop_last():
    batches = list(make("default", rows(10), 4))
    assert sorted(i for b in batches for i in b) == list(range(10)) and [len(b) for b in batches] == [4, 4, 2]
    assert [len(b) for b in make("default", rows(10), 4, drop_last=True)] == [4, 4]


def test_no_duplicates_never_repeats_a_text_in_a_batch():
    data = rows(60, dup_every=4)
    for batch in make("nodup", data, 8, seed=1):
        texts = [v for i in batch for k, v in data[i].items() if k != "label"]
        assert len(texts) == len(set(texts))


def test_no_duplicates_across_columns_too_and_hashed_mode_agrees():
    data = Dataset.from_list([{"anchor": "x", "positive": "y"}, {"anchor": "y", "positive": "z"},
                              {"anchor": "a", "positive": "b"}, {"anchor": "c", "positive": "d"}])
    plain = list(NoDuplicatesBatchSampler(data, 2, False, generator=torch.Generator(), seed=0))
    hashed = NoDuplicatesBatchSampler(data, 2, False, generator=torch.Generator(), seed=0, precompute_hashes=True)
    assert list(hashed) == plain
    for batch in plain:
        texts = [v for i in batch for v in data[i].values()]
        assert len(texts) == len(set(texts))


def test_group_by_label_every_label_at_least_twice():
    data = Dataset.from_list([{"text": str(i), "label": i % 5} for i in range(50)])
    batches = list(make("label", data, 8, seed=2))
    assert batches and len(batches) == len(make("label", data, 8, seed=2))
    for batch in batches:
        labels = [data[i]["label"] for i in batch]
        assert all(labels.count(label) >= 2 for label in labels)
    with pytest.raises(ValueError, match="even number"):
        make("label", data, 5)


def test_multi_dataset_samplers_keep_each_batch_in_one_dataset():
    a, b = rows(8), rows(20)
    concat = ConcatDataset([a, b])

    def subs():
        return [DefaultBatchSampler(EpochRandomSampler(len(d), 0), 4, False) for d in (a, b)]

    robin = list(RoundRobinBatchSampler(concat, subs(), generator=torch.Generator(), seed=0))
    assert len(robin) == 4 and [all(i < 8 for i in bt) for bt in robin] == [True, False, True, False]
    prop = list(ProportionalBatchSampler(concat, subs(), generator=torch.Generator(), seed=0))
    assert len(prop) == 7 and sorted(itertools.chain(*prop)) == list(range(28))
    assert all(all(i < 8 for i in bt) or all(i >= 8 for i in bt) for bt in prop)
    with pytest.raises(ValueError, match="number of batch samplers"):
        RoundRobinBatchSampler(concat, subs()[:1])
