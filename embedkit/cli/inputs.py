"""Reading the texts a command works on: plain text files, JSONL (one field), TSV or CSV (one column), or stdin;
and checking the command line's values and output paths, and writing outputs whole or not at all.

Every reader returns ``(line, text)`` pairs: ``line`` is the 1-based line of the file the text starts on, so
results can point back into the file. Blank texts are skipped. Files are UTF-8; a leading byte order mark is
dropped. ``-`` reads standard input as plain text (one text per line).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "texts.txt")
    >>> _ = open(path, "w").write("first\\n\\nsecond\\n")
    >>> read_numbered_texts(path)
    [(1, 'first'), (3, 'second')]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

STDIN = "-"
TABLE_SUFFIXES = (".tsv", ".csv")


def parse_column(value: str | int) -> int | str:
    """``--column``: a 0-based index when ``value`` is a whole number, else a header name.

    Example:
        >>> parse_column("2"), parse_column("text")
        (2, 'text')
    """
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _read_source(path: str | Path) -> tuple[str, str]:
    """``(name, text)`` of ``path`` (``-`` is stdin), decoded as UTF-8 without a byte order mark."""
    if str(path) == STDIN:
        name = "<stdin>"
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
    else:
        file = Path(path)
        name = str(file)
        if file.is_dir():
            raise IsADirectoryError(f"{file} is a directory, not a file of texts")
        if not file.exists():
            raise FileNotFoundError(f"no such file: {file}")
        if not file.is_file():
            raise ValueError(f"{file} is not a regular file (a device, FIFO or socket); pass a file of texts")
        data = file.read_bytes()
    try:
        return name, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{name}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); convert the file to UTF-8"
                         ) from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered lines of ``text`` (``\\n`` or ``\\r\\n`` endings; other separators stay inside the line)."""
    for number, line in enumerate(text.split("\n"), 1):
        yield number, line.removesuffix("\r")


def _jsonl_texts(name: str, text: str, field: str) -> list[tuple[int, str]]:
    from embedkit.datasets_io import jsonl_objects

    texts = []
    lines = (line for _, line in _lines(text))
    for number, record in jsonl_objects(name, lines, (field,), hint="; choose one with --field"):
        value = record[field]
        if not isinstance(value, str):
            raise ValueError(f"{name}:{number}: {field!r} is {json.dumps(value)[:40]}, not a string")
        check_unicode(value, f"{name}:{number}")
        if value.strip():
            texts.append((number, value))
    return texts


