"""``embedkit train CONFIG.json``: the Python trainer driven by a small JSON file (runs under torchrun as well).

Every relative path in the config (``model`` folder, ``train_data``, ``eval_data``, ``evaluator.data``,
``args.output_dir``, ``args.resume_from_checkpoint``) is relative to the config file's folder; ``--output-dir`` on
the command line is relative to the current directory. A loss that needs labels is checked against the data's
columns before training starts.

Config keys::

    {
      "model": "folder or Hub id (default: all-MiniLM-L6-v2)",
      "model_type": "SentenceTransformer" | "CrossEncoder" | "SparseEncoder",
      "train_data": "pairs.tsv" | {"path": "pairs.jsonl", "columns": ["anchor", "positive"]},
      "eval_data": same form (optional),
      "loss": "MultipleNegativesRankingLoss" | {"name": "MatryoshkaLoss", "kwargs": {"matryoshka_dims": [384, 64],
               "loss": {"name": "CoSENTLoss"}}},
      "evaluator": {"data": "sts.tsv or BEIR folder", "split": "test"} (optional),
      "args": {"output_dir": "out", "num_train_epochs": 1, ...}   # SentenceTransformerTrainingArguments
    }

The trained model is saved to ``<output_dir>/final`` (by rank 0); the default ``output_dir`` is ``output`` next to
the config file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

_KEYS = {"model", "model_type", "train_data", "eval_data", "loss", "evaluator", "args"}
_MODEL_CLASSES = {
    "SentenceTransformer": ("embedkit.sentence_transformer.model", "embedkit.sentence_transformer.losses",
                            "SentenceTransformerTrainer"),
    "CrossEncoder": ("embedkit.cross_encoder", "embedkit.cross_encoder.losses", "CrossEncoderTrainer"),
    "SparseEncoder": ("embedkit.sparse_encoder", "embedkit.sparse_encoder.losses", "SparseEncoderTrainer"),
}


_EVALUATOR_KEYS = {"data", "split"}
def config_path_of(value: str, base: Path) -> Path:
    """A path from the config: absolute as given, relative ones taken from the config file's folder ``base``.

    Example:
        >>> str(config_path_of("data/pairs.tsv", Path("/configs")))
        '/configs/data/pairs.tsv'
        >>> str(config_path_of("/abs/pairs.tsv", Path("/configs")))
        '/abs/pairs.tsv'
    """
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _read_data(spec: Any, base: Path, key: str = "train_data") -> Any:
    from embedkit.data import read_table

    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict) or "path" not in spec:
        raise ValueError(f"{key} must be a path or {{'path': ..., 'columns': [...]}}, got {spec!r}")
    unknown = set(spec) - {"path", "columns"}
    if unknown:
        raise ValueError(f"{key}: unknown keys {sorted(unknown)}; use 'path' and 'columns'")
    path = config_path_of(spec["path"], base)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{key}: no such file: {path}")
    dataset = read_table(path)
    columns = spec.get("columns")
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        raise ValueError(f"{key}: columns must be a list of column names, got {columns!r}")
    if columns:
        missing = [c for c in columns if c not in dataset.column_names]
        if missing:
            raise ValueError(f"{spec['path']}: no columns {missing}; it has {dataset.column_names}")
        dataset = dataset.select_columns(columns)
    return _numeric_labels(dataset, spec["path"])


def _numeric_labels(dataset: Any, source: str) -> Any:
    """CSV/TSV cells are strings: turn the label column ("label"/"score") into ints, or floats when needed."""
    from embedkit.data import LABEL_COLUMNS, Dataset

    columns = dataset.to_dict()
    for name in LABEL_COLUMNS:
        values = columns.get(name)
        if not values or not isinstance(values[0], str):
            continue
        try:
            numbers = [float(v) for v in values]
        except ValueError as exc:
            raise ValueError(f"{source}: label column {name!r} holds a non-number ({exc})") from exc
        columns[name] = [int(x) for x in numbers] if all(x.is_integer() for x in numbers) else numbers
    return Dataset.from_dict(columns)


def build_loss(spec: Any, model: Any, losses_module: str) -> Any:
    """A loss from ``"Name"`` or ``{"name": ..., "kwargs": {...}}``; a ``loss`` kwarg may itself be a loss spec.

    Raises:
        ValueError: an unknown loss name (the message lists the available ones).
    """
    module = importlib.import_module(losses_module)
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"loss must be a name or {{'name': ..., 'kwargs': {{...}}}}, got {spec!r}")
    cls = getattr(module, spec["name"], None)
    if not isinstance(cls, type):
        available = sorted(n for n in dir(module) if n.endswith("Loss"))
        raise ValueError(f"unknown loss {spec['name']!r}; available: {', '.join(available)}")
    kwargs = dict(spec.get("kwargs") or {})
    if isinstance(kwargs.get("loss"), (dict, str)):
        kwargs["loss"] = build_loss(kwargs["loss"], model, losses_module)
    return cls(model, **kwargs)


def read_config(config_path: Path) -> dict[str, Any]:
    """The JSON config at ``config_path``, with its keys checked.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a JSON object, an unknown key, or no ``train_data``.
    """
    if not config_path.is_file():
        raise FileNotFoundError(f"no such config file: {config_path}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{config_path}: expected a JSON object, got {type(config).__name__}")
    unknown = set(config) - _KEYS
    if unknown:
        raise ValueError(f"{config_path}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    if "train_data" not in config:
        raise ValueError(f"{config_path}: 'train_data' is required")
    return config


def training_arguments(config: dict[str, Any], base: Path, output_dir: str | None) -> dict[str, Any]:
    """``config["args"]`` with its paths taken from the config folder ``base``; ``output_dir`` (from the command line,
    relative to the current directory) overrides ``args.output_dir``; the default is ``base/output``.

    Example:
        >>> import tempfile
        >>> base = Path(tempfile.mkdtemp())
        >>> training_arguments({"args": {"output_dir": "runs/a"}}, base, None)["output_dir"] == str(base / "runs/a")
        True
        >>> training_arguments({}, base, "out")["output_dir"]
        'out'
    """
    args = config.get("args") or {}
    if not isinstance(args, dict):
        raise ValueError(f"args must be a JSON object of training arguments, got {args!r}")
    args = dict(args)
    for key in ("output_dir", "resume_from_checkpoint"):
        if isinstance(args.get(key), str):
            args[key] = str(config_path_of(args[key], base))
    if output_dir:
        args["output_dir"] = output_dir
    args.setdefault("output_dir", str(base / "output"))
    _check_output_folder(args["output_dir"], "--output-dir" if output_dir else "args.output_dir")
    from dataclasses import fields

    from embedkit.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    known = {f.name for f in fields(SentenceTransformerTrainingArguments)}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"args: unknown training argument(s) {unknown}; see SentenceTransformerTrainingArguments "
                         "for the names embedkit takes")
    return args


def _check_output_folder(folder: Any, option: str) -> None:
    """Refuse, before training, an output folder that could not be created or written (the run would be lost)."""
    if not isinstance(folder, str) or not folder:
        raise ValueError(f"{option} must be a folder path, got {folder!r}")
    path = Path(folder)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        kind = "the output folder" if existing == path else f"its parent {existing}"
        raise NotADirectoryError(f"{option} {folder}: {kind} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise PermissionError(f"{option} {folder}: {existing} is not writable")


def _model_name(config: dict[str, Any], base: Path) -> str | None:
    """``config["model"]``: a folder relative to the config file when one exists there, else as given (Hub id)."""
    name = config.get("model")
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model must be a model folder or Hub id (a non-empty string), got {name!r}")
    folder = config_path_of(name, base)
    return str(folder) if folder.is_dir() else name


def _evaluator(spec: Any, base: Path, config_path: Path) -> Any:
    from embedkit.cli.evaluate import build_evaluator

    if not spec:
        return None
    if not isinstance(spec, dict):
        raise ValueError(f"{config_path}: evaluator must be {{'data': ..., 'split': ...}}, got {spec!r}")
    if "data" not in spec:
        raise ValueError(f"{config_path}: evaluator is missing the key 'data' (an STS .tsv or a BEIR folder); "
                         f"it has {sorted(spec)}")
    unknown = set(spec) - _EVALUATOR_KEYS
    if unknown:
        raise ValueError(f"{config_path}: evaluator: unknown keys {sorted(unknown)}; "
                         f"allowed: {sorted(_EVALUATOR_KEYS)}")
    return build_evaluator(config_path_of(spec["data"], base), split=spec.get("split", "test"))


def label_loss_name(loss: Any) -> str | None:
    """The name of the first loss in ``loss`` (itself or a wrapped loss) that reads labels, or None.

    Example:
        >>> import embedkit
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sentence_transformer.losses import CoSENTLoss, MultipleNegativesRankingLoss
        >>> model = embedkit.SentenceTransformer(default_model_path(), device="cpu")
        >>> label_loss_name(CoSENTLoss(model)), label_loss_name(MultipleNegativesRankingLoss(model))
        ('CoSENTLoss', None)
    """
    from embedkit.base.losses.input_columns import declared_loss_inputs, wrapped_loss

    declared = declared_loss_inputs(loss)  # the trainer's table of what each loss reads (checked again there)
    if declared is not None:
        return type(loss).__name__ if declared.needs_label else None
    inner = wrapped_loss(loss)
    name = label_loss_name(inner) if inner is not None else None
    return f"{type(loss).__name__} around {name}" if name is not None else None


def check_labels(trainer: Any, datasets: dict[str, Any], loss_given: bool) -> None:
    """Refuse, before training, a loss that needs labels on data without a label column (names both).

    Raises:
        ValueError: e.g. ``the default loss CoSENTLoss needs a label column ...``.
    """
    from embedkit.data import LABEL_COLUMNS

    losses = trainer.losses if isinstance(trainer.losses, dict) else {"": trainer.losses}
    for loss in {id(loss): loss for loss in losses.values()}.values():
        name = label_loss_name(loss)
        if name is None:
            continue
        for key, (dataset, source) in datasets.items():
            columns = list(dataset.column_names)
            if not set(columns) & set(LABEL_COLUMNS):
                which = f"the loss {name}" if loss_given else f"the default loss {name}"
                raise ValueError(
                    f"{which} needs a label column ({', '.join(repr(c) for c in LABEL_COLUMNS)}), but {key} "
                    f"({source}) has only the columns {columns}; add labels or set \"loss\" to one without labels, "
                    "e.g. MultipleNegativesRankingLoss")


def _data_source(spec: Any) -> str:
    return str(spec.get("path") if isinstance(spec, dict) else spec)


def run(args: argparse.Namespace, model_path_for: Any) -> int:
    """Train as the config at ``args.config`` says (``args.output_dir`` overrides its output folder)."""
    from embedkit.base.training_args import SentenceTransformerTrainingArguments

    config_path = Path(args.config)
    config = read_config(config_path)
    model_type = config.get("model_type", "SentenceTransformer")
    if model_type not in _MODEL_CLASSES:
        raise ValueError(f"model_type must be one of {sorted(_MODEL_CLASSES)}, got {model_type!r}")
    model_module, losses_module, trainer_name = _MODEL_CLASSES[model_type]
    base = config_path.parent
    train_args = SentenceTransformerTrainingArguments(**training_arguments(config, base, args.output_dir))
    datasets = {"train_data": (_read_data(config["train_data"], base), _data_source(config["train_data"]))}
    if config.get("eval_data"):
        datasets["eval_data"] = (_read_data(config["eval_data"], base, "eval_data"),
                                 _data_source(config["eval_data"]))
    evaluator = _evaluator(config.get("evaluator"), base, config_path)

    model = getattr(importlib.import_module(model_module), model_type)(model_path_for(_model_name(config, base)))
    trainer_cls = getattr(importlib.import_module("embedkit.base.trainer"), trainer_name)
    trainer = trainer_cls(
        model, train_args,
        train_dataset=datasets["train_data"][0],
        eval_dataset=datasets["eval_data"][0] if "eval_data" in datasets else None,
        loss=build_loss(config["loss"], model, losses_module) if config.get("loss") else None,
        evaluator=evaluator,
    )
    check_labels(trainer, datasets, loss_given=bool(config.get("loss")))
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; stdout keeps the one JSON line
        output = trainer.train()
    if int(os.environ.get("RANK", "0")) == 0:  # the trainer has closed the process group by now
        final = Path(train_args.output_dir) / "final"
        model.save(str(final))
        print(json.dumps({"global_step": output.global_step, "training_loss": output.training_loss,
                          "saved": str(final)}))
    return 0
