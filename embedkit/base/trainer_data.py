"""How the trainer turns datasets into batches: the batch sampler each dataset gets (``args.batch_sampler``, and
``args.multi_dataset_batch_sampler`` over several), sharded over the ranks; the collation of a batch's rows (the
default :class:`~embedkit.base.data_collator.DataCollator` or a sentence-transformers style one); the eval
``DataLoader`` over several datasets, its rows tagged with their dataset's name.

The functions take the trainer and call its overridable methods (``get_batch_sampler``, ``_collate_rows``, ...)
through it, so a subclass's override takes effect.
"""

from __future__ import annotations

import bisect
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from embedkit import distributed as dist_utils
from embedkit.base.data_collator import Batch, DataCollator, batch_from_dict
from embedkit.base.losses.input_columns import check_row_values
from embedkit.base.sampler import (
    DefaultBatchSampler,
    EpochRandomSampler,
    GroupByLabelBatchSampler,
    NoDuplicatesBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
    ShardedBatchSampler,
)
from embedkit.base.training_args import BatchSamplers, MultiDatasetBatchSamplers
from embedkit.data import LABEL_COLUMNS, StreamedDataset

if TYPE_CHECKING:
    from embedkit.base.trainer import BaseTrainer

logger = logging.getLogger("embedkit.base.trainer")  # the trainer's messages keep the trainer's logger name


class _NamedRows(torch.utils.data.Dataset):
    """Rows of several datasets by global index (offsets in order), each tagged with its dataset's name when
    ``named``, so one collate function can resolve per-dataset prompts, routes and losses."""

    def __init__(self, datasets: dict[str, Any], named: bool) -> None:
        self.datasets, self.named = list(datasets.items()), named
        self.offsets = [0, *np.cumsum([len(d) for _, d in self.datasets]).tolist()]

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        which = bisect.bisect_right(self.offsets, index) - 1
        name, dataset = self.datasets[which]
        row = dict(dataset[index - self.offsets[which]])
        if self.named and name:
            row["dataset_name"] = name
        return row


def to_device(value: Any, device: torch.device) -> Any:
    """A batch's tensors (alone, or in dicts and lists) on ``device``; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [to_device(v, device) for v in value]
    return value


def dataset_offsets(datasets: dict[str, Any]) -> list[int]:
    """The global index of each dataset's first row, the datasets taken in order."""
    offsets, total = [], 0
    for dataset in datasets.values():
        offsets.append(total)
        total += len(dataset)
    return offsets


def get_batch_sampler(trainer: BaseTrainer, dataset: Any, batch_size: int, drop_last: bool,
                      valid_label_columns: list[str] | None = None, generator: torch.Generator | None = None,
                      seed: int = 0) -> Any:
    """The batch sampler ``args.batch_sampler`` names for one dataset (:meth:`BaseTrainer.get_batch_sampler`)."""
    kwargs = {"batch_size": batch_size, "drop_last": drop_last, "valid_label_columns": valid_label_columns,
              "generator": generator, "seed": seed}
    kind = trainer.args.batch_sampler
    if callable(kind) and not isinstance(kind, BatchSamplers):
        return kind(dataset, **kwargs)
    if isinstance(dataset, StreamedDataset):
        if kind != BatchSamplers.BATCH_SAMPLER:
            logger.warning("When using an IterableDataset, you cannot specify a batch sampler.")
        return DefaultBatchSampler(range(len(dataset)), **kwargs)
    if kind == BatchSamplers.NO_DUPLICATES:
        return NoDuplicatesBatchSampler(dataset, **kwargs)
    if kind == BatchSamplers.NO_DUPLICATES_HASHED:
        return NoDuplicatesBatchSampler(dataset, precompute_hashes=True, **kwargs)
    if kind == BatchSamplers.GROUP_BY_LABEL:
        return GroupByLabelBatchSampler(dataset, **kwargs)
    return DefaultBatchSampler(EpochRandomSampler(len(dataset), seed if seed is not None else 0), **kwargs)


def get_multi_dataset_batch_sampler(trainer: BaseTrainer, dataset: Any, batch_samplers: list[Any],
                                    generator: torch.Generator | None = None, seed: int | None = 0) -> Any:
    """The sampler ``args.multi_dataset_batch_sampler`` names (:meth:`BaseTrainer.get_multi_dataset_batch_sampler`)."""
    kwargs = {"batch_samplers": batch_samplers, "generator": generator, "seed": seed}
    kind = trainer.args.multi_dataset_batch_sampler
    if callable(kind) and not isinstance(kind, MultiDatasetBatchSamplers):
        return kind(dataset, **kwargs)
    if kind == MultiDatasetBatchSamplers.ROUND_ROBIN:
        return RoundRobinBatchSampler(dataset=dataset, **kwargs)
    return ProportionalBatchSampler(dataset=dataset, **kwargs)


