"""Read and write sentence-transformers model folders (``modules.json`` + one folder per module).

Reading accepts both on-disk generations (ST 5.0-5.3 "classic" and 5.4+/6.x type strings and config keys).
Writing uses the classic layout, which ST 5.x and 6.x both load. Saving goes to a temporary sibling folder that is
renamed into place, so a crash never leaves a half-written model where a complete one is expected.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from torch import nn

from embedkit.base.modules.module import read_json_file, write_json_file
from embedkit.module_types import MODULE_TYPES, SAVED_TYPE

logger = logging.getLogger(__name__)

ST_VERSION_WRITTEN = "5.1.0"  # the __version__ we declare: old enough that ST 5.x loads without a newer-version warning


def safe_subfolder(root: Path, relative: str, source: str) -> Path:
    """``root / relative``, refusing absolute paths and paths that climb out of ``root``."""
    if os.path.isabs(relative) or relative.startswith(("/", "\\")):
        raise ValueError(f"{source}: module path {relative!r} is absolute; it must stay inside {root}")
    target = (root / relative).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise ValueError(f"{source}: module path {relative!r} escapes the model folder {root}")
    return target


def accepted_kwargs(target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``kwargs`` that ``target`` (a callable, or a class: its ``__init__``) declares by name, or all
    of them when it takes ``**kwargs``.

    Example:
        >>> def f(a, b=1): ...
        >>> accepted_kwargs(f, {"b": 2, "c": 3})
        {'b': 2}
    """
    if not kwargs:
        return {}
    try:
        parameters = inspect.signature(target.__init__ if isinstance(target, type) else target).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in parameters}


def load_module(type_name: Any, path: Path, source: str, module_load_kwargs: dict[str, Any] | None = None,
                **hub_kwargs: Any) -> nn.Module:
    """Build one module of the ST class ``type_name`` from ``path``.

    ``module_load_kwargs`` (``model_kwargs``, ``processor_kwargs``, ``config_kwargs``) reach the modules whose
    ``load`` or constructor declares them.

    Raises:
        ValueError: the type is not one embedkit implements (the message lists the supported ones).
    """
    cls = MODULE_TYPES.get(type_name)
    if cls is None:
        supported = "\n  ".join(sorted(MODULE_TYPES))
        raise ValueError(
            f"{source}: module type {type_name!r} is not supported by embedkit (custom code is never run); "
            f"supported types:\n  {supported}"
        )
    extra = {}
    if module_load_kwargs:
        extra = accepted_kwargs(cls.load, module_load_kwargs)
        if extra and not (set(extra) & set(inspect.signature(cls.load).parameters)):  # load(**kwargs) -> __init__
            extra = accepted_kwargs(cls, extra)
    if getattr(cls, "save_in_root", False):
        return cls.load(path, **hub_kwargs, **extra)
    return cls.load(path, **extra)


def load_modules(folder: Path, module_load_kwargs: dict[str, Any] | None = None, **hub_kwargs: Any
                 ) -> tuple[list[tuple[str, nn.Module]], dict[str, list[str]]]:
    """Build the modules listed in ``folder/modules.json``; returns ([(name, module)], {name: forward kwargs}).

    Raises:
        ValueError: an unknown module type (the message lists the supported ones) or an unsafe module path.
    """
    source = folder / "modules.json"
    entries = read_json_file(source)
    if not isinstance(entries, list):
        raise ValueError(f"{source}: expected a list of modules")
    modules, module_kwargs = [], {}
    for position, entry in enumerate(entries):
        check_module_entry(entry, position, source)
        path = safe_subfolder(folder, entry.get("path", ""), str(source))
        name = str(entry.get("name", entry.get("idx", len(modules))))
        modules.append((name, load_module(entry.get("type"), path, str(source), module_load_kwargs, **hub_kwargs)))
        if entry.get("kwargs"):
            module_kwargs[name] = list(entry["kwargs"])
    return modules, module_kwargs


def check_module_entry(entry: Any, position: int, source: Path) -> None:
    """Refuse a ``modules.json`` entry that is not an object with a string ``type`` and, if given, string ``path``
    and ``name`` and a list of string ``kwargs``.

    Example:
        >>> check_module_entry("1_Pooling", 1, Path("modules.json"))
        Traceback (most recent call last):
        ...
        ValueError: modules.json: entry 1 must be an object with "type" and "path", not str ('1_Pooling')
    """
    if not isinstance(entry, dict):
        raise ValueError(f'{source}: entry {position} must be an object with "type" and "path", not '
                         f"{type(entry).__name__} ({entry!r:.60})")
    for key in ("type", "path", "name"):
        if key in entry and not isinstance(entry[key], str) and not (key == "name" and isinstance(entry[key], int)):
            raise ValueError(f"{source}: entry {position} key {key!r} must be a string, not "
                             f"{type(entry[key]).__name__} ({entry[key]!r:.60})")
    if "type" not in entry:
        raise ValueError(f'{source}: entry {position} has no "type"')
    kwargs = entry.get("kwargs")
    if kwargs is not None and not (isinstance(kwargs, list) and all(isinstance(k, str) for k in kwargs)):
        raise ValueError(f"{source}: entry {position} key 'kwargs' must be a list of strings, not {kwargs!r:.60}")


def read_model_config(folder: Path) -> dict[str, Any]:
    path = folder / "config_sentence_transformers.json"
    return read_json_file(path) if path.exists() else {}  # a FIFO or device is refused by read_json_file


def saved_versions() -> dict[str, str]:
    import torch

    try:
        embedkit_version = version("embedkit")
    except PackageNotFoundError:
        embedkit_version = "dev"
    return {"sentence_transformers": ST_VERSION_WRITTEN, "pytorch": torch.__version__, "embedkit": embedkit_version}


