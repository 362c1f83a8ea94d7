"""Rows -> (features per column, labels), with sentence-transformers' column conventions.

The column order gives the inputs: ``features[i]`` is the tokenized i-th non-label column. The first present column
among ``label``, ``labels``, ``score``, ``scores`` becomes the labels tensor. Prompts may be one string, a dict per
column, a dict per dataset, or per dataset and column; ``router_mapping`` maps columns (or dataset -> column) to a
Router route, passed as ``task``. Cross-encoder collation keeps the raw texts (the loss builds pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from embedkit.data import LABEL_COLUMNS


@dataclass
class Batch:
    features: list[Any]
    """Per input column: a tokenized features dict (or the raw values for cross-encoders)."""
    labels: Tensor | list[Tensor] | None
    columns: list[str]
    dataset_name: str | None = None

    def __len__(self) -> int:
        return len(self.features)


def _by_dataset(mapping: Any, dataset_name: str | None, what: str) -> Any:
    """Resolve a per-dataset level of ``mapping`` (prompts or router_mapping) when there is one."""
    if isinstance(mapping, dict) and mapping and all(isinstance(v, dict) for v in mapping.values()):
        if dataset_name is None:
            raise ValueError(f"{what} is nested per dataset ({sorted(mapping)}) but training uses a single dataset")
        return mapping.get(dataset_name, {})
    if isinstance(mapping, dict) and dataset_name is not None and dataset_name in mapping:
        return mapping[dataset_name]
    return mapping


def _to_labels(values: list[Any], column: str) -> Tensor | list[Tensor]:
    if isinstance(values[0], Tensor):
        return torch.stack(values)
    if isinstance(values[0], (list, tuple)) and len({len(v) for v in values}) > 1:
        return [torch.tensor(v) for v in values]  # listwise labels of different lengths
    try:
        return torch.tensor(values)
    except (TypeError, ValueError) as exc:
        bad = next((i for i, v in enumerate(values) if not isinstance(v, (int, float, bool, list, tuple))), 0)
        raise TypeError(f"label column {column!r}: row {bad} holds {values[bad]!r} ({type(values[bad]).__name__}); "
                        f"expected numbers (or equal-length lists of numbers)") from exc


class DataCollator:
    """Collate dataset rows into a :class:`Batch`.

    Args:
        preprocess_fn: the model's ``preprocess(texts, prompt=..., task=...)``; None keeps raw values (cross-encoder).
        valid_label_columns: label column names, in order of preference.
        router_mapping: column -> route (or dataset -> column -> route).
        prompts: str, column -> prompt, dataset -> prompt, or dataset -> column -> prompt.

    Example:
        >>> collate = DataCollator(lambda texts, **kw: {"texts": texts, **kw})
        >>> batch = collate([{"anchor": "a", "positive": "b", "score": 0.5}], dataset_name=None)
        >>> batch.columns, batch.features[0], batch.labels
        (['anchor', 'positive'], {'texts': ['a'], 'prompt': None}, tensor([0.5000]))
    """

    def __init__(self, preprocess_fn: Callable[..., Any] | None,
                 valid_label_columns: Sequence[str] = LABEL_COLUMNS,
                 router_mapping: dict[str, Any] | None = None, prompts: str | dict[str, Any] | None = None) -> None:
        self.preprocess_fn = preprocess_fn
        self.valid_label_columns = list(valid_label_columns)
        self.router_mapping = router_mapping or {}
        self.prompts = prompts

    def __call__(self, rows: list[dict[str, Any]], dataset_name: str | None = None) -> Batch:
        if not rows:
            raise ValueError("cannot collate an empty batch")
        columns = [c for c in rows[0] if c != "dataset_name"]
        label_column = next((c for c in self.valid_label_columns if c in columns), None)
        labels = _to_labels([row[label_column] for row in rows], label_column) if label_column else None
        inputs = [c for c in columns if c != label_column]
        prompts = _by_dataset(self.prompts, dataset_name, "prompts")
        routes = _by_dataset(self.router_mapping, dataset_name, "router_mapping")
        features = []
        for column in inputs:
            values = [row[column] for row in rows]
            if self.preprocess_fn is None:
                features.append(values)
                continue
            prompt = prompts if isinstance(prompts, str) else (prompts or {}).get(column)
            kwargs: dict[str, Any] = {"prompt": prompt}
            if routes and column in routes:
                kwargs["task"] = routes[column]
            try:
                features.append(self.preprocess_fn(values, **kwargs))
            except TypeError as exc:
                raise TypeError(f"column {column!r}: {exc}") from exc
        return Batch(features, labels, inputs, dataset_name)
