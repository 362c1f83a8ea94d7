"""Training data without the ``datasets`` library: a small column-store ``Dataset`` and input normalisation.

The trainer accepts a ``datasets.Dataset`` / ``DatasetDict`` when the user has one (duck-typed: ``column_names``
and row indexing), a dict of column lists, a list of row dicts, or :class:`Dataset`. A dict of datasets means
multi-dataset training (one loss per dataset name possible).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LABEL_COLUMNS = ("label", "labels", "score", "scores")


class Dataset:
    """Columns of equal length; ``ds[i]`` is a row dict in column order, ``ds["col"]`` a column, ``ds[a:b]`` a dict
    of column slices.

    Example:
        >>> ds = Dataset.from_dict({"anchor": ["a", "b"], "positive": ["x", "y"]})
        >>> ds.column_names, len(ds), ds[1]
        (['anchor', 'positive'], 2, {'anchor': 'b', 'positive': 'y'})
    """

    def __init__(self, columns: Mapping[str, Sequence[Any]]) -> None:
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"all columns must have the same length, got {lengths}")
        self._columns = {name: list(values) for name, values in columns.items()}
        self._length = next(iter(lengths.values()), 0)

    @classmethod
    def from_dict(cls, columns: Mapping[str, Sequence[Any]]) -> Dataset:
        return cls(columns)

    @classmethod
    def from_list(cls, rows: Sequence[Mapping[str, Any]]) -> Dataset:
        if not rows:
            return cls({})
        names = list(rows[0])
        for i, row in enumerate(rows):
            if list(row) != names:
                raise ValueError(f"row {i} has columns {list(row)}, expected {names} (as in row 0)")
        return cls({name: [row[name] for row in rows] for name in names})

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike) -> Dataset:
        rows = []
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise ValueError(f"{path}:{line_no}: not valid JSON ({exc})") from exc
        return cls.from_list(rows)

    @classmethod
    def from_csv(cls, path: str | os.PathLike, delimiter: str | None = None) -> Dataset:
        """Read a CSV/TSV file with a header row (TSV when the name ends in .tsv, unless ``delimiter`` is given)."""
        delimiter = delimiter or ("\t" if str(path).endswith(".tsv") else ",")
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else
                                    csv.QUOTE_MINIMAL)
            rows = [dict(row) for row in reader]
        return cls.from_list(rows)

    @property
    def column_names(self) -> list[str]:
        return list(self._columns)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int | str) -> Any:
        if isinstance(index, str):
            return self._columns[index]
        if isinstance(index, slice):  # a block of rows, column-wise (as datasets.Dataset)
            return {name: values[index] for name, values in self._columns.items()}
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(f"row {index} out of range for a dataset of {self._length} rows")
        return {name: values[index] for name, values in self._columns.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self._length):
            yield self[i]

    def select(self, indices: Sequence[int]) -> Dataset:
        return Dataset({name: [values[i] for i in indices] for name, values in self._columns.items()})

    def select_columns(self, names: Sequence[str]) -> Dataset:
        return Dataset({name: self._columns[name] for name in names})

    def add_column(self, name: str, values: Sequence[Any]) -> Dataset:
        return Dataset({**self._columns, name: list(values)})

    def to_dict(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self._columns.items()}

    def __repr__(self) -> str:
        return f"Dataset(columns={self.column_names}, rows={self._length})"


class StreamedDataset(Dataset):
    """A streamed dataset (``datasets.IterableDataset``) read into memory; the trainer keeps its row order."""


@dataclass
class InputExample:
    """A legacy training example for ``SentenceTransformer.fit``: ``texts`` plus a ``label``.

    Example:
        >>> print(InputExample(texts=["a", "b"], label=1))
        <InputExample> label: 1, texts: a; b
    """

    guid: str = ""
    texts: list[str] = field(default_factory=list)
    label: int | float = 0

    def __post_init__(self) -> None:
        if self.texts is None:
            self.texts = []

    def __str__(self) -> str:
        return f"<InputExample> label: {self.label}, texts: {'; '.join(self.texts)}"


def is_stream(obj: Any) -> bool:
    """A streamed dataset (duck-typed ``datasets.IterableDataset``): iterable rows, no length, no row indexing."""
    return (not isinstance(obj, (Mapping, list, tuple, str)) and hasattr(obj, "__iter__") and
            not hasattr(obj, "__len__") and hasattr(obj, "column_names"))


def _feature_repr(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"List({_feature_repr(value[0]) if value else repr_value('string')})"
    names = {str: "string", bool: "bool", int: "int64", float: "float32"}
    return repr_value(names.get(type(value), "null"))


def repr_value(dtype: str) -> str:
    return f"Value({dtype!r})"


def featureless_stream_hint(dataset: Any, kind: str) -> str:
    """The error for a streamed dataset without Features, with a ``Features`` snippet built from its first row."""
    first = next(iter(dataset))
    features = "{" + ", ".join(f"{k!r}: {_feature_repr(v)}" for k, v in first.items()) + "}"
    return (f"The provided `{kind}_dataset` must have Features. Specify them with e.g.:\n"
            f"{kind}_dataset = {kind}_dataset.cast(Features({features}))\n"
            "or by providing the Features to the IterableDataset initialization method. See the Datasets "
            "documentation for more information on dataset Features: "
            "https://huggingface.co/docs/datasets/en/about_dataset_features")


def row_column_names(dataset: Any) -> list[str]:
    """The columns a dataset's rows hold: its ``column_names``, except for a datasets.Dataset with a transform
    (``set_transform`` / ``with_transform``), whose rows hold what the transform returns: its first row's keys.

    Example:
        >>> row_column_names(Dataset.from_dict({"anchor": ["a"], "positive": ["b"]}))
        ['anchor', 'positive']
    """
    form = getattr(dataset, "format", None)
    if isinstance(form, dict) and form.get("type") == "custom" and len(dataset):
        return list(dataset[0])
    return list(dataset.column_names)


def _is_dataset_like(obj: Any) -> bool:
    return hasattr(obj, "column_names") and hasattr(obj, "__getitem__") and hasattr(obj, "__len__")


def as_dataset(obj: Any, name: str = "train_dataset") -> Any:
    """Normalise one dataset given in any accepted form to something with ``column_names`` and row indexing."""
    if is_stream(obj):
        rows = [dict(row) for row in obj]
        if not rows:
            raise ValueError(f"{name}: the streamed dataset is empty")
        return StreamedDataset.from_list(rows)
    if _is_dataset_like(obj) and not isinstance(obj, Mapping):
        if not isinstance(obj.column_names, list):  # datasets.DatasetDict has a dict of column names
            raise TypeError(f"{name}: expected a single dataset, got {type(obj).__name__}")
        return obj
    if isinstance(obj, Mapping) and obj and all(isinstance(v, (list, tuple)) for v in obj.values()):
        return Dataset.from_dict(obj)
    if isinstance(obj, (list, tuple)) and (not obj or isinstance(obj[0], Mapping)):
        return Dataset.from_list(list(obj))
    if isinstance(obj, (list, tuple)) and isinstance(obj[0], InputExample):
        return examples_to_dataset(list(obj))
    raise TypeError(f"{name}: unsupported type {type(obj).__name__}; give a Dataset, a dict of column lists, a list "
                    f"of row dicts, or a datasets.Dataset")


def is_column_dict(obj: Any) -> bool:
    """A dict of column lists (one dataset), as opposed to a dict of datasets."""
    return isinstance(obj, Mapping) and all(
        isinstance(v, (list, tuple)) and not (v and isinstance(v[0], (Mapping, InputExample))) for v in obj.values()
    )


def as_datasets(obj: Any, name: str = "train_dataset") -> tuple[dict[str, Any], bool]:
    """Normalise the trainer's dataset argument to ({dataset_name: dataset}, is_multi_dataset)."""
    if obj is None:
        return {}, False
    if isinstance(obj, Mapping) and obj and not is_column_dict(obj):
        return {str(k): as_dataset(v, f"{name}[{k!r}]") for k, v in obj.items()}, True
    return {"": as_dataset(obj, name)}, False


def examples_to_dataset(examples: Sequence[InputExample]) -> Dataset:
    """Legacy ``InputExample`` lists -> columns ``sentence_0..n`` (+ ``label``), as ST's ``fit`` does."""
    if not examples:
        raise ValueError("no training examples")
    n = len(examples[0].texts)
    columns: dict[str, list[Any]] = {f"sentence_{i}": [ex.texts[i] for ex in examples] for i in range(n)}
    columns["label"] = [ex.label for ex in examples]
    return Dataset(columns)


def read_table(path: str | os.PathLike) -> Dataset:
    """A dataset from a .jsonl, .csv or .tsv file (with header)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return Dataset.from_jsonl(path)
    if suffix in (".csv", ".tsv"):
        return Dataset.from_csv(path)
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use .jsonl, .csv or .tsv")
