"""What a CrossEncoder folder's sentence-transformers files say, before any weight is read.

``config_sentence_transformers.json`` (model type, activation, prompts), ``modules.json`` (one root Transformer) and
``sentence_bert_config.json`` (task, max length, lower-casing): :func:`read_folder_configs` checks them and tells a
CrossEncoder folder from a SentenceTransformer (bi-encoder) folder whose transformer becomes a new head's backbone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from embedkit.base.modules.module import read_json_file
from embedkit.util.environment import check_model_requirements

__all__ = ["TRANSFORMER_TYPES", "read_folder_configs", "read_st_config", "saved_modality_config"]

TRANSFORMER_TYPES = ("sentence_transformers.base.modules.transformer.Transformer",
                     "sentence_transformers.models.Transformer",
                     "sentence_transformers.sentence_transformer.modules.transformer.Transformer")


def read_folder_configs(folder: str | os.PathLike) -> tuple[str | None, int | None, bool, bool, dict[str, Any]]:
    """Read the sentence-transformers files of a CrossEncoder (or bi-encoder) folder, if present.

    Returns (activation path, max_seq_length, do_lower_case, is a classifier folder, the
    config_sentence_transformers.json dict). A SentenceTransformer (bi-encoder) folder is not a classifier
    folder: its root Transformer becomes the backbone of a new head.

    Example:
        >>> from embedkit.cross_encoder.folder_configs import read_folder_configs
        >>> from embedkit.default_model import default_model_path
        >>> activation, max_length, lower, is_classifier, _ = read_folder_configs(default_model_path())
        >>> activation, max_length, lower, is_classifier  # a bi-encoder folder: not a classifier
        (None, None, False, False)
    """
    folder = Path(folder)
    activation, model_type = None, "CrossEncoder"
    st_config = read_st_config(folder)
    if st_config:
        model_type = st_config.get("model_type", "SentenceTransformer")
        if model_type not in ("CrossEncoder", "SentenceTransformer"):
            raise ValueError(f"{folder}: config_sentence_transformers.json has model_type={model_type!r}; "
                             "a CrossEncoder loads CrossEncoder folders or SentenceTransformer backbones")
        activation = st_config.get("activation_fn")
    modules_path = folder / "modules.json"
    if not modules_path.exists():
        return activation, None, False, True, st_config
    modules = read_json_file(modules_path)
    if not (isinstance(modules, list) and modules and modules[0].get("path", "") in ("", ".")
            and modules[0].get("type") in TRANSFORMER_TYPES):
        custom = [entry.get("type") for entry in modules if isinstance(entry, dict)
                  and not str(entry.get("type", "")).startswith("sentence_transformers.")] if isinstance(
                      modules, list) else []
        if custom:
            raise ValueError(f"{folder}/modules.json: module type {custom[0]!r} is not supported by embedkit "
                             "(custom code is never run)")
        raise ValueError(f"{folder}: modules.json must start with a root Transformer module, got {modules!r}")
    sbert_path = folder / "sentence_bert_config.json"
    sbert = read_json_file(sbert_path) if sbert_path.exists() else {}
    task = sbert.get("transformer_task", "feature-extraction")
    max_length, lower = sbert.get("max_seq_length"), bool(sbert.get("do_lower_case", False))
    if task == "feature-extraction" and model_type == "SentenceTransformer":
        # a new CrossEncoder on a bi-encoder's backbone: sentence-transformers 6.2 rebuilds the Transformer for
        # sequence classification without the bi-encoder's max_seq_length, so the tokenizer's limit applies
        return None, None, lower, False, st_config
    if len(modules) != 1 or task != "sequence-classification":
        raise ValueError(f"{folder}: transformer_task={task!r} with {len(modules)} modules; a CrossEncoder "
                         "folder has one root Transformer with 'sequence-classification'")
    output_name = sbert.get("module_output_name", "scores")
    if output_name != "scores":
        raise ValueError(f"{folder}: module_output_name={output_name!r} is not supported (scores only)")
    return activation, max_length, lower, True, st_config


def read_st_config(folder: Path) -> dict[str, Any]:
    """``config_sentence_transformers.json`` ({} when there is none), its ``requirements`` checked.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> read_st_config(default_model_path())["__version__"]["sentence_transformers"]
        '2.0.0'
    """
    path = Path(folder) / "config_sentence_transformers.json"
    if not path.exists():
        return {}
    config = read_json_file(path)
    check_model_requirements(config.get("requirements"), source=str(folder))
    return config


def saved_modality_config(folder: Path) -> dict[str, Any] | None:
    """The ``modality_config`` a folder saved by sentence-transformers pins (``modules.json`` present): the one in
    ``sentence_bert_config.json``, else the text-only default of the 5.x folders. None for a plain transformers folder
    (or a 5.x CrossEncoder folder), whose modalities are inferred (``"message"`` when there is a chat template), and
    for a bi-encoder folder, whose classifier is new.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> saved_modality_config(default_model_path()) is None  # a bi-encoder folder
        True
    """
    if not (Path(folder) / "modules.json").exists():
        return None
    from embedkit.base.modules.transformer import Transformer

    config = Transformer.load_config(folder)
    if config.get("transformer_task", "feature-extraction") != "sequence-classification":
        return None
    return config["modality_config"]
