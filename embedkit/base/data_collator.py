"""Rows -> (features per column, labels), with sentence-transformers' column conventions.

The column order gives the inputs: ``features[i]`` is the tokenized i-th non-label column. The first present column
among ``label``, ``labels``, ``score``, ``scores`` becomes the labels tensor. Prompts may be one string, a dict per
column, a dict per dataset, or per dataset and column; ``router_mapping`` maps columns (or dataset -> column) to a
Router route, passed as ``task``. Cross-encoder collation keeps the raw texts (the loss builds pairs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from embedkit.data import LABEL_COLUMNS

logger = logging.getLogger(__name__)

DEFAULT_LABEL_COLUMNS: tuple[str, ...] = LABEL_COLUMNS
"""The label columns a collator looks for, in order (sentence-transformers' name)."""
_warned_messages: set[str] = set()

# Columns whose name suggests a position in the loss's input order (anchor first, positive second...).
_EXPECTED_POSITION = {"anchor": 0, "positive": 1, "negative": 2, "question": 0, "answer": 1, "query": 0,
                      "response": 1, "hypothesis": 0, "entailment": 1, "contradiction": 2}
_POSITION_GROUPS = (("anchor", "positive", "negative"), ("question", "answer"), ("query", "response"),
                    ("hypothesis", "entailment", "contradiction"))


@dataclass
class Batch:
    features: list[Any]
    """Per input column: a tokenized features dict (or the raw values for cross-encoders)."""
    labels: Tensor | list[Tensor] | None
    columns: list[str]
    dataset_name: str | None = None
    num_rows: int = 0
    """Rows in the batch."""

    def __len__(self) -> int:
        return len(self.features)


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


@dataclass
class BaseDataCollator:
    """Collate dataset rows into sentence-transformers' batch dict: ``{column}_{feature}`` per input column
    (``{column}_input_ids``, ``{column}_attention_mask``...), ``label`` and, when set, ``dataset_name`` and
    ``{column}_task``.

    The first column among ``valid_label_columns`` becomes ``label``; every other column is passed, in order, to
    ``preprocess_fn(values, prompt=..., task=...)``. Column order matters (most losses take the first column as the
    anchor): a warning names a column whose usual position differs, and columns named like IDs (``id``,
    ``*_id``...) are flagged since they would be trained on as text.

    Args:
        preprocess_fn: typically ``model.preprocess``.
        valid_label_columns: label column names, in order of preference.
        router_mapping: column -> Router route, or dataset name -> (column -> route).
        prompts: one prompt, column -> prompt, dataset -> prompt, or dataset -> (column -> prompt).
        max_length: a token cap for every column (int) or per route (dict keyed by task); passed to
            ``preprocess_fn`` only when set.

    Example:
        >>> collate = BaseDataCollator(lambda texts, prompt=None, task=None: {"n": len(texts)})
        >>> batch = collate([{"anchor": "a", "positive": "b", "score": 0.5}])
        >>> sorted(batch), batch["label"]
        (['anchor_n', 'label', 'positive_n'], tensor([0.5000]))
    """

    preprocess_fn: Callable[..., Any] | None
    valid_label_columns: list[str] = field(default_factory=lambda: list(LABEL_COLUMNS))
    router_mapping: dict[str, Any] | None = field(default_factory=dict, repr=False)
    prompts: str | dict[str, Any] | None = field(default_factory=dict, repr=False)
    max_length: int | dict[str, int] | None = field(default=None, repr=False)
    _warned_columns: set[tuple[str, ...]] = field(default_factory=set, init=False, repr=False)

    # ---------------------------------------------------------------- resolution helpers
    def _resolve_router_mapping(self, batch: dict[str, Any]) -> dict[str, Any]:
        """This batch's column -> route mapping (a per-dataset level is resolved by ``batch["dataset_name"]``)."""
        mapping = self.router_mapping
        if mapping and isinstance(mapping, dict) and isinstance(next(iter(mapping.values())), dict):
            return mapping.get(batch.get("dataset_name"), {}) if "dataset_name" in batch else {}
        return mapping or {}

    def _resolve_prompts(self, batch: dict[str, Any]) -> str | dict[str, Any] | None:
        """This batch's prompt(s): a string, or column -> prompt."""
        prompts = self.prompts
        if not isinstance(prompts, dict) or not prompts:
            return prompts
        if "dataset_name" in batch and batch["dataset_name"] in prompts:
            return prompts[batch["dataset_name"]]
        if isinstance(next(iter(prompts.values())), dict):
            if "dataset_name" not in batch:
                raise ValueError(
                    "The prompts provided to the trainer are a nested dictionary. In this setting, the first level of "
                    "the dictionary should map to dataset names and the second level to column names. However, as "
                    "the provided dataset is a not a DatasetDict, no dataset names can be inferred. The keys to the "
                    f"provided prompts dictionary are {list(prompts.keys())!r}")
            return {}
        return prompts

    def _get_prompt_for_column(self, prompts: str | dict[str, Any] | None, column_name: str) -> str | None:
        if isinstance(prompts, str):
            return prompts
        if isinstance(prompts, dict):
            return prompts.get(column_name)
        return None

    def _get_task_for_column(self, column_name: str, column_position: int, router_mapping: dict[str, Any]
                             ) -> str | None:
        """The route a column is preprocessed with (subclasses may add positional defaults)."""
        return router_mapping.get(column_name)

    def _get_max_length_for_task(self, task: str | None) -> int | None:
        if isinstance(self.max_length, int):
            return self.max_length
        if isinstance(self.max_length, dict) and task is not None:
            return self.max_length.get(task)
        return None

    def maybe_warn_about_column_order(self, column_names: list[str]) -> None:
        """Warn (once per column list) when a conventionally named column sits at an unusual position."""
        for name, expected in _EXPECTED_POSITION.items():
            if name in column_names and column_names.index(name) != expected:
                group = next(list(g) for g in _POSITION_GROUPS if name in g)
                logger.warning(
                    f"Column {name!r} is at index {column_names.index(name)}, whereas a column with this name is "
                    f"usually expected at index {expected}. Note that the column order can be important for some "
                    "losses, e.g. MultipleNegativesRankingLoss will always consider the first column as the anchor "
                    "and the second as the positive, regardless of the dataset column names. Consider renaming the "
                    f"columns to match the expected order, e.g.:\ndataset = dataset.select_columns({group})")
                break
        self._warned_columns.add(tuple(column_names))

    def _split_columns(self, rows: list[dict[str, Any]], batch: dict[str, Any]) -> tuple[list[str], str | None]:
        """(input columns, label column) of ``rows``, after the per-column-list warnings."""
        columns = [c for c in rows[0] if c != "dataset_name"]
        if tuple(columns) not in self._warned_columns:
            self.maybe_warn_about_column_order(columns)
        label_column = next((c for c in self.valid_label_columns if c in columns), None)
        inputs = [c for c in columns if c != label_column]
        id_like = [c for c in inputs if c == "id" or c.endswith(("_id", "_ids", "_idx"))]
        if id_like:
            message = (f"Column(s) {id_like} look like ID columns, but they will be tokenized and trained on as "
                       "text. If they hold IDs, resolve them to their values first, e.g. with "
                       "`embedkit.util.resolve_ids`, or remove them from the dataset.")
            if message not in _warned_messages:
                _warned_messages.add(message)
                logger.warning(message)
        return inputs, label_column

    def _preprocess(self, values: list[Any], column: str, position: int, prompts: Any, routes: dict[str, Any]
                    ) -> tuple[Any, str | None]:
        task = self._get_task_for_column(column, position, routes)
        kwargs: dict[str, Any] = {"prompt": self._get_prompt_for_column(prompts, column), "task": task}
        max_length = self._get_max_length_for_task(task)
        if max_length is not None:  # only when set: preprocess functions without **kwargs keep working
            kwargs["max_length"] = max_length
        return self.preprocess_fn(values, **kwargs), task

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if not features:
            return {}
        batch: dict[str, Any] = {}
        if "dataset_name" in features[0]:
            batch["dataset_name"] = features[0]["dataset_name"]
        inputs, label_column = self._split_columns(features, batch)
        if label_column is not None:
            batch["label"] = _to_labels([row[label_column] for row in features], label_column)
        routes, prompts = self._resolve_router_mapping(batch), self._resolve_prompts(batch)
        for position, column in enumerate(inputs):
            out, task = self._preprocess([row[column] for row in features], column, position, prompts, routes)
            for key, value in out.items():
                batch[f"{column}_{key}"] = value
            if task is not None:
                batch[f"{column}_task"] = task
        return batch


@dataclass
class DataCollator(BaseDataCollator):
    """The trainer's collator: the same resolution as :class:`BaseDataCollator`, returning a :class:`Batch`
    (features per input column, in column order). ``preprocess_fn=None`` keeps the raw values (cross-encoders).

    Example:
        >>> collate = DataCollator(lambda texts, **kw: {"texts": texts, **kw})
        >>> batch = collate([{"anchor": "a", "positive": "b", "score": 0.5}], dataset_name=None)
        >>> batch.columns, batch.features[0], batch.labels
        (['anchor', 'positive'], {'texts': ['a'], 'prompt': None, 'task': None}, tensor([0.5000]))
    """

    def __call__(self, rows: list[dict[str, Any]], dataset_name: str | None = None) -> Batch:  # type: ignore[override]
        if not rows:
            raise ValueError("cannot collate an empty batch")
        context = {"dataset_name": dataset_name} if dataset_name is not None else {}
        inputs, label_column = self._split_columns(rows, context)
        labels = _to_labels([row[label_column] for row in rows], label_column) if label_column else None
        routes, prompts = self._resolve_router_mapping(context), self._resolve_prompts(context)
        features = []
        for position, column in enumerate(inputs):
            values = [row[column] for row in rows]
            if self.preprocess_fn is None:
                features.append(values)
                continue
            try:
                features.append(self._preprocess(values, column, position, prompts, routes)[0])
            except TypeError as exc:
                raise TypeError(f"column {column!r}: {exc}") from exc
        return Batch(features, labels, inputs, dataset_name, len(rows))


def batch_from_dict(batch: dict[str, Any], rows: list[dict[str, Any]], valid_label_columns: Sequence[str]) -> Batch:
    """Turn a sentence-transformers batch dict (``{column}_{feature}`` keys) back into a :class:`Batch`."""
    columns = [c for c in rows[0] if c != "dataset_name" and c not in valid_label_columns]
    features = []
    for column in columns:
        longer = [c for c in columns if c != column and c.startswith(column + "_")]
        prefix = column + "_"
        feats = {k[len(prefix):]: v for k, v in batch.items()
                 if k.startswith(prefix) and not any(k.startswith(c + "_") for c in longer)}
        features.append(feats)
    return Batch(features, batch.get("label"), columns, batch.get("dataset_name"), len(rows))
