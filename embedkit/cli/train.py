"""``embedkit train CONFIG.json``: the Python trainer driven by a small JSON file (runs under torchrun as well).

Config keys::

    {
      "model": "path or Hub id (default: all-MiniLM-L6-v2)",
      "model_type": "SentenceTransformer" | "CrossEncoder" | "SparseEncoder",
      "train_data": "pairs.tsv" | {"path": "pairs.jsonl", "columns": ["anchor", "positive"]},
      "eval_data": same form (optional),
      "loss": "MultipleNegativesRankingLoss" | {"name": "MatryoshkaLoss", "kwargs": {"matryoshka_dims": [384, 64],
               "loss": {"name": "CoSENTLoss"}}},
      "evaluator": {"data": "sts.tsv or BEIR folder", "split": "test"} (optional),
      "args": {"output_dir": "out", "num_train_epochs": 1, ...}   # SentenceTransformerTrainingArguments
    }

The trained model is saved to ``<output_dir>/final`` (by rank 0).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path
from typing import Any

_KEYS = {"model", "model_type", "train_data", "eval_data", "loss", "evaluator", "args"}
_MODEL_CLASSES = {
    "SentenceTransformer": ("embedkit.sentence_transformer.model", "embedkit.sentence_transformer.losses", "SentenceTransformerTrainer"),
    "CrossEncoder": ("embedkit.cross_encoder", "embedkit.cross_encoder.losses", "CrossEncoderTrainer"),
    "SparseEncoder": ("embedkit.sparse_encoder", "embedkit.sparse_encoder.losses", "SparseEncoderTrainer"),
}


def _read_data(spec: Any, base: Path) -> Any:
    from embedkit.data import read_table

    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict) or "path" not in spec:
        raise ValueError(f"data must be a path or {{'path': ..., 'columns': [...]}}, got {spec!r}")
    unknown = set(spec) - {"path", "columns"}
    if unknown:
        raise ValueError(f"unknown data keys {sorted(unknown)}; use 'path' and 'columns'")
    path = Path(spec["path"])
    dataset = read_table(path if path.is_absolute() else base / path)
    columns = spec.get("columns")
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


def run(args: argparse.Namespace, model_path_for: Any) -> int:
    from embedkit.base.training_args import SentenceTransformerTrainingArguments
    from embedkit.cli.evaluate import build_evaluator

    config_path = Path(args.config)
    if not config_path.is_file():
        raise FileNotFoundError(f"no such config file: {config_path}")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_path}: not valid JSON ({exc})") from exc
    unknown = set(config) - _KEYS
    if unknown:
        raise ValueError(f"{config_path}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    if "train_data" not in config:
        raise ValueError(f"{config_path}: 'train_data' is required")
    model_type = config.get("model_type", "SentenceTransformer")
    if model_type not in _MODEL_CLASSES:
        raise ValueError(f"model_type must be one of {sorted(_MODEL_CLASSES)}, got {model_type!r}")
    model_module, losses_module, trainer_name = _MODEL_CLASSES[model_type]
    base = config_path.parent
    training_args = dict(config.get("args") or {})
    if args.output_dir:
        training_args["output_dir"] = args.output_dir
    training_args.setdefault("output_dir", str(base / "output"))
    train_args = SentenceTransformerTrainingArguments(**training_args)

    model = getattr(importlib.import_module(model_module), model_type)(model_path_for(config.get("model")))
    trainer_cls = getattr(importlib.import_module("embedkit.base.trainer"), trainer_name)
    evaluator = None
    if config.get("evaluator"):
        spec = config["evaluator"]
        data = Path(spec["data"])
        evaluator = build_evaluator(data if data.is_absolute() else base / data, split=spec.get("split", "test"))
    trainer = trainer_cls(
        model, train_args,
        train_dataset=_read_data(config["train_data"], base),
        eval_dataset=_read_data(config["eval_data"], base) if config.get("eval_data") else None,
        loss=build_loss(config["loss"], model, losses_module) if config.get("loss") else None,
        evaluator=evaluator,
    )
    output = trainer.train()
    if int(os.environ.get("RANK", "0")) == 0:  # the trainer has closed the process group by now
        final = Path(train_args.output_dir) / "final"
        model.save(str(final))
        print(json.dumps({"global_step": output.global_step, "training_loss": output.training_loss,
                          "saved": str(final)}))
    return 0
