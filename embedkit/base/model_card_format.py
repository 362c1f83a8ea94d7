"""Text helpers of the model cards: number and duration formats, markdown tables, dotted class names, the library
versions a card reports, and the compact ``training_summary`` section.

They hold no card state; :mod:`embedkit.base.model_card` re-exports them (importable from there as before).
"""

from __future__ import annotations

import json
from platform import python_version
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
        lines += [f"- `{k}`: {_fmt(v)}" for k, v in evals[-1].items()
                  if k.startswith("eval_") and not k.endswith(("_runtime", "_per_second"))]
    train_rows = [h for h in history if "loss" in h]
    if train_rows:
        lines += ["", "### Training log", "", "| step | epoch | loss | learning rate |", "|---|---|---|---|"]
        stride = max(1, len(train_rows) // 20)
        for h in train_rows[::stride]:
            lines.append(f"| {h['step']} | {_fmt(h.get('epoch'))} | {_fmt(h['loss'])} | "
                         f"{_fmt(h.get('learning_rate'))} |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = str(value)
        if "." in text and len(text.split(".")[1]) > 4:
            return f"{value:.4f}"
    return str(value)


def make_markdown_table(rows: list[dict[str, Any]]) -> str:
    """A padded markdown table from a list of same-keyed dicts (floats shown with at most 4 decimals).

    Example:
        >>> print(make_markdown_table([{"a": 1, "bb": 0.123456}]), end="")
        | a | bb     |
        |:-:|:------:|
        | 1 | 0.1235 |
    """
    if not rows:
        return ""
    keys = list(rows[0])
    widths = {key: len(str(key)) for key in keys}
    for row in rows:
        for key in keys:
            widths[key] = max(widths[key], len(_cell(row.get(key, ""))))

    def line(values: list[str]) -> str:
        return "".join(f"| {v}" + " " * (widths[k] - len(v) + 1) for k, v in zip(keys, values)) + "|\n"

    table = line([str(k) for k in keys])
    table += "".join("|:" + "-" * widths[k] + ":" for k in keys) + "|\n"
    for row in rows:
        table += line([_cell(row.get(k, "")) for k in keys])
    return table


def fullname(obj: Any) -> str:
    """Dotted class path of ``obj`` (builtins give the bare name)."""
    cls = obj if isinstance(obj, type) else type(obj)
    module = cls.__module__
    if module is None or module == "builtins":
        return cls.__name__
    return f"{module}.{cls.__name__}"


def _is_library_path(name: str) -> bool:
    return name.startswith(("sentence_transformers.", "embedkit."))


def format_duration(seconds: float) -> str:
    """A readable duration, e.g. ``"23.0 minutes"``.

    Example:
        >>> format_duration(90)
        '1.5 minutes'
    """
    if seconds < 60:
        return f"{seconds:.1f} seconds"
    if seconds < 3600:
        return f"{seconds / 60:.1f} minutes"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


def format_log(value: Any) -> Any:
    """Round floats to 4 decimals for the card's tables."""
    return round(value, 4) if isinstance(value, float) else value


def get_versions() -> dict[str, Any]:
    """Versions of the libraries a card reports (embedkit fills the Sentence Transformers slot)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        from embedkit import __version__ as embedkit_version
    except Exception:  # pragma: no cover - partial installs
        embedkit_version = installed("embedkit")
    try:  # the sentence-transformers version whose folder format embedkit writes
        from embedkit.model_folder import ST_VERSION_WRITTEN as sentence_transformers_version
    except Exception:  # pragma: no cover - partial installs
        sentence_transformers_version = None
    return {
        "python": python_version(),
        "embedkit": embedkit_version,
        "sentence_transformers": sentence_transformers_version,
        "transformers": installed("transformers"),
        "torch": installed("torch"),
        "accelerate": installed("accelerate"),
        "datasets": installed("datasets"),
        "tokenizers": installed("tokenizers"),
    }



def _join_names(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def _to_python(value: Any) -> Any:
    try:
        if hasattr(value, "dtype") and hasattr(value, "item"):
            return value.item()
    except Exception:
        pass
    return value


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except Exception:
        pass
    if isinstance(value, str) and " " in value:
        return _to_float(value.split()[0])
    return None


def _modality_title(modality: Any) -> str:
    if isinstance(modality, tuple):
        return " + ".join(str(m) for m in modality).title()
    return str(modality).title()
