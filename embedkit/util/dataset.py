"""Resolving ID columns of a training dataset to values held in lookup datasets (``resolve_ids``).

Works on Hugging Face ``datasets.Dataset`` objects without importing ``datasets``: lookups are read through
the ``Dataset`` interface (``column_names``, ``with_format``, ``select_columns``, ``iter``, row indexing).
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal

import numpy as np

__all__ = ["DEFAULT_LABEL_COLUMNS", "resolve_ids"]

logger = logging.getLogger(__name__)

# The label columns the data collators recognize by default.
DEFAULT_LABEL_COLUMNS: tuple[str, ...] = ("label", "labels", "score", "scores")

# Fixed-width numpy string arrays are sized by the longest id: past this many bytes per entry the sorted
# arrays cost more memory than a dict, so the dict is used instead (128 bytes = 32 UCS-4 characters).
_MAX_SORTED_ITEMSIZE = 128

_FORMAT_HINT = "Call dataset.with_format(None) before applying the transform."


class _SortedIdIndex:
    """``id -> row`` lookup held in two sorted numpy arrays (ids and their row positions).

    Compared with a dict this keeps a small, flat footprint that pickles quickly into DataLoader workers; a
    lookup is a binary search. A duplicated id maps to its last row, like a dict built in row order.
    """

    __slots__ = ("keys", "positions")

    def __init__(self, keys: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        last_of_run = np.ones(len(ordered), dtype=bool)
        if len(ordered) > 1:
            last_of_run[:-1] = ordered[1:] != ordered[:-1]
        self.keys = ordered[last_of_run]
        self.positions = order[last_of_run]

    def __len__(self) -> int:
        return len(self.keys)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of ``ids``; ``KeyError(first missing id)`` if any is absent."""
        if len(self.keys):
            slots = np.minimum(np.searchsorted(self.keys, ids), len(self.keys) - 1)
            hit = self.keys[slots] == ids
            if hit.all():
                return self.positions[slots]
            missing = ids[int(np.argmin(hit))]
        else:
            missing = ids[0]
        raise KeyError(missing.item() if ids.dtype.kind in "iuf" else str(missing))


def _class_names(obj: Any) -> set[str]:
    return {cls.__name__ for cls in type(obj).__mro__}


def _is_dataset_dict(obj: Any) -> bool:
    return bool(_class_names(obj) & {"DatasetDict", "IterableDatasetDict"})


def _is_dataset(obj: Any) -> bool:
    return not isinstance(obj, Mapping) and all(
        hasattr(obj, attr) for attr in ("column_names", "with_format", "select_columns", "num_rows")
    )


def _infer_id_col(columns: list[str], input_col: str) -> str:
    candidates = [col for col in columns if col == "id" or col.endswith("_id")]
    if len(candidates) != 1:
        raise ValueError(
            f"Cannot infer the ID column of lookups[{input_col!r}]: expected exactly one column named 'id' or "
            f"ending in '_id', found {candidates or 'none'} among {sorted(columns)}. Pass an explicit "
            "(dataset, id_col) tuple."
        )
    return candidates[0]


def _infer_value_col(columns: list[str], id_col: str, input_col: str) -> str:
    others = [col for col in columns if col != id_col]
    if len(others) != 1:
        raise ValueError(
            f"Cannot infer the value column of lookups[{input_col!r}]: expected exactly one column besides "
            f"{id_col!r}, found {others or 'none'}. Pass an explicit (dataset, id_col, value_col) tuple."
        )
    return others[0]


def _output_name(input_col: str, plural: bool = False) -> str:
    """``query_id`` -> ``query``; in plural mode ``document_ids`` -> ``documents``, ``query_ids`` -> ``queries``."""
    rules = ({"y_ids": "ies", "_ids": "s", "_id": "", "_idx": ""} if plural
             else {"_ids": "", "_id": "", "_idx": ""})
    for suffix, replacement in rules.items():
        if input_col.endswith(suffix):
            return input_col[: -len(suffix)] + replacement
    return input_col


