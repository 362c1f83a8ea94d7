"""Locating model files locally or on the Hugging Face Hub, and plain HTTP downloads."""

from __future__ import annotations

import logging
import os
import shutil
import urllib.request
from pathlib import Path, PureWindowsPath
from typing import Any

from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.utils import EntryNotFoundError, HFValidationError, LocalEntryNotFoundError
from tqdm.auto import tqdm

from embedkit.model_files import MAX_JSON_BYTES, read_model_text

try:
    from huggingface_hub.errors import IncompleteSnapshotError
except ImportError:  # older hub versions never raise it

    class IncompleteSnapshotError(Exception):  # type: ignore[no-redef]
        """Stand-in for hub versions that do not have this error."""


__all__ = ["disabled_tqdm", "http_get", "is_sentence_transformer_model", "load_dir_path", "load_file_path"]

logger = logging.getLogger(__name__)

_LIBRARY_NAME = "sentence-transformers"


class disabled_tqdm(tqdm):
    """A ``tqdm`` progress bar that is always disabled (handed to Hub downloads to keep them quiet).

    Example:
        >>> bar = disabled_tqdm(total=3)
        >>> bar.disable
        True
        >>> bar.close()
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)

    def __delattr__(self, attr: str) -> None:
        # A disabled bar never sets ``_lock``; the hub deletes it anyway (huggingface_hub#1603).
        try:
            super().__delattr__(attr)
        except AttributeError:
            if attr != "_lock":
                raise


def _check_relative(path: str | Path) -> None:
    """Refuse absolute paths, drive letters and ``..`` in POSIX or Windows spelling."""
    if not isinstance(path, (str, Path)):
        raise ValueError(f"Invalid model path {path!r}: expected a relative path.")
    windows = PureWindowsPath(path)
    if windows.anchor or ".." in windows.parts or "\0" in str(path):
        raise ValueError(f"Invalid model path {str(path)!r}: expected a relative path without '..' components.")


def load_file_path(
    model_name_or_path: str,
    filename: str | Path,
    subfolder: str = "",
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> str | None:
    """Path of ``subfolder/filename`` in a local model folder, else downloaded from the Hub repo.

    Returns ``None`` when the file is missing from an existing local folder (the Hub is not asked), or
    when the Hub says it is not there (``EntryNotFoundError``, an invalid repo id, or not cached with
    ``local_files_only``). Other Hub errors (authentication, rate limits, network) propagate.

    Raises:
        ValueError: If ``subfolder`` or ``filename`` is absolute or contains ``..``.

    Example:
        >>> import tempfile, pathlib
        >>> folder = tempfile.mkdtemp()
        >>> _ = (pathlib.Path(folder) / "modules.json").write_text("[]")
        >>> load_file_path(folder, "modules.json") == str(pathlib.Path(folder, "modules.json"))
        True
        >>> load_file_path(folder, "missing.json") is None
        True
    """
    _check_relative(subfolder)
    _check_relative(filename)
    local = Path(model_name_or_path, subfolder, filename)
    if local.exists():
        return str(local)
    if Path(model_name_or_path).is_dir():
        return None
    remote = Path(subfolder, filename)
    try:
        return hf_hub_download(
            model_name_or_path,
            filename=remote.name,
            subfolder=remote.parent.as_posix(),
            revision=revision,
            library_name=_LIBRARY_NAME,
            token=token,
            cache_dir=cache_folder,
            local_files_only=local_files_only,
        )
    except (EntryNotFoundError, HFValidationError, LocalEntryNotFoundError) as error:
        logger.debug(f"Could not load {str(filename)!r} from {model_name_or_path!r}: {error}")
        return None


def load_dir_path(
    model_name_or_path: str,
    subfolder: str,
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> str | None:
    """Path of ``subfolder`` in a local model folder, else of its snapshot downloaded from the Hub repo.

    Returns ``None`` when an existing local folder lacks the subfolder (the Hub is not asked), for an invalid
    repo id, or when nothing is cached with ``local_files_only``. Any other Hub failure (authentication, rate
    limits, network) is retried once from the local cache; if the cache cannot serve it either, the original
    error is raised.

    Raises:
        ValueError: If ``subfolder`` is absolute or contains ``..``.

    Example:
        >>> import tempfile, pathlib
        >>> folder = tempfile.mkdtemp()
        >>> (pathlib.Path(folder) / "1_Pooling").mkdir()
        >>> load_dir_path(folder, "1_Pooling") == str(pathlib.Path(folder, "1_Pooling"))
        True
        >>> load_dir_path(folder, "2_Dense") is None
        True
    """
    _check_relative(subfolder)
    if isinstance(subfolder, Path):
        subfolder = subfolder.as_posix()
    local = Path(model_name_or_path, subfolder)
    if local.exists():
        return str(local)
    if Path(model_name_or_path).is_dir():
        return None
    wants_subfolder = subfolder not in ("", ".")
    download_kwargs: dict[str, Any] = {
        "repo_id": model_name_or_path,
        "revision": revision,
        "allow_patterns": f"{subfolder}/**" if wants_subfolder else None,
        "library_name": _LIBRARY_NAME,
        "token": token,
        "cache_dir": cache_folder,
        "local_files_only": local_files_only,
        "tqdm_class": disabled_tqdm,
    }
    try:
        repo_path = snapshot_download(**download_kwargs)
    except IncompleteSnapshotError:
        raise  # transient: the cache lacks files the failed Hub call should have fetched
    except (HFValidationError, LocalEntryNotFoundError) as error:
        logger.debug(f"Could not load subfolder {subfolder!r} from {model_name_or_path!r}: {error}")
        return None
    except Exception as first_error:
        download_kwargs["local_files_only"] = True
        try:
            repo_path = snapshot_download(**download_kwargs)
        except LocalEntryNotFoundError:
            raise first_error from None
    return str(Path(repo_path, subfolder))


def is_sentence_transformer_model(
    model_name_or_path: str,
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> bool:
    """Whether the model folder or Hub repo has a ``modules.json`` (i.e. is a sentence-transformers model).

    Hub errors other than "not found" propagate, so a flaky Hub is not mistaken for a plain transformer.

    Example:
        >>> import tempfile
        >>> is_sentence_transformer_model(tempfile.mkdtemp())
        False
    """
    found = load_file_path(
        model_name_or_path, "modules.json", token=token, cache_folder=cache_folder,
        revision=revision, local_files_only=local_files_only,
    )
    return bool(found)


def http_get(url: str, path: str) -> None:
    """Download ``url`` to ``path`` with a progress bar.

    The body is streamed into ``<path>_part`` and renamed to ``path`` once complete (the partial file is
    removed on failure); missing parent folders are created.

    Raises:
        urllib.error.HTTPError: If the server answers with an error status.
        OSError: If the file cannot be written.

    Example:
        >>> import pathlib, tempfile
        >>> source = pathlib.Path(tempfile.mkdtemp(), "a.txt")
        >>> _ = source.write_text("hi")
        >>> target = str(source.parent / "sub" / "b.txt")
        >>> http_get(source.as_uri(), target)
        >>> pathlib.Path(target).read_text()
        'hi'
    """
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    partial = path + "_part"
    request = urllib.request.Request(url, headers={"User-Agent": "embedkit"})
    with urllib.request.urlopen(request) as response:
        length = response.headers.get("Content-Length") if response.headers is not None else None
        progress = tqdm(unit="B", total=int(length) if length else None, unit_scale=True, leave=False,
                        desc=f"Downloading {os.path.basename(path)}", disable=None)
        try:
            with open(partial, "wb") as out:
                while chunk := response.read(64 * 1024):
                    progress.update(len(chunk))
                    out.write(chunk)
            shutil.move(partial, path)
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        finally:
            progress.close()


MAX_CONFIG_BYTES = MAX_JSON_BYTES  # JSON configs are kilobytes; this bounds what a hostile one can make us read


def read_config_text(path: str | os.PathLike, limit: int = MAX_CONFIG_BYTES) -> str:
    """The text of a model folder's small file (JSON config), refusing what could hang or exhaust memory; see
    :func:`embedkit.model_files.read_model_text`, which this calls.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a regular file (a FIFO, a device such as /dev/zero, a folder), is a symlink
            leading outside its folder, or is larger than ``limit`` bytes.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "config.json").write_text("{}")
        >>> read_config_text(folder / "config.json")
        '{}'
    """
    return read_model_text(path, limit)
