"""CrossEncoderDataCollator: batches of raw text columns for CrossEncoder losses.

A CrossEncoder loss builds its (text, text) pairs itself and tokenizes them with ``model.preprocess``, so the
collator leaves the text columns untouched. Prompts and Router tasks apply to whole pairs, never to one column:
each is one string for every batch, or one string per dataset name.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import torch

from embedkit.base.data_collator import Batch, DataCollator, _to_labels

__all__ = ["CrossEncoderDataCollator"]

_TRAINER_CALL = object()


@dataclass
class CrossEncoderDataCollator(DataCollator):
    """Collate dataset rows into raw text columns, a ``label`` tensor and this batch's ``prompt`` / ``task``.

    Args:
        preprocess_fn: the model's ``preprocess`` (kept for signature parity; texts are not tokenized here).
        valid_label_columns: label column names, in order of preference.
        router_mapping: one task for every pair, or dataset name -> task.
        prompts: one prompt for every pair, or dataset name -> prompt.

    Calling it with the rows alone returns sentence-transformers' batch dict: one list per text column,
    ``label`` (a tensor, or a list of tensors for listwise labels), and ``prompt`` / ``task`` / ``dataset_name``
    when set. Called as the embedkit trainer does (``collator(rows, dataset_name=...)``) it returns a
    :class:`~embedkit.base.data_collator.Batch` of the same raw columns, with ``prompt`` and ``task`` attributes.

    Raises:
        ValueError: ``prompts`` or ``router_mapping`` maps a dataset to per-column values.

    Example:
        >>> collate = CrossEncoderDataCollator(preprocess_fn=None, prompts="Rerank: ")
        >>> batch = collate([{"query": "q1", "doc": "d1", "label": 1}, {"query": "q2", "doc": "d2", "label": 0}])
        >>> batch["query"], batch["doc"], batch["label"], batch["prompt"]
        (['q1', 'q2'], ['d1', 'd2'], tensor([1, 0]), 'Rerank: ')
    """

    def __post_init__(self) -> None:
        if isinstance(self.prompts, dict) and any(isinstance(v, dict) for v in self.prompts.values()):
            raise ValueError(
                "CrossEncoder prompts cannot be per-column. Inputs from multiple columns are combined into pairs, "
                "so only a single prompt string or a per-dataset mapping of prompt strings is supported. For "
                "example: prompts='Search: ' or prompts={'dataset_a': 'Search: ', 'dataset_b': 'Retrieve: '}"
            )
        if isinstance(self.router_mapping, dict) and any(isinstance(v, dict) for v in self.router_mapping.values()):
            raise ValueError(
                "CrossEncoder router_mapping cannot be per-column. Inputs from multiple columns are combined into "
                "pairs, so only a per-dataset mapping of task strings is supported. For example: "
                "router_mapping={'dataset_a': 'rerank', 'dataset_b': 'rerank'}"
            )

    @staticmethod
    def _resolve_scalar(mapping: str | dict[str, str] | None, dataset_name: str | None) -> str | None:
        """One value for this batch: the string itself, or the entry of ``dataset_name`` in a per-dataset map."""
        if not mapping:
            return None
        if isinstance(mapping, str):
            return mapping
        if isinstance(mapping, dict) and dataset_name is not None:
            return mapping.get(dataset_name)
        return None

    def __call__(self, features: list[dict[str, Any]], dataset_name: Any = _TRAINER_CALL  # type: ignore[override]
                 ) -> Any:
        if not features:
            raise ValueError("cannot collate an empty batch")
        trainer_call = dataset_name is not _TRAINER_CALL
        name = dataset_name if trainer_call else features[0].get("dataset_name")
        columns = [c for c in features[0] if c != "dataset_name"]
        label_column = next((c for c in self.valid_label_columns if c in columns), None)
        inputs = [c for c in columns if c != label_column]
        labels: Any = None
        if label_column is not None:
            values = [row[label_column] for row in features]
            listwise = isinstance(values[0], Collection) and not isinstance(values[0], (str, torch.Tensor))
            if listwise and not trainer_call:
                labels = [torch.tensor(v) for v in values]
            else:
                labels = _to_labels(values, label_column)
        prompt = self._resolve_scalar(self.prompts, name)
        task = self._resolve_scalar(self.router_mapping, name)
        if trainer_call:
            batch = Batch([[row[c] for row in features] for c in inputs], labels, inputs, name, len(features))
            batch.prompt = prompt  # type: ignore[attr-defined]
            batch.task = task  # type: ignore[attr-defined]
            return batch
        out: dict[str, Any] = {}
        if name is not None:
            out["dataset_name"] = name
        if labels is not None:
            out["label"] = labels
        if prompt:
            out["prompt"] = prompt
        if task:
            out["task"] = task
        for column in inputs:
            out[column] = [row[column] for row in features]
        return out