def _table_rows(name: str, text: str, suffix: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts on: TSV split on tabs (no quoting), CSV by the csv module."""
    if suffix == ".tsv":
        for number, line in _lines(text):
            if line.strip():
                yield number, line.split("\t")
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ValueError(f"{name}:{reader.line_num}: {exc}") from None


def _column_index(name: str, column: int | str, header: list[str] | None, number: int) -> int:
    if isinstance(column, int):
        return column
    if header is None:
        raise ValueError(f"--column {column!r} is a name, but {name} is read without a header row (--no-header); "
                         "give a 0-based index")
    if column not in header:
        raise ValueError(f"{name}:{number}: no column {column!r} in the header ({', '.join(map(repr, header))})")
    return header.index(column)


def _table_texts(name: str, rows: Iterable[tuple[int, list[str]]], column: int | str,
                 header: bool | None) -> list[tuple[int, str]]:
    texts: list[tuple[int, str]] = []
    index: int | None = column if isinstance(column, int) else None
    names: list[str] | None = None
    for number, cells in rows:
        if header is not False and names is None:
            names = cells
            index = _column_index(name, column, names, number)
            if header is None:
                print(f"embedkit: {name}: line {number} is read as the header ({', '.join(names)[:80]}); "
                      "give --no-header if it holds a text", file=sys.stderr)
            continue
        if index is None:
            index = _column_index(name, column, None, number)
        if index >= len(cells):
            raise ValueError(f"{name}:{number}: no column {index} (the line has {len(cells)})")
        if cells[index].strip():
            texts.append((number, cells[index]))
    return texts


def read_numbered_texts(path: str | Path, field: str = "text", column: int | str = 0,
                        header: bool | None = None) -> list[tuple[int, str]]:
    """``(line, text)`` pairs of ``path``; the format follows the suffix, and ``-`` reads stdin as plain text.

    Plain text: one text per non-blank line. ``.jsonl``: the string ``field`` of each object. ``.tsv`` (split on
    tabs, no quoting) and ``.csv`` (csv module quoting): ``column``, a 0-based index or a header name. ``header``:
    whether the first row of a TSV/CSV file is a header (None: yes, and say so on stderr). Blank texts are skipped.

    Raises:
        FileNotFoundError: no such file. IsADirectoryError: ``path`` is a folder.
        ValueError: not UTF-8, a JSONL line that is not an object with a string ``field``, a missing column
            (the message names ``file:line``).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "texts.tsv")
        >>> _ = open(path, "w").write("id\\ttext\\na\\tfirst\\nb\\tsecond\\n")
        >>> read_numbered_texts(path, column="text", header=True)
        [(2, 'first'), (3, 'second')]
    """
    name, text = _read_source(path)
    suffix = "" if str(path) == STDIN else Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_texts(name, text, field)
    if suffix in TABLE_SUFFIXES:
        return _table_texts(name, _table_rows(name, text, suffix), parse_column(column), header)
    return [(number, line) for number, line in _lines(text) if line.strip()]


def read_text_file(path: str | Path, field: str = "text", column: int | str = 0,
                   header: bool | None = None) -> list[str]:
    """The texts of :func:`read_numbered_texts` without their line numbers.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "texts.tsv")
        >>> _ = open(path, "w").write("a\\tfirst\\nb\\tsecond\\n")
        >>> read_text_file(path, column=1, header=False)
        ['first', 'second']
    """
    return [text for _, text in read_numbered_texts(path, field=field, column=column, header=header)]


def check_output_path(path: str | Path, option: str, writable: bool = True) -> None:
    """Refuse an output path that cannot be written: a folder, or a parent that is missing or not a folder (or, with
    ``writable``, one this process may not write to).

    Raises:
        IsADirectoryError, FileNotFoundError, NotADirectoryError, PermissionError: with ``option`` in the message.

    Example:
        >>> check_output_path("/no/such/folder/out.npy", "--output")
        Traceback (most recent call last):
        ...
        FileNotFoundError: --output /no/such/folder/out.npy: the folder /no/such/folder does not exist
    """
    file = Path(path)
    parent = file.parent
    if file.is_dir():
        raise IsADirectoryError(f"{option} {file} is a directory; give a file path")
    if not parent.exists():
        raise FileNotFoundError(f"{option} {file}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"{option} {file}: {parent} is not a folder")
    if writable and (not os.access(parent, os.W_OK) or (file.exists() and not os.access(file, os.W_OK))):
        raise PermissionError(f"{option} {file}: not writable")


def check_unicode(text: str, where: str) -> None:
    """Refuse a text holding a lone UTF-16 surrogate (a JSON ``"\\ud800"`` escape, or bytes a command line could not
    decode): it is not Unicode text, and no output could hold it.

    Example:
        >>> check_unicode("a\\ud800", "texts.jsonl:3")
        Traceback (most recent call last):
        ...
        ValueError: texts.jsonl:3: the text holds '\\ud800', a lone surrogate, which is not a Unicode character
    """
    from embedkit.util.input_errors import lone_surrogate

    if (found := lone_surrogate(text)) is not None:
        raise ValueError(f"{where}: the text holds {found!r}, a lone surrogate, which is not a Unicode character")


def _int_within(text: str, low: int, high: int | None, what: str) -> int:
    """``text`` as an int in [low, high], else argparse's usage error (exit code 2) saying it must be ``what``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1 (else a usage error, exit code 2).

    Example:
        >>> positive_int("3")
        3
    """
    return _int_within(text, 1, None, "a positive integer")


def port_number(text: str) -> int:
    """An argparse ``type``: a TCP port, 0 (any free port) to 65535.

    Example:
        >>> port_number("8080")
        8080
    """
    return _int_within(text, 0, 65535, "a port number from 0 to 65535")


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``: an error or an interrupt
    leaves no half-written output (an existing file stays as it was).

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
        >>> write_atomically(target, lambda f: f.write(b"done"))
        >>> open(target).read()
        'done'
    """
    import tempfile

    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            write(stream)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
