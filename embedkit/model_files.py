"""The one way files of a model folder are opened: regular files inside the folder, read with a size cap.

A hostile or broken folder can hold a ``config.json`` that is a symlink to ``/dev/zero`` (reading never ends), a
FIFO (opening blocks forever), a device, or a symlink to a file elsewhere on the machine. Every loader reads its
files through :func:`model_file` (weights, read by safetensors after its header check) or :func:`read_model_text`
(JSON configs, tokenizer files, vocabularies), which refuse all of these with a message naming the file.

A symlink is followed only when its target stays inside the folder that holds it, or, for a Hugging Face Hub cache
snapshot (``<repo>/snapshots/<revision>/...``), inside that repo's ``blobs`` folder, where the Hub keeps the files.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_JSON_BYTES = 16 << 20  # config JSON files are kilobytes; this bounds what a hostile one can make us read
MAX_TOKENIZER_BYTES = 512 << 20  # tokenizer.json / vocab files of large multilingual models reach tens of MiB


def _allowed_roots(folder: Path) -> list[Path]:
    """The folders a symlink in ``folder`` may point into: ``folder`` itself, and a Hub cache's ``blobs``."""
    roots = [folder]
    for parent in (folder, *folder.parents):
        if parent.parent.name == "snapshots":  # parent = <repo>/snapshots/<revision>
            roots.append(parent.parent.parent / "blobs")
            break
    return roots


def model_file(path: str | os.PathLike) -> Path:
    """``path`` checked to be a regular file that lies inside its folder (after following symlinks).

    Raises:
        FileNotFoundError: nothing exists at ``path``.
        ValueError: ``path`` is a FIFO, a device, a folder, a dangling symlink, or a symlink leading outside the
            model folder.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "config.json").write_text("{}")
        >>> (folder / "zero.json").symlink_to("/dev/zero")
        >>> model_file(folder / "config.json").name
        'config.json'
        >>> model_file(folder / "zero.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: .../zero.json is not a regular file (a FIFO, device or folder); refusing to read it
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file (a FIFO, device or folder); refusing to read it")
    if path.is_symlink():
        folder = Path(os.path.realpath(path.parent))
        target = Path(os.path.realpath(path))
        if not any(root == target.parent or root in target.parents for root in _allowed_roots(folder)):
            raise ValueError(f"{path} is a symlink to {target}, outside the model folder; refusing to read it")
    return path


def read_model_bytes(path: str | os.PathLike, limit: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of a model folder's file (see :func:`model_file`), refusing one larger than ``limit``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "vocab.txt").write_text("[PAD]\\n")
        >>> read_model_bytes(folder / "vocab.txt")
        b'[PAD]\\n'
    """
    path = model_file(path)
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit >> 20} MiB; refusing to read it")
    return data


def read_model_text(path: str | os.PathLike, limit: int = MAX_JSON_BYTES) -> str:
    """The UTF-8 text of a model folder's file (see :func:`model_file`), refusing one larger than ``limit``.

    Raises:
        FileNotFoundError: nothing exists at ``path``.
        ValueError: not a regular file inside the folder, larger than ``limit`` bytes, or not UTF-8.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "config.json").write_text("{}")
        >>> read_model_text(folder / "config.json")
        '{}'
    """
    data = read_model_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text: {exc}") from exc
