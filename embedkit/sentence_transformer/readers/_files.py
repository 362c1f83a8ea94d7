"""Opening plain or gzip-compressed text files (shared by the legacy readers)."""

from __future__ import annotations

import gzip
import os
from typing import IO


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open ``path`` for reading text (UTF-8), transparently decompressing ``.gz`` files."""
    if os.fspath(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")
