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


def validate_nanobeir_names(dataset_names: list[str] | None) -> list[str]:
    """The NanoBEIR datasets to evaluate: every one for None, else ``dataset_names`` (case-insensitive short names).

    Raises:
        ValueError: an empty list, or a name that is not a NanoBEIR dataset (ST's messages).

    Example:
        >>> validate_nanobeir_names(["MSMARCO", "nq"])
        ['MSMARCO', 'nq']
    """
    if dataset_names is None:
        return list(DATASET_NAME_TO_HUMAN_READABLE)
    if len(dataset_names) == 0:
        raise ValueError("dataset_names cannot be empty. Use None to evaluate on all datasets.")
    invalid = [name for name in dataset_names if name.lower() not in DATASET_NAME_TO_HUMAN_READABLE]
    if invalid:
        raise ValueError(f"Dataset(s) {invalid} are not valid NanoBEIR datasets. "
                         f"Valid dataset names are: {list(DATASET_NAME_TO_HUMAN_READABLE)}")
    return list(dataset_names)


def _dataset_root(dataset_id: str, split: str) -> Path:
    """A local folder for ``dataset_id``: the path itself if it is a folder, else its Hugging Face Hub snapshot
    (from the cache; downloaded only where huggingface_hub is allowed online)."""
    if Path(dataset_id).expanduser().is_dir():
        return Path(dataset_id).expanduser()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=dataset_id, repo_type="dataset",
                                      allow_patterns=[f"*/{split}-*", f"*/{split}.*", f"{split}/*", "*.md"]))
    except Exception as error:  # offline without a cached copy, unknown repo, no permission, ...
        raise ValueError(
            f"Could not load NanoBEIR split {split!r} of dataset {dataset_id!r}: it is not a local folder and no copy "
            "could be found in the Hugging Face cache or downloaded (offline?). Download it once with network access "
            "(e.g. `huggingface-cli download --repo-type dataset " + dataset_id + "`), or pass a local folder as "
            "dataset_id, or local BEIR folders as dataset_folders."
        ) from error


def _read_rows(files: list[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for file in sorted(files):
        if file.suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError as error:
                raise ImportError(f"reading {file.name} needs pyarrow (`pip install pyarrow`)") from error
            rows.extend(pq.read_table(file).to_pylist())
        else:
            import gzip
            import json

            opener = gzip.open if file.suffix == ".gz" else open
            with opener(file, "rt", encoding="utf-8") as f:
                rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def _subset_rows(root: Path, subset: str, split: str, required: list[str], dataset_id: str) -> list[dict[str, Any]]:
    folder = root / subset
    files = [p for p in folder.glob(f"{split}*") if p.name.split(".")[0].split("-0")[0] == split
             and p.suffix in (".parquet", ".jsonl", ".json", ".gz")] if folder.is_dir() else []
    if not files:
        raise ValueError(f"Could not load subset '{subset}' split '{split}' from dataset '{dataset_id}'.")
    rows = _read_rows(files)
    missing = sorted(set(required) - set(rows[0] if rows else required))
    if missing:
        raise ValueError(f"Subset '{subset}' split '{split}' from dataset '{dataset_id}' is missing required "
                         f"columns: {missing}.")
    return rows


def load_nanobeir_dataset(dataset_id: str, dataset_name: str
                          ) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """``(corpus, queries, relevant_docs)`` of one NanoBEIR dataset from ``dataset_id``, a Hugging Face dataset id
    (e.g. ``sentence-transformers/NanoBEIR-en``) or a local folder, in either of two layouts: sentence-transformers'
    Hub layout (subsets ``corpus``/``queries``/``qrels`` with one ``Nano{Name}`` split each, as parquet or jsonl
    files ``{subset}/Nano{Name}-*.parquet``) or one BEIR folder per dataset (``Nano{Name}/corpus.jsonl``, ...).
    Empty texts are dropped, as ST does.
    """
    from embedkit.datasets_io import load_beir

    split = nano_dataset_name(dataset_name)
    root = _dataset_root(dataset_id, split)
    beir = [root / split, root / dataset_name, root / dataset_name.lower()]
    for folder in beir:
        if (folder / "corpus.jsonl").is_file():
            corpus, queries, qrels = load_beir(folder, include_title=False)
            break
    else:
        corpus = {str(r["_id"]): r["text"] for r in _subset_rows(root, "corpus", split, ["_id", "text"], dataset_id)}
        queries = {str(r["_id"]): r["text"]
                   for r in _subset_rows(root, "queries", split, ["_id", "text"], dataset_id)}
        qrels: dict[str, set[str]] = {}
        for row in _subset_rows(root, "qrels", split, ["query-id", "corpus-id"], dataset_id):
            ids = row["corpus-id"]
            qrels.setdefault(str(row["query-id"]), set()).update(
                map(str, ids) if isinstance(ids, (list, tuple)) else [str(ids)])
    corpus = {cid: text for cid, text in corpus.items() if text}
    queries = {qid: text for qid, text in queries.items() if text}
    return corpus, queries, qrels
