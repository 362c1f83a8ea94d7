"""Dataset handling shared by the NanoBEIR evaluators (dense, sparse, CrossEncoder reranking).

They read local BEIR folders (nothing is downloaded), name each dataset as sentence-transformers does
(``scifact`` -> ``NanoSciFact``), run one evaluator per dataset, aggregate each metric over the datasets and append
the aggregate to ``NanoBEIR_evaluation_{aggregate_key}_results.csv`` (plain comma-joined lines, as ST writes it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DATASET_NAME_TO_HUMAN_READABLE = {
    "climatefever": "ClimateFEVER",
    "dbpedia": "DBPedia",
    "fever": "FEVER",
    "fiqa2018": "FiQA2018",
    "hotpotqa": "HotpotQA",
    "msmarco": "MSMARCO",
    "nfcorpus": "NFCorpus",
    "nq": "NQ",
    "quoraretrieval": "QuoraRetrieval",
    "scidocs": "SCIDOCS",
    "arguana": "ArguAna",
    "scifact": "SciFact",
    "touche2020": "Touche2020",
}


def nano_dataset_name(dataset_name: str) -> str:
    """ST's display name of a NanoBEIR dataset (``scifact`` -> ``NanoSciFact``); any other name is kept as given.

    Example:
        >>> nano_dataset_name("msmarco"), nano_dataset_name("my_data")
        ('NanoMSMARCO', 'my_data')
    """
    human = DATASET_NAME_TO_HUMAN_READABLE.get(dataset_name.lower())
    return f"Nano{human}" if human else dataset_name


def _resolve_folder(root: Path, name: str) -> Path:
    human = DATASET_NAME_TO_HUMAN_READABLE.get(name.lower())
    candidates = [root / name, root / name.lower()] + ([root / f"Nano{human}", root / human] if human else [])
    for candidate in candidates:
        if (candidate / "corpus.jsonl").is_file():
            return candidate
    raise FileNotFoundError(f"no BEIR folder for dataset {name!r} under {root} (tried "
                            f"{[c.name for c in candidates]})")


def resolve_dataset_folders(evaluator_name: str, dataset_names: list[str] | None,
                            dataset_folders: dict[str, str | os.PathLike] | str | os.PathLike | None
                            ) -> tuple[list[str], dict[str, Path]]:
    """The datasets to evaluate (``dataset_names``, default: the keys of a ``dataset_folders`` dict) and
    ``{name: BEIR folder}``; a root folder is searched for ``name``, ``Nano{Name}`` or ``{Name}``.

    Raises:
        ValueError: no folders (the message names ``evaluator_name``), a root folder without ``dataset_names``,
            an empty ``dataset_names``, or a name without a folder.
        FileNotFoundError: no subfolder with a ``corpus.jsonl`` under the root folder for a name.
    """
    if dataset_folders is None:
        raise ValueError(f"{evaluator_name} reads local BEIR folders and downloads nothing: pass dataset_folders="
                         "{'scifact': '/path/to/scifact', ...} or a root folder with one subfolder per dataset")
    if dataset_names is None:
        if not isinstance(dataset_folders, dict):
            raise ValueError("with a root folder as dataset_folders, dataset_names must be given")
        dataset_names = list(dataset_folders)
    if len(dataset_names) == 0:
        raise ValueError("dataset_names cannot be empty; use None to evaluate every dataset in dataset_folders")
    if isinstance(dataset_folders, dict):
        missing = [n for n in dataset_names if n not in dataset_folders]
        if missing:
            raise ValueError(f"dataset_folders has no folder for {missing}; it has {sorted(dataset_folders)}")
        return list(dataset_names), {n: Path(dataset_folders[n]) for n in dataset_names}
    return list(dataset_names), {n: _resolve_folder(Path(dataset_folders), n) for n in dataset_names}


def evaluate_datasets(evaluators: Sequence[Any], evaluate: Callable[[Any], dict[str, float]],
                      aggregate_fn: Callable[[list[float]], float], log: logging.Logger
                      ) -> tuple[dict[str, float], dict[str, float]]:
    """Run ``evaluate`` on each per-dataset evaluator (logging its name on ``log``).

    Returns:
        Every per-dataset key with its value, and ``{metric: aggregate_fn(its values over the datasets)}`` where
        ``metric`` is a key without the ``{evaluator.name}_`` prefix.
    """
    per_dataset: dict[str, float] = {}
    per_metric: dict[str, list[float]] = {}
    for evaluator in evaluators:
        log.info("Evaluating %s", evaluator.name)
        for key, value in evaluate(evaluator).items():
            metric = key[len(evaluator.name) + 1:]  # strip "NanoSciFact_"
            per_dataset[key] = value
            per_metric.setdefault(metric, []).append(value)
    return per_dataset, {metric: aggregate_fn(values) for metric, values in per_metric.items()}


def append_aggregate_csv_row(output_path: str, csv_file: str, csv_headers: list[str], row: list[Any]) -> None:
    """Append ``row`` to ``output_path/csv_file`` as one comma-joined ``\\n``-terminated line, writing
    ``csv_headers`` first when the file is new."""
    os.makedirs(output_path, exist_ok=True)
    csv_path = os.path.join(output_path, csv_file)
    new_file = not os.path.isfile(csv_path)
    with open(csv_path, mode="w" if new_file else "a", encoding="utf-8") as f:
        if new_file:
            f.write(",".join(csv_headers) + "\n")
        f.write(",".join(map(str, row)) + "\n")
