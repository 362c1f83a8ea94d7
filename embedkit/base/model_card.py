"""The training part of the model card (README.md) written by ``save`` after training.

It reports what the trainer recorded on the model: datasets (rows, columns), losses with their configuration,
the hyperparameters that differ from the defaults, the final evaluation metrics, and the training log as a table.
"""

from __future__ import annotations

import json
from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def training_card_section(summary: dict[str, Any] | None) -> str:
    """Markdown for a ``training_summary`` dict (empty string when the model was not trained here).

    Example:
        >>> print(training_card_section({"datasets": {"train": {"rows": 2, "columns": ["a", "b"]}},
        ...                              "losses": {}, "arguments": {}, "log_history": []}).splitlines()[3])
        ### Datasets
    """
    if not summary:
        return ""
    lines = ["", "## Training", "", "### Datasets", ""]
    for name, info in summary.get("datasets", {}).items():
        lines.append(f"- `{name}`: {info['rows']} rows, columns {', '.join(f'`{c}`' for c in info['columns'])}")
    lines += ["", "### Losses", ""]
    for name, info in summary.get("losses", {}).items():
        config = json.dumps(info.get("config", {}), default=str)
        lines.append(f"- `{name}`: `{info['class']}` with `{config}`")
    arguments = summary.get("arguments", {})
    if arguments:
        lines += ["", "### Non-default hyperparameters", ""]
        lines += [f"- `{k}`: `{_fmt(v)}`" for k, v in sorted(arguments.items())]
    history = summary.get("log_history", [])
    evals = [h for h in history if any(k.startswith("eval_") for k in h)]
    if evals:
        lines += ["", "### Final evaluation", ""]
        lines += [f"- `{k}`: {_fmt(v)}" for k, v in evals[-1].items() if k.startswith("eval_")]
    train_rows = [h for h in history if "loss" in h]
    if train_rows:
        lines += ["", "### Training log", "", "| step | epoch | loss | learning rate |", "|---|---|---|---|"]
        stride = max(1, len(train_rows) // 20)
        for h in train_rows[::stride]:
            lines.append(f"| {h['step']} | {_fmt(h.get('epoch'))} | {_fmt(h['loss'])} | {_fmt(h.get('learning_rate'))} |")
    return "\n".join(lines) + "\n"