def save_model_folder(
    path: str | os.PathLike,
    modules: list[tuple[str, nn.Module]],
    model_config: dict[str, Any],
    module_kwargs: dict[str, list[str]] | None = None,
    write_extra: Callable[[Path], None] | None = None,
    safe_serialization: bool = True,
) -> None:
    """Write a complete model folder at ``path`` atomically (temporary sibling folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        entries = []
        for idx, (name, module) in enumerate(modules):
            type_name = SAVED_TYPE.get(type(module))
            if type_name is None and callable(getattr(module, "save", None)):
                # a user's own module class (sentence-transformers' custom-module docs): saved under its import
                # path as sentence-transformers names it, for sentence-transformers (or code that imports it) to
                # load; embedkit itself never imports a class a folder names
                type_name = f"{type(module).__module__}.{type(module).__name__}"
            if type_name is None:
                raise ValueError(f"cannot save module {name!r} of type {type(module).__name__}: it has no save() "
                                 f"method (subclass embedkit.base.modules.Module)")
            relative = "" if idx == 0 and getattr(module, "save_in_root", False) else f"{idx}_{type(module).__name__}"
            (tmp / relative).mkdir(parents=True, exist_ok=True)
            try:
                module.save(tmp / relative, safe_serialization=safe_serialization)
            except TypeError as exc:  # a module whose save() predates the keyword: save it without
                if "safe_serialization" not in str(exc):
                    raise
                module.save(tmp / relative)
            entry = {"idx": idx, "name": name, "path": relative, "type": type_name}
            if module_kwargs and module_kwargs.get(name):
                entry["kwargs"] = module_kwargs[name]
            entries.append(entry)
        write_json_file(tmp / "modules.json", entries)
        write_json_file(tmp / "config_sentence_transformers.json", {"__version__": saved_versions(), **model_config},
                        sort_keys=True)
        if write_extra is not None:
            write_extra(tmp)
        _replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# Weight files a loader looks for (either format, sharded or not): a save that writes one of them must not leave
# the others of an earlier save beside it, or the loader could pick the stale one (it prefers safetensors).
WEIGHT_FILE = re.compile(r"^(model|pytorch_model)(-\d+-of-\d+)?\.(safetensors|bin)(\.index\.json)?$")


def remove_stale_weight_files(folder: Path, written: set[str]) -> None:
    """Delete the weight files in ``folder`` other than the ``written`` ones (names), if any was written.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for name in ("model.safetensors", "pytorch_model.bin", "README.md"):
        ...     _ = (folder / name).write_text("x")
        >>> remove_stale_weight_files(folder, {"pytorch_model.bin"})
        >>> sorted(p.name for p in folder.iterdir())
        ['README.md', 'pytorch_model.bin']
    """
    if not any(WEIGHT_FILE.match(name) for name in written):
        return
    for entry in folder.iterdir():
        if entry.is_file() and WEIGHT_FILE.match(entry.name) and entry.name not in written:
            entry.unlink()


@contextmanager
def _folder_lock(parent: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the ``parent`` folder itself (no lock file is left behind), so that two
    processes saving into it take turns instead of moving each other's folders away. Without ``fcntl`` (Windows),
    nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _replace_folder(new: Path, target: Path) -> None:
    """Move ``new`` to ``target`` under :func:`_folder_lock`; the last of concurrent saves wins, whole."""
    with _folder_lock(target.parent):
        _replace_folder_locked(new, target)


# Files a loader reads beside others when present: a stale copy carried over from an older save would override what
# the new save wrote (transformers adds ``added_tokens.json``'s tokens beyond the embedding table; peft applies an
# old adapter on top of new full weights).
TOKENIZER_SIDE_FILES = frozenset({"vocab.txt", "vocab.json", "merges.txt", "added_tokens.json",
                                  "special_tokens_map.json", "spiece.model", "sentencepiece.bpe.model",
                                  "tokenizer.model", "bpe.codes"})
ADAPTER_FILE = re.compile(r"^adapter_(config\.json|model\.(safetensors|bin))$")


def _carry_over(old: Path, new: Path) -> None:
    """Copy into ``new`` what ``old`` holds and ``new`` lacks, module folders included (a user's notes in
    ``2_Dense/`` stay), except weight and adapter files where ``new`` has weights of its own, and a tokenizer's side
    files where ``new`` has a ``tokenizer.json``."""
    new_has_weights = any(WEIGHT_FILE.match(entry.name) for entry in new.iterdir())
    new_has_tokenizer = (new / "tokenizer.json").is_file()
    for entry in old.iterdir():
        if entry.is_file() and ((new_has_weights and (WEIGHT_FILE.match(entry.name) or ADAPTER_FILE.match(entry.name)))
                                or (new_has_tokenizer and entry.name in TOKENIZER_SIDE_FILES)):
            continue
        counterpart = new / entry.name
        if entry.is_dir() and not entry.is_symlink() and counterpart.is_dir() and not counterpart.is_symlink():
            _carry_over(entry, counterpart)
        elif not os.path.lexists(counterpart):
            if entry.is_dir():
                shutil.copytree(entry, counterpart)
            else:
                shutil.copy2(entry, counterpart)


def _replace_folder_locked(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing ``target`` is kept aside until the move succeeded.

    Files of the old folder that the new one does not write (a user's notes, training artefacts) are carried over,
    except weight files when the new folder has its own (a save in the other format must not leave the old
    weights where a loader would find them first).
    """
    if not target.exists():
        os.replace(new, target)
        return
    _carry_over(target, new)
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    backup.rmdir()
    os.replace(target, backup)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)