def sharded_batch_sampler(trainer: BaseTrainer, datasets: dict[str, Any], per_device: int, rank: int, world: int
                          ) -> ShardedBatchSampler:
    """This rank's batches over ``datasets``: the sampler of the global batch, sharded over the ranks."""
    args = trainer.args
    seed = args.data_seed if args.data_seed is not None else args.seed
    generator = torch.Generator().manual_seed(seed)
    labels = list(getattr(trainer.data_collator, "valid_label_columns", LABEL_COLUMNS))
    samplers = [trainer.get_batch_sampler(d, per_device * world, args.dataloader_drop_last, labels, generator, seed)
                for d in datasets.values()]
    if len(samplers) == 1:
        return ShardedBatchSampler(samplers[0], rank, world)
    concat = torch.utils.data.ConcatDataset(list(datasets.values()))
    return ShardedBatchSampler(trainer.get_multi_dataset_batch_sampler(concat, samplers, generator, seed), rank,
                               world)


def collate_indices(trainer: BaseTrainer, indices: list[int], datasets: dict[str, Any], multi: bool | None = None
                    ) -> Batch:
    """The batch of the rows at global ``indices`` (all in one dataset); named by its dataset when ``multi``
    (default: the trainer trains on several datasets)."""
    offsets, names = trainer._offsets(datasets), list(datasets)
    which = bisect.bisect_right(offsets, indices[0]) - 1
    dataset = datasets[names[which]]
    rows = [dataset[i - offsets[which]] for i in indices]
    name = names[which] if (trainer.multi_dataset if multi is None else multi) else None
    if not trainer._custom_collator:  # a None text / None or NaN label is named before this batch trains
        check_row_values(rows, [i - offsets[which] for i in indices], trainer._label_column(list(rows[0])),
                         names[which] or "train")
    return trainer._collate_rows(rows, name)


def label_column(trainer: BaseTrainer, columns: list[str]) -> list[str]:
    """``[the label column]`` among a batch's row ``columns`` (the first present among the collator's label names,
    read from the rows, so a dataset transform's columns count), or ``[]``."""
    names = getattr(trainer.data_collator, "valid_label_columns", LABEL_COLUMNS)
    return [c for c in names if c in columns][:1]


def collate_rows(trainer: BaseTrainer, rows: list[dict[str, Any]], name: str | None) -> Batch:
    """The trainer's collator applied to ``rows`` of the dataset ``name``, as a :class:`Batch`."""
    if isinstance(trainer.data_collator, DataCollator):
        return trainer.data_collator(rows, dataset_name=name)
    # a sentence-transformers style collator: rows carry dataset_name, the result is a dict
    if name is not None:
        rows = [{**row, "dataset_name": name} for row in rows]
    out = trainer.data_collator(rows)
    if isinstance(out, Batch):
        return out
    labels = getattr(trainer.data_collator, "valid_label_columns", LABEL_COLUMNS)
    return batch_from_dict(out, rows, labels)


def build_dataloader(trainer: BaseTrainer, datasets: dict[str, Any], multi: bool, per_device: int
                     ) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` of collated batches over ``datasets`` (rows tagged with their dataset's name when
    ``multi``), batched by the trainer's sampler and loaded with the ``dataloader_*`` settings."""
    args = trainer.args
    sampler = trainer._batch_sampler(datasets, per_device, dist_utils.get_rank(), dist_utils.get_world_size())
    rows = _NamedRows(datasets, multi)
    workers = args.dataloader_num_workers
    extra = {"persistent_workers": args.dataloader_persistent_workers,
             "prefetch_factor": args.dataloader_prefetch_factor} if workers > 0 else {}
    return torch.utils.data.DataLoader(rows, batch_sampler=sampler, collate_fn=trainer._collate_named,
                                       num_workers=workers, pin_memory=args.dataloader_pin_memory and
                                       torch.cuda.is_available(), **extra)


def collate_named(trainer: BaseTrainer, rows: list[dict[str, Any]]) -> Batch:
    """Collate rows of :class:`_NamedRows`: their ``dataset_name`` tag names the batch and is dropped from the rows."""
    name = rows[0].get("dataset_name") if rows else None
    return trainer._collate_rows([{k: v for k, v in row.items() if k != "dataset_name"} for row in rows], name)
