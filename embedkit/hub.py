"""Resolve a model name to a local folder: an existing directory, or a Hugging Face Hub snapshot.

Hub access goes through ``huggingface_hub.snapshot_download`` (imported only when needed), which honours
``HF_HUB_OFFLINE``, the cache, ``revision`` and ``token``. Short names without a ``/`` get the organisation prefix
sentence-transformers uses (``sentence-transformers/``, ``cross-encoder/``, ``sparse-encoder/``), except the
original BERT-family checkpoints, which live at the top level of the Hub.
"""

from __future__ import annotations

import os
from pathlib import Path

# Top-level Hub checkpoints that must not get an organisation prefix (the BERT/MPNet families embedkit runs).
ORIGINAL_TRANSFORMER_MODELS = (
    "bert-base-cased", "bert-base-uncased", "bert-large-cased", "bert-large-uncased",
    "bert-base-multilingual-cased", "bert-base-multilingual-uncased", "bert-base-chinese",
    "bert-large-cased-whole-word-masking", "bert-large-uncased-whole-word-masking",
)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name.replace("/", "", 1) or (os.altsep or "\0") in name


def resolve_model_path(
    model_name_or_path: str | os.PathLike,
    cache_folder: str | None = None,
    revision: str | None = None,
    token: bool | str | None = None,
    local_files_only: bool = False,
    default_organization: str = "sentence-transformers",
) -> Path:
    """Return the local folder of ``model_name_or_path``, downloading a Hub snapshot if needed.

    Raises:
        FileNotFoundError: no such local folder and the Hub id could not be found (the message says where it looked).

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> resolve_model_path(default_model_path()).is_dir()
        True
    """
    name = os.fspath(model_name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists() or _looks_like_path(name) or name.count("/") > 1:
        raise FileNotFoundError(f"no model folder at {path.resolve()}")
    repo_id = name
    if "/" not in name and name not in ORIGINAL_TRANSFORMER_MODELS:
        repo_id = f"{default_organization}/{name}"
    cache_folder = cache_folder or os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id, revision=revision, token=token, cache_dir=cache_folder, local_files_only=offline
        )
    except Exception as exc:
        where = f"the Hub cache ({cache_folder or 'default HF cache'})" if offline else "the Hugging Face Hub"
        raise FileNotFoundError(
            f"model {name!r} not found: no local folder {path.resolve()}, and {repo_id!r} is not in {where}"
            + (" (offline mode: HF_HUB_OFFLINE or local_files_only)" if offline else "")
            + f": {type(exc).__name__}: {exc}"
        ) from exc
    return Path(folder)