def _looks_string_encoded(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("[")


def _parse_string_lists(column: list, col_name: str) -> list:
    """Parse a column of Python-literal list strings (``"['d1', 'd2']"``) into lists."""
    parsed = []
    for row in column:
        try:
            value = ast.literal_eval(row)
        except (ValueError, SyntaxError) as error:
            raise ValueError(
                f"Column {col_name!r} looks like it holds string-encoded lists, but a row failed to parse "
                f"({error}): {row[:100]!r}"
            ) from None
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f"Column {col_name!r} looks like it holds string-encoded lists, but a row parsed to "
                f"{type(value).__name__} instead of a list: {row[:100]!r}"
            )
        parsed.append(list(value))
    return parsed


def _fetch(ids: list, values: Any, index: _SortedIdIndex | dict, value_col: str, input_col: str) -> list:
    """Values of ``ids`` read from the single-column lookup view ``values``."""
    if not ids:
        return []
    try:
        if isinstance(index, _SortedIdIndex):
            wanted = np.asarray(ids)
            if wanted.dtype.kind == "O" or wanted.dtype.kind != index.keys.dtype.kind:
                raise KeyError(ids[0])  # ids of another type can never match the typed keys
            rows = index.lookup(wanted).tolist()
        else:
            rows = [index[key] for key in ids]
    except TypeError:
        raise TypeError(
            f"IDs from input column {input_col!r} are not hashable, which typically means the train dataset "
            f"carries a format (e.g. with_format('numpy')). {_FORMAT_HINT}"
        ) from None
    except KeyError as error:
        missing = error.args[0]
        hint = (" The ID looks like a string-encoded list. Convert the column to native lists first."
                if _looks_string_encoded(missing) else "")
        raise KeyError(
            f"ID {missing!r} from input column {input_col!r} was not found in its lookup dataset.{hint}"
        ) from None
    return values[rows][value_col]


def _put(out: dict[str, Any], name: str, values: Any) -> None:
    if name in out:
        raise ValueError(
            f"Output column {name!r} is produced more than once (e.g. two lookups entries resolving to the same "
            "name, or an expanded list column colliding with another entry). Rename the input columns to "
            "disambiguate."
        )
    out[name] = values


def _resolve_batch(
    batch: dict[str, Any],
    resolutions: dict[str, tuple[Any, _SortedIdIndex | dict, str, str, str]],
    keep_columns: tuple[str, ...],
    max_list_length: int | None,
    output_format: Literal["columns", "lists"],
) -> dict[str, Any]:
    """The batched transform built by :func:`resolve_ids` (module level so that it pickles)."""
    if not isinstance(batch, Mapping):
        raise TypeError(
            f"resolve_ids expects batches as plain column dicts, got {type(batch).__name__}: the train dataset "
            f"carries a format (e.g. with_format('pandas')). {_FORMAT_HINT}"
        )
    out: dict[str, Any] = {}
    for input_col, (values, index, value_col, single_name, plural_name) in resolutions.items():
        column = batch[input_col]
        if not isinstance(column, list):
            raise TypeError(
                f"Input column {input_col!r} holds a {type(column).__name__} rather than a list, which means the "
                f"train dataset carries a format (e.g. with_format('numpy')). {_FORMAT_HINT}"
            )
        if column and _looks_string_encoded(column[0]):
            column = _parse_string_lists(column, input_col)
        if not (column and isinstance(column[0], (list, tuple))):
            _put(out, single_name, _fetch(list(column), values, index, value_col, input_col))
            continue
        if max_list_length is not None:
            column = [row[:max_list_length] for row in column]
        flat = _fetch([key for row in column for key in row], values, index, value_col, input_col)
        if output_format == "lists":
            nested, start = [], 0
            for row in column:
                nested.append(flat[start : start + len(row)])
                start += len(row)
            _put(out, plural_name, nested)
            continue
        lengths = sorted({len(row) for row in column})
        if len(lengths) != 1:
            raise ValueError(
                f"Rows of input column {input_col!r} hold lists of differing lengths {lengths}. List columns "
                "expand into one output column per position, which requires the same length on every row. Set "
                'max_list_length to cap all rows to a common length, or output_format="lists" to keep nested '
                "lists (the CrossEncoder listwise shape, which allows ragged rows)."
            )
        width = lengths[0]
        if width == 0:
            raise ValueError(
                f"Rows of input column {input_col!r} hold empty ID lists, so there are no positions to expand "
                "into columns. Filter such rows out of the dataset."
            )
        for position in range(width):
            _put(out, f"{single_name}_{position + 1}", flat[position::width])
    for keep_col in keep_columns:
        if keep_col not in batch:
            continue
        kept = batch[keep_col]
        if len(kept) and _looks_string_encoded(kept[0]):
            kept = _parse_string_lists(kept, keep_col)
        per_row_lists = len(kept) > 0 and not isinstance(kept[0], (str, bytes)) and hasattr(kept[0], "__len__")
        if max_list_length is not None and per_row_lists:
            kept = [row[:max_list_length] for row in kept]
        _put(out, keep_col, kept)
    return out


