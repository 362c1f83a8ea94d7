"""How a Transformer module reads and writes its ``sentence_bert_config.json``: both generations of the file (classic
``max_seq_length``/``do_lower_case``; v5.4+ ``transformer_task``/``modality_config``/...), the per-task defaults
sentence-transformers assumes, and the constructor arguments a saved folder gives.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any

from embedkit.base.modules.module import Module

logger = logging.getLogger("embedkit.base.modules.transformer")  # where these messages were always logged

#: Per ``transformer_task``: the default ``modality_config`` and ``module_output_name`` that sentence-transformers
#: assumes for folders saved without them (embedkit runs the first three: ``transformer.TASKS``).
TRANSFORMER_TASK_DEFAULTS: dict[str, tuple[dict[str, dict[str, str]], str]] = {
    "feature-extraction": ({"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
                           "token_embeddings"),
    "sequence-classification": ({"text": {"method": "forward", "method_output_name": "logits"}}, "scores"),
    "text-generation": ({"text": {"method": "forward", "method_output_name": "logits"}}, "causal_logits"),
    "any-to-any": ({"text": {"method": "forward", "method_output_name": "logits"}}, "causal_logits"),
    "fill-mask": ({"text": {"method": "forward", "method_output_name": "logits"}}, "token_embeddings"),
    "retrieval": ({"text": {"method": "forward", "method_output_name": "embeddings"},
                   "image": {"method": "forward", "method_output_name": "embeddings"}}, "token_embeddings"),
}

# sentence_bert_config.json file names used by old sentence-transformers releases for other backbones.
_CONFIG_FILE_NAMES = ("sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
                      "sentence_camembert_config.json", "sentence_albert_config.json",
                      "sentence_xlm-roberta_config.json", "sentence_xlnet_config.json")
# Keys of sentence_bert_config.json we understand. v5.4+ keys are checked for values we can honour.
_KNOWN_CONFIG_KEYS = {"max_seq_length", "do_lower_case", "transformer_task", "modality_config", "module_output_name",
                      "model_args", "tokenizer_args", "config_args", "processing_kwargs", "unpad_inputs"}
_DEPRECATED_KWARGS = {"model_args": "model_kwargs", "tokenizer_args": "processor_kwargs",
                      "config_args": "config_kwargs"}


def accepted_init_kwargs(cls: type, base: type, init: dict[str, Any], source: Any) -> dict[str, Any]:
    """``init`` (constructor arguments read from a saved folder) without the keys ``cls`` cannot take, each logged.

    A subclass's ``**kwargs`` go on to the next ``__init__`` up to ``base``'s: what the chain names is accepted; an
    ``__init__`` taking ``**kwargs`` at its end (a wrapped ``base.__init__``) accepts anything.
    """
    accepted: set[str] = set()
    takes_any = True
    for klass in cls.__mro__[: cls.__mro__.index(base) + 1]:
        if "__init__" in vars(klass):
            parameters = inspect.signature(klass.__init__).parameters
            accepted |= set(parameters)
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
                takes_any = False
                break
    unknown = set() if takes_any else set(init) - accepted
    if unknown:
        logger.warning("%s: ignoring sentence_bert_config.json keys embedkit does not know: %s", source,
                       sorted(unknown))
    return {k: v for k, v in init.items() if k not in unknown}


class SentenceBertConfigFiles:
    """The ``sentence_bert_config.json`` side of :class:`~embedkit.base.modules.Transformer`: checking a
    ``modality_config``, the config dict it saves, and reading a saved folder's config and constructor arguments.

    Example:
        >>> from embedkit.base.modules import Transformer
        >>> from embedkit.default_model import default_model_path
        >>> config = Transformer.load_config(default_model_path())
        >>> config["max_seq_length"], config["module_output_name"]
        (256, 'token_embeddings')
    """

    @staticmethod
    def _check_modality_config(task: str, modality_config: dict[Any, dict[str, Any]] | None,
                               module_output_name: str | None) -> tuple[dict[Any, dict[str, Any]], str]:
        """Validate a user ``modality_config`` (or take the task's default) -> (modality_config, output name).

        Raises:
            ValueError: a malformed entry, a missing ``module_output_name``, or a layout embedkit cannot run.
        """
        if modality_config is None:
            default, output_name = TRANSFORMER_TASK_DEFAULTS[task]
            return {key: dict(value) for key, value in default.items()}, output_name
        if module_output_name is None:
            raise ValueError(
                "Loading the Transformer module with a custom modality_config requires also providing "
                "module_output_name with the name of the output feature that this module should create, "
                'for example "token_embeddings" or "sentence_embedding".'
            )
        for key, params in modality_config.items():
            if not isinstance(params, dict) or "method" not in params or "method_output_name" not in params:
                raise ValueError(f"Invalid modality_config entry for {key!r}: each entry must be a dict with "
                                 f"'method' and 'method_output_name' keys, but got {params!r}")
        text = modality_config.get("text")
        default, output_name = TRANSFORMER_TASK_DEFAULTS[task]
        supported = default["text"]
        if text is not None and (text["method"] != supported["method"]
                                 or text["method_output_name"] != supported["method_output_name"]
                                 or module_output_name != output_name):
            raise ValueError(f"modality_config {modality_config!r} with module_output_name={module_output_name!r} "
                             f"is not supported by embedkit for {task} (text: {supported['method']} -> "
                             f"{supported['method_output_name']} -> {output_name})")
        return dict(modality_config), module_output_name

    def get_config_dict(self) -> dict[str, Any]:
        """The module config in sentence-transformers 6.x form: ``max_seq_length``, ``do_lower_case``,
        ``transformer_task``, ``modality_config`` (tuple keys joined with ``+``), ``module_output_name``, plus
        ``processing_kwargs``/``unpad_inputs`` when set."""
        from embedkit.base.modality import format_modality

        config: dict[str, Any] = {"max_seq_length": self.max_seq_length, "do_lower_case": self.do_lower_case,
                                  "transformer_task": self.transformer_task}
        modality_config = getattr(self, "modality_config", None)
        if modality_config is None:
            modality_config, output_name = TRANSFORMER_TASK_DEFAULTS[self.transformer_task]
        else:
            output_name = self.module_output_name
        config["modality_config"] = {format_modality(k): v for k, v in modality_config.items()}
        config["module_output_name"] = output_name
        if getattr(self, "processing_kwargs", None):
            config["processing_kwargs"] = self.processing_kwargs
        if getattr(self, "unpad_inputs", None) is not None:
            config["unpad_inputs"] = self.unpad_inputs
        return config

    always_saves_task = False
    """Whether ``sentence_bert_config.json`` always names the task: a module with a head (classifier, causal LM)
    would otherwise read back as an embedding model."""

    def _saved_config_dict(self) -> dict[str, Any]:
        """What ``sentence_bert_config.json`` gets: the classic keys (read by sentence-transformers 5.x and 6.x),
        plus the 6.x keys only where they differ from the defaults (so 5.x still loads the usual folder), or always
        when :attr:`always_saves_task`."""
        full = self.get_config_dict()
        saved = {"max_seq_length": full["max_seq_length"], "do_lower_case": full["do_lower_case"]}
        default_config, default_output = TRANSFORMER_TASK_DEFAULTS[self.transformer_task]
        if self.always_saves_task or full["modality_config"] != default_config or \
                full["module_output_name"] != default_output:
            saved.update(transformer_task=self.transformer_task, modality_config=full["modality_config"],
                         module_output_name=full["module_output_name"])
        for key in ("processing_kwargs", "unpad_inputs"):
            if key in full:
                saved[key] = full[key]
        return saved

    @staticmethod
    def _get_default_modality_config(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """(modality_config, module_output_name) sentence-transformers assumes for ``config``'s task."""
        return TRANSFORMER_TASK_DEFAULTS[config.get("transformer_task", "feature-extraction")]

    @classmethod
    def load_config(cls, model_name_or_path: str | os.PathLike, subfolder: str = "",
                    config_filename: str | None = None, token: bool | str | None = None,
                    cache_folder: str | None = None, revision: str | None = None,
                    local_files_only: bool = False) -> dict[str, Any]:
        """Read whichever ``sentence_*_config.json`` the folder has.

        ``trust_remote_code`` is dropped from the nested kwargs, ``modality_config`` keys joined with ``+`` become
        tuples (unknown modality names are dropped with a warning), and folders without ``modality_config`` get the
        task's default one.
        """
        hub = dict(subfolder=subfolder, token=token, cache_folder=cache_folder, revision=revision,
                   local_files_only=local_files_only)
        config: dict[str, Any] = {}
        for name in ([config_filename] if config_filename else _CONFIG_FILE_NAMES):
            config = Module.load_config.__func__(cls, model_name_or_path, config_filename=name, **hub)
            if config:
                break
        for key in ("model_args", "model_kwargs", "tokenizer_args", "processor_kwargs", "config_args",
                    "config_kwargs"):
            if isinstance(config.get(key), dict):
                config[key].pop("trust_remote_code", None)
        if "modality_config" in config:
            known = {"text", "image", "audio", "video", "message"}
            parsed: dict[Any, Any] = {}
            for key, params in config["modality_config"].items():
                parts = tuple(key.split("+")) if "+" in key else (key,)
                if any(p not in known for p in parts):
                    logger.warning("Ignoring unknown modality key %r in modality_config.", key)
                    continue
                parsed[parts if len(parts) > 1 else key] = params
            config["modality_config"] = parsed
        else:
            config["modality_config"], config["module_output_name"] = cls._get_default_modality_config(config)
        return config

    @classmethod
    def _load_init_kwargs(cls, model_name_or_path: str | os.PathLike, subfolder: str = "",
                          token: bool | str | None = None, cache_folder: str | None = None,
                          revision: str | None = None, local_files_only: bool = False,
                          trust_remote_code: bool = False, model_kwargs: dict[str, Any] | None = None,
                          processor_kwargs: dict[str, Any] | None = None, config_kwargs: dict[str, Any] | None = None,
                          backend: str = "torch", **kwargs: Any) -> dict[str, Any]:
        """Constructor kwargs for a saved folder: its config, then the Hub options, then the caller's kwargs
        (highest priority), merged into ``model_kwargs``/``processor_kwargs``/``config_kwargs`` as
        sentence-transformers does (``cache_folder`` travels as ``cache_dir``)."""
        config = cls.load_config(model_name_or_path, subfolder=subfolder, token=token, cache_folder=cache_folder,
                                 revision=revision, local_files_only=local_files_only)
        hub = {"subfolder": subfolder, "token": token, "cache_dir": cache_folder, "revision": revision,
               "local_files_only": local_files_only, "trust_remote_code": trust_remote_code}
        for old, new in _DEPRECATED_KWARGS.items():
            if old in config:
                config[new] = config.pop(old)
            config[new] = {**(config.get(new) or {}), **hub}
        for name, extra in (("model_kwargs", model_kwargs), ("processor_kwargs", processor_kwargs),
                            ("config_kwargs", config_kwargs)):
            config[name].update(extra or {})
        return {**config, "backend": backend}
