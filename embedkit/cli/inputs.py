"""Reading the texts a command works on: arguments, plain text files, JSONL (one field) or TSV (one column)."""

from __future__ import annotations

import json
from pathlib import Path


def read_text_file(path: str | Path, field: str = "text", column: int = 0) -> list[str]:
    """Texts of ``path``: one per non-empty line; ``.jsonl`` takes ``field`` of each object, ``.tsv`` ``column``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a JSONL line without ``field``, or a TSV line with too few columns (the message names the line).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "texts.tsv")
        >>> _ = open(path, "w").write("a\\tfirst\\nb\\tsecond\\n")
        >>> read_text_file(path, column=1)
        ['first', 'second']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                value = json.loads(line)[field]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: expected a JSON object with a {field!r} field") from exc
            texts.append(str(value))
        elif path.suffix == ".tsv":
            cells = line.split("\t")
            if column >= len(cells):
                raise ValueError(f"{path}:{number}: no column {column} (the line has {len(cells)})")
            texts.append(cells[column])
        else:
            texts.append(line)
    return texts
