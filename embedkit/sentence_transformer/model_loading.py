"""How a SentenceTransformer builds its modules from ``model_name_or_path``.

:class:`ModuleLoading` is mixed into :class:`~embedkit.sentence_transformer.model.SentenceTransformer`: a folder of
this model type loads from its ``modules.json`` with its saved prompts and settings, a folder saved as another
model type (e.g. a SparseEncoder) or a plain Hugging Face checkpoint gets Transformer + mean Pooling. Each step is
a method, so SparseEncoder overrides the default and converted modules and the saved-config merge as
sentence-transformers' subclasses do.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

from embedkit.base.model import announce_default_prompt
from embedkit.base.model_card import note_base_model, read_model_card_text
from embedkit.hub import resolve_model_path
from embedkit.model_folder import accepted_kwargs, load_modules, read_model_config
from embedkit.sentence_transformer.modules import Pooling, Transformer
from embedkit.util.environment import check_model_requirements

__all__ = ["ModuleLoading"]

base_logger = logging.getLogger("embedkit.base.model")  # loading messages, where sentence-transformers logs them


class ModuleLoading:
    """The loading steps of SentenceTransformer (and, through it, SparseEncoder).

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> isinstance(model, ModuleLoading), model._get_model_type(default_model_path())
        (True, 'SentenceTransformer')
    """

    def _load_modules(
        self,
        model_name_or_path: str | os.PathLike,
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        local_files_only: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
    ) -> tuple[list[tuple[str, nn.Module]], dict[str, list[str]]]:
        """Resolve ``model_name_or_path`` and build its modules: from ``modules.json`` when the folder holds this
        model type, converted (default modules on its transformer) when it holds another type, and Transformer +
        Pooling for a plain Hugging Face checkpoint. Returns ([(name, module)], {name: forward kwargs})."""
        name = os.fspath(model_name_or_path)
        if os.path.isfile(name):
            raise NotADirectoryError(f"Path {name} is a file, not a directory. `model_name_or_path` must be a local "
                                     "directory containing a model, or a Hugging Face Hub model ID.")
        folder = resolve_model_path(name, cache_folder=cache_folder, revision=revision, token=token,
                                    local_files_only=local_files_only,
                                    default_organization=self.default_huggingface_organization or "")
        load_kwargs = {"token": token, "cache_folder": cache_folder, "revision": revision,
                       "trust_remote_code": trust_remote_code, "local_files_only": local_files_only,
                       "model_kwargs": model_kwargs, "processor_kwargs": processor_kwargs,
                       "config_kwargs": config_kwargs}
        note_base_model(self.model_card_data, model_name_or_path, folder, revision, local_files_only)
        # Fail before any module is built if the environment does not meet the author's requirements (as ST).
        check_model_requirements(read_model_config(folder).get("requirements"), source=name)
        if not (folder / "modules.json").exists():
            base_logger.info(f"No modules.json found for {name}, initializing a new {self.model_type} model.")
            return self._load_default_modules(folder, **load_kwargs)
        saved_type = self._get_model_type(folder)
        if saved_type == self.model_type:
            base_logger.info(f"Loading {self.model_type} model from {name}.")
            return self._load_config_modules(folder, **load_kwargs)
        base_logger.warning(f"Converting {saved_type} model {name} to {self.model_type}.")
        return self._load_converted_modules(folder, **load_kwargs, model_type=saved_type)

    def _get_model_type(self, folder: str | os.PathLike, *args: Any, **kwargs: Any) -> str:
        """The ``model_type`` saved in ``folder`` (folders written before the key existed are SentenceTransformers)."""
        return read_model_config(Path(folder)).get("model_type", "SentenceTransformer")

    def _load_default_modules(self, folder: str | os.PathLike, **load_kwargs: Any
                              ) -> tuple[list[tuple[str, nn.Module]], dict[str, list[str]]]:
        """Transformer + mean Pooling on a plain Hugging Face checkpoint (the folder's tokenizer and weights); last
        token pooling when the checkpoint is a causal LM (``architectures[0]`` ends in ``ForCausalLM`` and the config
        does not say ``is_causal: false``), as sentence-transformers chooses."""
        hub_kwargs = {k: load_kwargs.get(k) for k in ("cache_folder", "revision", "token")}
        hub_kwargs["local_files_only"] = bool(load_kwargs.get("local_files_only"))
        extra = {k: v for k, v in load_kwargs.items()
                 if k in ("model_kwargs", "processor_kwargs", "config_kwargs") and v is not None}
        transformer = Transformer(folder, **hub_kwargs, **accepted_kwargs(Transformer, extra))
        hf_config = getattr(transformer.config, "hf_config", None) or {}
        architectures = hf_config.get("architectures") or [""]
        is_causal_lm = str(architectures[0]).endswith("ForCausalLM") and hf_config.get("is_causal", True)
        mode = "lasttoken" if is_causal_lm else "mean"
        return [("0", transformer), ("1", Pooling(transformer.get_embedding_dimension(), mode))], {}

    def _load_config_modules(self, folder: str | os.PathLike, **load_kwargs: Any
                             ) -> tuple[list[tuple[str, nn.Module]], dict[str, list[str]]]:
        """The modules of a saved folder of this model type, with its saved prompts and settings."""
        folder = Path(folder)
        self._parse_model_config(read_model_config(folder))
        self._model_card_text = read_model_card_text(folder)
        hub_kwargs = {k: load_kwargs.get(k) for k in ("cache_folder", "revision", "token")}
        hub_kwargs["local_files_only"] = bool(load_kwargs.get("local_files_only"))
        extra = {k: v for k, v in load_kwargs.items()
                 if k in ("model_kwargs", "processor_kwargs", "config_kwargs") and v is not None}
        return load_modules(folder, **hub_kwargs, module_load_kwargs=extra)

    def _load_converted_modules(self, folder: str | os.PathLike, model_type: str | None = None, **load_kwargs: Any
                                ) -> tuple[list[tuple[str, nn.Module]], dict[str, list[str]]]:
        """A folder saved as another model type: this class's default modules on its transformer. The saved
        prompts, default prompt and similarity function describe the other model, so they are not inherited."""
        return self._load_default_modules(folder, **load_kwargs)

    def _parse_model_config(self, model_config: dict[str, Any]) -> None:
        """Merge a saved ``config_sentence_transformers.json``: saved prompts fill only unset ones, and the saved
        default prompt, similarity function and ``truncate_dim`` apply unless given to the constructor."""
        for name, text in (model_config.get("prompts") or {}).items():
            if self.prompts.get(name) is None:
                self.prompts[name] = text
        if self.default_prompt_name is None:
            self.default_prompt_name = model_config.get("default_prompt_name")
        saved = model_config.get("similarity_fn_name")
        if self._similarity_fn_name is None and saved in self.SUPPORTED_SIMILARITY_FN_NAMES:
            self.similarity_fn_name = saved
        if self.truncate_dim is None:
            self.truncate_dim = model_config.get("truncate_dim")

    def _validate_prompts(self) -> None:
        """Unfilled default prompts become ``""``; the default prompt name must name a prompt."""
        for name, text in self.prompts.items():
            if text is None:
                self.prompts[name] = ""
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            raise ValueError(f"Default prompt name '{self.default_prompt_name}' not found in the configured prompts "
                             f"dictionary with keys {list(self.prompts.keys())!r}.")
        non_empty = [name for name, text in self.prompts.items() if text != ""]
        if non_empty:
            base_logger.info(f"Loaded {len(non_empty)} prompt{'s' if len(non_empty) > 1 else ''} with these keys: "
                             f"{non_empty}")
        announce_default_prompt(self.default_prompt_name)