def _read_ids(dataset: Any, id_col: str) -> list:
    ids: list = []
    if hasattr(dataset, "iter"):
        for chunk in dataset.select_columns([id_col]).iter(batch_size=50_000):
            ids.extend(chunk[id_col])
    else:
        ids.extend(dataset[id_col])
    return ids


def _build_index(dataset: Any, id_col: str) -> _SortedIdIndex | dict:
    ids = _read_ids(dataset, id_col)
    keys = np.asarray(ids)
    feature = getattr(getattr(dataset, "features", None), "get", lambda _: None)(id_col)
    if (
        keys.ndim == 1
        and keys.dtype.kind in "iufUS"
        and keys.itemsize <= _MAX_SORTED_ITEMSIZE
        and getattr(feature, "dtype", None) != "uint64"
    ):
        return _SortedIdIndex(keys)
    return {key: position for position, key in enumerate(ids)}


def resolve_ids(
    lookups: dict[str, Any],
    keep_columns: list[str] | tuple[str, ...] = DEFAULT_LABEL_COLUMNS,
    max_list_length: int | None = None,
    output_format: Literal["columns", "lists"] = "columns",
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Build a batched transform that replaces ID columns by the values they point to in lookup datasets.

    Meant for IR datasets that store query/document IDs next to separate text datasets: pass the result to
    ``Dataset.set_transform`` (lazy) or ``Dataset.map(..., batched=True, remove_columns=list(lookups))``
    (eager; remove any format first with ``with_format(None)``).

    A column holding one ID per row (``query_id``) becomes one column named without the ID suffix
    (``query``). A column holding a list of IDs per row (``document_ids``) becomes numbered columns
    (``document_1``, ``document_2``, ...; every row must have the same list length) or, with
    ``output_format="lists"``, a single nested column under the plural name (``documents``, ragged rows
    allowed). Columns holding string-encoded lists (``"['d1', 'd2']"``) are parsed. Output columns follow
    the insertion order of ``lookups``; all other input columns are dropped except ``keep_columns``.

    Args:
        lookups: ``{input_col: lookup}``; ``lookup`` is a ``datasets.Dataset`` (ID column: the single one named
            ``id`` or ending in ``_id``; value column: the single other one), ``(dataset, id_col)`` or
            ``(dataset, id_col, value_col)``.
        keep_columns: Input columns passed through unchanged (absent ones are ignored); defaults to
            ``label``, ``labels``, ``score``, ``scores``.
        max_list_length: Keep only the first N entries of every list-valued column (IDs and kept columns).
        output_format: ``"columns"`` (numbered columns) or ``"lists"`` (nested lists).

    Returns:
        A picklable ``batch -> batch`` function. A missing ID raises ``KeyError`` when a batch is resolved.

    Raises:
        TypeError: For a ``DatasetDict`` or non-dataset lookup, or a string ``keep_columns``.
        ValueError: For bad tuple specs, unknown or ambiguous columns, a non-positive ``max_list_length``
            or an unknown ``output_format``.

    Example:
        >>> class Table:  # the subset of datasets.Dataset that resolve_ids reads
        ...     def __init__(self, columns): self.columns = columns
        ...     column_names = property(lambda self: list(self.columns))
        ...     num_rows = property(lambda self: len(next(iter(self.columns.values()))))
        ...     def with_format(self, _): return self
        ...     def select_columns(self, names): return Table({n: self.columns[n] for n in names})
        ...     def __getitem__(self, key):
        ...         if isinstance(key, str): return self.columns[key]
        ...         return {n: [v[i] for i in key] for n, v in self.columns.items()}
        >>> docs = Table({"doc_id": ["d1", "d2"], "text": ["first", "second"]})
        >>> resolve_ids({"doc_ids": docs})({"doc_ids": [["d2", "d1"]]})
        {'doc_1': ['second'], 'doc_2': ['first']}
    """
    if isinstance(keep_columns, str):
        raise TypeError(f"keep_columns must be a list or tuple of column names, got the string {keep_columns!r}.")
    if max_list_length is not None and max_list_length < 1:
        raise ValueError(f"max_list_length must be a positive integer or None, got {max_list_length}.")
    if output_format not in ("columns", "lists"):
        raise ValueError(f'output_format must be "columns" or "lists", got {output_format!r}.')

    resolutions: dict[str, tuple[Any, _SortedIdIndex | dict, str, str, str]] = {}
    shared: dict[tuple[int, str], _SortedIdIndex | dict] = {}
    for input_col, spec in lookups.items():
        id_col = value_col = None
        if isinstance(spec, tuple):
            if len(spec) not in (2, 3):
                raise ValueError(
                    f"lookups[{input_col!r}] must be a Dataset, (dataset, id_col), or (dataset, id_col, value_col), "
                    f"got a tuple of length {len(spec)}."
                )
            dataset, id_col = spec[0], spec[1]
            value_col = spec[2] if len(spec) == 3 else None
        else:
            dataset = spec
        if _is_dataset_dict(dataset):
            raise TypeError(
                f"lookups[{input_col!r}] holds a `DatasetDict`, expected a `Dataset`. Pass a specific split (e.g. "
                "`dataset_dict['train']`), or load with `load_dataset(..., split='...')`."
            )
        if not _is_dataset(dataset):
            raise TypeError(f"lookups[{input_col!r}] must hold a `Dataset`, got {type(dataset).__name__}.")
        # Key the shared index on the caller's object: with_format returns a new one each time.
        source_id = id(dataset)
        dataset = dataset.with_format(None)
        columns = list(dataset.column_names)
        if id_col is None:
            id_col = _infer_id_col(columns, input_col)
        elif id_col not in columns:
            raise ValueError(
                f"lookups[{input_col!r}]: ID column {id_col!r} is not a column of the lookup dataset "
                f"(columns: {sorted(columns)})."
            )
        if value_col is None:
            value_col = _infer_value_col(columns, id_col, input_col)
        elif value_col not in columns:
            raise ValueError(
                f"lookups[{input_col!r}]: value column {value_col!r} is not a column of the lookup dataset "
                f"(columns: {sorted(columns)})."
            )
        key = (source_id, id_col)
        if key not in shared:
            index = _build_index(dataset, id_col)
            num_rows = dataset.num_rows
            if len(index) != num_rows:
                logger.warning(
                    f"lookups[{input_col!r}] contains duplicate {id_col!r} values ({num_rows - len(index)} rows "
                    "shadowed). Each duplicated ID resolves to its last occurrence."
                )
            shared[key] = index
        resolutions[input_col] = (
            dataset.select_columns([value_col]),
            shared[key],
            value_col,
            _output_name(input_col),
            _output_name(input_col, plural=True),
        )
    return partial(
        _resolve_batch,
        resolutions=resolutions,
        keep_columns=tuple(keep_columns),
        max_list_length=max_list_length,
        output_format=output_format,
    )
