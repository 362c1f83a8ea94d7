"""CrossEncoder: scores (text, text) pairs with a sequence-classification model of any supported encoder family.

Folders it reads:
- a plain HF ``*ForSequenceClassification`` folder (``config.json`` + weights + tokenizer);
- sentence-transformers 4.x-5.3 CrossEncoder folders: the same, with the activation in ``config.json`` under
  ``sentence_transformers.activation_fn`` (or the legacy ``sbert_ce_default_activation_function``);
- sentence-transformers 5.4+/6.x modular folders: ``modules.json`` holding one root Transformer whose
  ``sentence_bert_config.json`` says ``transformer_task: sequence-classification``, and
  ``config_sentence_transformers.json`` with ``model_type: CrossEncoder`` and ``activation_fn``;
- CrossEncoders on a causal language model: a plain ``*ForCausalLM`` folder whose tokenizer has ``yes`` / ``no``
  tokens, or sentence-transformers 6.x's [text-generation Transformer, LogitScore] folder
  (:mod:`embedkit.cross_encoder.causal_lm_folders`).
It writes the modular format, which sentence-transformers 6.x loads.
"""

from __future__ import annotations

import logging
import numbers
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from embedkit.base.modality_types import InputTypeError
from embedkit.base.model import BaseModel, announce_default_prompt
from embedkit.base.modules.module import (
    class_path,
    write_json_file,
)
from embedkit.base.modules.sequence_classification import SequenceClassificationTransformer
from embedkit.base.modules.transformers_state_names import LoadsSentenceTransformersNames
from embedkit.cross_encoder.activations import activation_instance, resolve_saved_activation
from embedkit.cross_encoder.causal_lm_folders import (
    is_causal_lm_folder,
    is_causal_lm_stack,
    load_causal_lm_modules,
    save_causal_lm_modules,
)
from embedkit.cross_encoder.classifier_folder import load_classifier_folder, save_classifier_folder
from embedkit.cross_encoder.folder_configs import read_st_config
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.input_limits import clamp_max_length
from embedkit.eval_mode import ensure_eval
from embedkit.model_folder import remove_stale_weight_files, saved_versions
from embedkit.util.decorators import cross_encoder_init_args_decorator, cross_encoder_predict_rank_args_decorator

logger = logging.getLogger(__name__)
base_logger = logging.getLogger("embedkit.base.model")  # loading messages, where sentence-transformers logs them

def _check_pairs(inputs: list[Any]) -> None:
    """Raise TypeError naming the first item that is neither a pair of strings nor a lone string."""
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            continue
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise InputTypeError(f"input {i} has type {type(item).__name__} ({item!r:.60}); expected a (str, str) pair")


def _with_prompt(item: str | tuple[str, str] | list[str], prompt: str) -> str | tuple[str, str]:
    """``prompt`` before the first text of a pair (or before a lone text)."""
    return prompt + item if isinstance(item, str) else (prompt + item[0], item[1])


def _pair_length(pair: Any) -> int:
    if isinstance(pair, str):
        return len(pair)
    return sum(len(x) for x in pair if isinstance(x, str)) if isinstance(pair, (tuple, list)) else 0


def _is_list_like(value: Any) -> bool:
    """A list, a tuple or a ``datasets.Column`` (duck-typed: embedkit does not import ``datasets``)."""
    if isinstance(value, (list, tuple)):
        return True
    cls = type(value)
    return cls.__name__ == "Column" and cls.__module__.startswith("datasets") and hasattr(value, "__getitem__")


_MAX_LENGTH_RENAMED = ("The `max_length` property was renamed and is now deprecated. Please use `max_seq_length` "
                       "instead.")
#: config_kwargs keys that are loading options rather than config.json fields (accepted and not stored).
_LOADING_KEYS = frozenset({"cache_dir", "token", "revision", "trust_remote_code", "local_files_only",
                           "force_download", "proxies", "subfolder", "use_auth_token", "return_unused_kwargs"})


class CrossEncoder(BaseModel, LoadsSentenceTransformersNames, nn.Module):
    """Score text pairs jointly with a sequence-classification encoder (BERT or MPNet).

    Args:
        model_name_or_path: local folder or Hub id (ids without an organisation resolve under ``cross-encoder/``).
        modules: build from these modules instead of loading (a module stack whose last ``scores`` output gives
            the labels, e.g. an input module and a ``Dense(..., module_output_name="scores")``).
        device: ``"cpu"``, ``"cuda"``, ... (default: best available).
        prompts: name -> prompt text, prepended to the first text of each pair (overrides the saved prompts).
        default_prompt_name: prompt used by :meth:`predict` when none is given.
        cache_folder / revision / token / local_files_only: Hub download options.
        trust_remote_code: accepted and without effect: embedkit never runs code from a model folder (a saved
            activation outside ``torch.*`` is not imported with it either).
        model_kwargs: ``{"torch_dtype": ...}`` (or ``"dtype"``) loads in that precision; other keys have no
            effect here.
        processor_kwargs: ``{"model_max_length": N}`` caps the tokenized length; ``{"chat_template": ...}`` sets
            the tokenizer's chat template (pairs are then rendered as ``query`` / ``document`` messages when the
            folder does not pin a text-only modality, as in sentence-transformers 6.x); other keys have no effect
            here. ``tokenizer_kwargs`` is its former name.
        config_kwargs: config.json fields to override before the model is built (e.g. ``classifier_dropout``,
            ``num_labels``); loading options such as ``cache_dir`` are accepted and ignored.
        model_card_data: a :class:`~embedkit.cross_encoder.model_card.CrossEncoderModelCardData` for the README.md
            that ``save`` writes (default: a fresh one, available as ``model.model_card_data``).
        backend: only ``"torch"``.
        num_labels: expected number of labels; must match the checkpoint (heads are never re-initialised), or the
            size of a new head on an encoder-only checkpoint.
        max_length: truncate pairs to this many tokens (default: saved value, else the tokenizer's
            ``model_max_length`` capped at ``max_position_embeddings``).
        activation_fn: applied to the logits by :meth:`predict` (default: saved one, else Sigmoid for one label
            and Identity otherwise).
        keep_in_fp32_modules: accepted for signature parity; no effect (embedkit upcasts the scores to fp32).

    Legacy names (``model_name``, ``automodel_args``, ``tokenizer_args``, ``config_args``, ``cache_dir``,
    ``default_activation_function``, ``classifier_dropout``, positional ``num_labels``...) are renamed with a
    warning by :func:`~embedkit.util.decorators.cross_encoder_init_args_decorator`.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> ce = CrossEncoder(default_model_path(), device="cpu")  # a BERT folder; no head yet: a new 1-label one
        >>> scores = ce.predict([("a question", "an answer"), ("hello", "world")])
        >>> scores.shape, bool(((scores > 0) & (scores < 1)).all())
        ((2,), True)
        >>> [hit["corpus_id"] for hit in ce.rank("q", ["x", "y"])] in ([0, 1], [1, 0])
        True
    """

    default_huggingface_organization: str | None = "cross-encoder"
    model_type: str = "CrossEncoder"

    _pr_check_lines = (
        'scores = model.predict([("The weather is lovely today.", "It\'s so sunny outside!")])',
        "print(scores)",
        "",
        'rankings = model.rank("The weather is lovely today.", ["It\'s so sunny outside!", '
        '"He drove to the stadium."])',
        "print(rankings)",
    )
    _push_to_hub_docs = "cross_encoder/cross_encoder.html#sentence_transformers.cross_encoder.CrossEncoder.push_to_hub"

    @cross_encoder_init_args_decorator
    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        *,
        modules: Iterable[nn.Module] | None = None,
        device: str | torch.device | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        model_card_data: Any = None,
        backend: str = "torch",
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: Any = None,
        keep_in_fp32_modules: list[str] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from embedkit.base.model_card import note_base_model, read_model_card_text
        from embedkit.cross_encoder.model_card import CrossEncoderModelCardData
        from embedkit.hub import resolve_model_path
        from embedkit.sentence_transformer.model import default_device, note_remote_code

        note_remote_code(trust_remote_code)
        if backend != "torch":
            raise ValueError(f"backend={backend!r} is not supported; embedkit runs the 'torch' backend only")
        self.trust_remote_code = trust_remote_code
        self.backend = backend
        self.keep_in_fp32_modules = keep_in_fp32_modules
        self.model_card_data = model_card_data or CrossEncoderModelCardData(local_files_only=local_files_only)
        self._model_card_text = None
        self.pipeline: nn.Sequential | None = None
        processor_kwargs = {**(tokenizer_kwargs or {}), **(processor_kwargs or {})}
        if max_length is None:
            max_length = processor_kwargs.get("model_max_length")
        saved: dict[str, Any] = {}
        modules = None if modules is None else list(modules)
        if modules is not None and len(modules) == 1 and isinstance(modules[0], SequenceClassificationTransformer):
            # sentence-transformers 6.x's CrossEncoder layout: one classifier Transformer. Run it as a loaded model.
            classifier = modules[0]
            self.model_name_or_path = None
            self.model = classifier.auto_model
            self.tokenizer = classifier.tokenizer
            self.do_lower_case = classifier.do_lower_case
            saved["modality_config"] = classifier.modality_config
            if max_length is not None:
                self.max_seq_length = max_length
        elif modules is not None:
            self.model_name_or_path = None
            self.model = None
            self.tokenizer = getattr(next(iter(modules), None), "tokenizer", None)
            self.pipeline = nn.Sequential(*modules)
            self.do_lower_case = False
        elif model_name_or_path is None:
            raise ValueError("CrossEncoder needs a model_name_or_path or a list of modules")
        else:
            name = os.fspath(model_name_or_path)
            if os.path.isfile(name):
                raise NotADirectoryError(f"Path {name} is a file, not a directory. `model_name_or_path` must be a "
                                         "local directory containing a model, or a Hugging Face Hub model ID.")
            folder = resolve_model_path(
                model_name_or_path, cache_folder=cache_folder, revision=revision, token=token,
                local_files_only=local_files_only, default_organization="cross-encoder",
            )
            self._hub_kwargs = dict(cache_folder=cache_folder, token=token, local_files_only=local_files_only)
            if not (folder / "modules.json").exists():
                base_logger.info(f"No modules.json found for {name}, initializing a new {self.model_type} model.")
            else:
                base_logger.info(f"Loading {self.model_type} model from {name}.")
            note_base_model(self.model_card_data, model_name_or_path, folder, revision, local_files_only)
            self._model_card_text = read_model_card_text(folder)
            self.model_name_or_path = str(model_name_or_path)
            if is_causal_lm_folder(folder):
                saved = self._load_causal_lm_folder(folder, processor_kwargs, max_length)
            else:
                saved = load_classifier_folder(self, folder, num_labels, max_length, config_kwargs or {}, _LOADING_KEYS)
        if processor_kwargs.get("chat_template") is not None and self.tokenizer is not None:
            self.tokenizer.chat_template = processor_kwargs["chat_template"]
        self._modality_config = saved.get("modality_config")
        self.prompts: dict[str, str] = {**(saved.get("prompts") or {}), **(prompts or {})}
        self.default_prompt_name = default_prompt_name or saved.get("default_prompt_name")
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            raise ValueError(f"Default prompt name '{self.default_prompt_name}' not found in the configured prompts "
                             f"dictionary with keys {list(self.prompts.keys())!r}.")
        announce_default_prompt(self.default_prompt_name)

        activation = activation_instance(activation_fn)
        if activation is None:
            activation = resolve_saved_activation(saved.get("activation_fn"), self.trust_remote_code)
        self.activation_fn = activation if activation is not None else self.get_default_activation_fn()

        dtype = (model_kwargs or {}).get("torch_dtype", (model_kwargs or {}).get("dtype"))
        if isinstance(dtype, str) and dtype != "auto":
            dtype = getattr(torch, dtype)
        if isinstance(dtype, torch.dtype):
            self.to(dtype)
        device_map = (model_kwargs or {}).get("device_map")
        if isinstance(device_map, dict) and set(device_map) == {""}:
            device_map = device_map[""]
        if isinstance(device_map, (str, torch.device)) and str(device_map) != "auto":
            if device is not None:
                base_logger.warning(f"Both `device` ({device}) and a `device_map` were given; the `device_map` places "
                                    "the model and `device` is ignored.")
            device = device_map
        self.to(default_device() if device is None else device)
        ensure_eval(self)
        self.model_card_data.register_model(self)
        self._post_init()

    def _top_level_modules(self) -> list[nn.Module]:
        return list(self.pipeline or [])

    def _load_causal_lm_folder(self, folder: Path, processor_kwargs: dict[str, Any], max_length: int | None
                               ) -> dict[str, Any]:
        """Build the [CausalLMTransformer, LogitScore] stack of a CrossEncoder on a causal LM (see
        :mod:`embedkit.cross_encoder.causal_lm_folders`); returns the saved settings."""
        modules = load_causal_lm_modules(folder, processor_kwargs, max_length)
        self.model = None
        self.pipeline = nn.Sequential(*modules)
        self.tokenizer = modules[0].tokenizer
        self.do_lower_case = modules[0].do_lower_case
        st_config = read_st_config(folder)
        return {"activation_fn": st_config.get("activation_fn"), "prompts": st_config.get("prompts"),
                "default_prompt_name": st_config.get("default_prompt_name")}

    def get_model_kwargs(self) -> list[str]:
        """Extra keyword arguments ``predict`` accepts for this model: none (sentence-transformers' CrossEncoders
        declare none either)."""
        return []

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    def _target_device(self) -> torch.device:
        """Former name of :attr:`device`; assigning to it moves the model."""
        return self.device

    @_target_device.setter
    def _target_device(self, device: str | torch.device) -> None:
        self.to(device)

    @property
    def processor(self) -> Any:
        """The tokenizer (sentence-transformers 6.x's name for the first module's preprocessor); setting its
        ``chat_template`` changes how pairs are rendered from the next call on."""
        return self.tokenizer

    @property
    def transformers_model(self) -> nn.Module | None:
        """The classifier network (embedkit's own encoder + head, not a transformers model); None for a stack."""
        return self.model

    @property
    def config(self) -> Any:
        """The classifier's config (``num_labels``, ``classifier_dropout``, ...); for a module stack, its first
        module's (None when that has none)."""
        if self.model is not None:
            return self.model.config
        return getattr(self.pipeline[0], "config", None) if self.pipeline else None

    @property
    def num_labels(self) -> int:
        """The classifier's labels; for a module stack, the ``out_features`` of the last Dense writing
        ``scores`` (1 when there is none)."""
        if self.model is not None:
            return self.model.num_labels
        for module in reversed(list(self.pipeline or [])):
            if getattr(module, "module_output_name", None) == "scores" and hasattr(module, "out_features"):
                return int(module.out_features)
        return 1

    def __getitem__(self, index: int) -> nn.Module:
        """The ``index``-th module: of the stack built from ``modules``, or, for a loaded model, its one
        classifier module (as in sentence-transformers 6.x), which shares ``model`` and ``tokenizer``."""
        if self.pipeline is not None:
            return self.pipeline[index]
        if index not in (0, -1):
            raise IndexError(f"index {index} is out of range: this CrossEncoder has one module")
        view = self.__dict__.get("_classifier_module")
        if view is None or view.auto_model is not self.model or view.tokenizer is not self.tokenizer:
            view = SequenceClassificationTransformer.from_classifier(self.model, self.tokenizer, self.do_lower_case,
                                                                     self.__dict__.get("_modality_config"))
            self.__dict__["_modality_config"] = view.modality_config  # decided once, as when loading
            self.__dict__["_classifier_module"] = view  # not a registered submodule: the weights stay ``model``'s
        return view

    def __len__(self) -> int:
        return 1 if self.pipeline is None else len(self.pipeline)

    def __setattr__(self, name: str, value: Any) -> None:
        # The activation is a plain attribute, not a submodule: it stays out of state_dict() and parameters().
        if name == "activation_fn":
            self._modules.pop("activation_fn", None)
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    @property
    def max_seq_length(self) -> int:
        """How many tokens a pair is truncated to."""
        return self.tokenizer.model_max_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        """Set the truncation length, capped (with a warning) at what the position table allows.

        Raises:
            ValueError: ``value`` is not an integer, or is below the special tokens of a pair (3 for BERT's
                ``[CLS] a [SEP] b [SEP]``, 4 for MPNet/RoBERTa): the tokenizer would then not truncate at all.
        """
        post_processor = self.tokenizer.backend.post_processor
        specials = post_processor.num_special_tokens_to_add(True) if post_processor is not None else 0
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < max(specials, 1):
            raise ValueError(f"{self.tokenizer.folder}: max_seq_length={value!r} must be an integer >= "
                             f"{max(specials, 1)} (a pair takes {specials} special tokens; less would disable "
                             "truncation)")
        value = int(value)
        if isinstance(self.config, EncoderConfig):
            value = clamp_max_length(value, self.config, str(self.tokenizer.folder), "max_seq_length")
        self.tokenizer.model_max_length = value

    @property
    def max_length(self) -> int:
        """Former name of :attr:`max_seq_length` (deprecated, as in sentence-transformers 6.x)."""
        warnings.warn(_MAX_LENGTH_RENAMED, DeprecationWarning, stacklevel=2)
        return self.max_seq_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        warnings.warn(_MAX_LENGTH_RENAMED, DeprecationWarning, stacklevel=2)
        self.max_seq_length = value

    @property
    def default_activation_function(self) -> nn.Module:
        """Former name of :attr:`activation_fn` (deprecated)."""
        warnings.warn("The `default_activation_function` property was renamed and is now deprecated. Please use "
                      "`activation_fn` instead.", DeprecationWarning, stacklevel=2)
        return self.activation_fn

    def get_default_activation_fn(self) -> nn.Module:
        """Sigmoid for a single-label model, Identity otherwise (as sentence-transformers)."""
        return nn.Sigmoid() if self.num_labels == 1 else nn.Identity()

    def preprocess(self, pairs: list[tuple[str, str]] | list[list[str]], prompt: str | None = None,
                   **kwargs: Any) -> dict[str, Tensor]:
        """Tokenize pairs (a lone string is tokenized on its own): ``input_ids``, ``attention_mask`` (and BERT
        ``token_type_ids``), each (B, T).

        Args:
            prompt: prepended to the first text of every pair.
            **kwargs: ``max_length`` or ``processing_kwargs={"text": {"max_length": N}}`` cap the length for this
                call; ``task`` and other keys are accepted and have no effect.

        Raises:
            TypeError: an item is not a pair of strings (the message names its index).
        """
        pairs = list(pairs)
        if self.pipeline is not None:
            return self.pipeline[0].preprocess(pairs, prompt=prompt, **kwargs)
        if "message" in self[0].modality_config:  # rendered through the chat template
            return self[0].preprocess(pairs, prompt=prompt, **kwargs)
        _check_pairs(pairs)
        if prompt:
            pairs = [_with_prompt(p, prompt) for p in pairs]
        max_length = kwargs.get("max_length")
        text_kwargs = (kwargs.get("processing_kwargs") or {}).get("text") or {}
        max_length = text_kwargs.get("max_length", max_length)
        if max_length is None or text_kwargs.get("truncation", True) is False:
            max_length = self.max_seq_length
        items = [p if isinstance(p, str) else (p[0], p[1]) for p in pairs]
        return self.tokenizer.batch_features(items, max_length=min(int(max_length), self.max_seq_length))

    tokenize = preprocess

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Add ``scores`` (B, num_labels) to the features (extra keyword arguments are accepted and unused)."""
        if self.pipeline is not None:
            return self.pipeline(features)
        logits = self.model(features["input_ids"], features.get("attention_mask"), features.get("token_type_ids"))
        return {**features, "scores": logits}  # (B, num_labels)

    def is_singular_input(self, inputs: Any) -> bool:
        """True when ``inputs`` is one pair, False for a batch of pairs.

        A list/tuple (or ``datasets`` column) is one pair unless its first item is itself a list or tuple; an
        empty one is an empty batch. A 1-D NumPy string array is one pair, a 2-D one (or an empty one) a batch.
        """
        if _is_list_like(inputs):
            return len(inputs) > 0 and not _is_list_like(inputs[0])
        if isinstance(inputs, np.ndarray) and inputs.dtype.kind in ("U", "O"):
            return inputs.size > 0 and inputs.ndim < 2
        return True

    @cross_encoder_predict_rank_args_decorator
    def predict(
        self,
        inputs: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Any = None,
        apply_softmax: bool | None = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | torch.device | list[str] | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> np.ndarray | Tensor | list[Tensor] | Any:
        """Score pairs. Returns (N,) for one label, (N, num_labels) otherwise; a single pair gives a scalar/row.

        Args:
            inputs: one (text, text) pair, or a list / tuple / 2-D NumPy array / ``datasets`` column of pairs.
                ``sentences`` is its former name.
            prompt_name: a key of :attr:`prompts`; its prompt is prepended to the first text of every pair.
            prompt: a prompt text (wins over ``prompt_name``).
            activation_fn: replaces :attr:`activation_fn` for this call.
            apply_softmax: softmax over the labels of multi-label scores.
            convert_to_numpy / convert_to_tensor: a NumPy array / one tensor (the latter wins); else a list of
                tensors.
            device: a device for this call, or a list of devices to score on several processes at once.
            pool: a pool from :meth:`start_multi_process_pool` (scores on its worker processes).
            chunk_size: pairs per job sent to a pool worker.
            **kwargs: passed to :meth:`preprocess`, e.g. ``processing_kwargs={"text": {"max_length": 256}}``.

        Raises:
            ValueError: ``batch_size`` is not positive, or ``prompt_name`` is unknown.
            TypeError: an item is not a pair of strings (the message names its index).
        """
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        single = self.is_singular_input(inputs)
        if single:
            inputs = [inputs.tolist() if isinstance(inputs, np.ndarray) else inputs]
        else:
            inputs = inputs.tolist() if isinstance(inputs, np.ndarray) else list(inputs)
        prompt = self._resolve_prompt(prompt, prompt_name)
        activation_fn = activation_instance(activation_fn)
        if pool is not None or (isinstance(device, (list, tuple)) and len(device) > 0):
            _check_pairs(inputs)
            if prompt:
                inputs = [_with_prompt(p, prompt) for p in inputs]
            from embedkit.multiprocess import run_on_pool_or_devices

            scores = run_on_pool_or_devices(self, "predict", inputs, pool, device, chunk_size, dict(
                batch_size=batch_size, activation_fn=activation_fn, apply_softmax=apply_softmax,
                convert_to_numpy=False, show_progress_bar=False))
            empty_device = torch.device("cpu")
        else:
            if device is not None:
                self.to(device)
            scores = self._predict_batches(inputs, batch_size, show_progress_bar, activation_fn, apply_softmax,
                                           prompt, kwargs)
            empty_device = self.device
        result: Any
        if convert_to_tensor:
            result = torch.stack(scores) if scores else torch.tensor([], device=empty_device)
        elif convert_to_numpy:
            result = torch.stack(scores).float().cpu().numpy() if scores else np.array([])
        else:
            result = scores
        return result[0] if single else result

    @torch.inference_mode()
    def _predict_batches(self, inputs: list[Any], batch_size: int, show_progress_bar: bool | None,
                         activation_fn: nn.Module | None, apply_softmax: bool | None, prompt: str | None = None,
                         preprocess_kwargs: dict[str, Any] | None = None) -> list[Tensor]:
        """Scores in input order; batches are formed from length-sorted pairs."""
        activation_fn = self.activation_fn if activation_fn is None else activation_fn
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        ensure_eval(self)
        num_labels = self.num_labels
        order = np.argsort([-_pair_length(p) for p in inputs], kind="stable")
        scores: list[Tensor] = []
        from tqdm.auto import trange

        for start in trange(0, len(inputs), batch_size, desc="Batches", disable=not show_progress_bar):
            batch = [inputs[i] for i in order[start : start + batch_size]]
            features = self.preprocess(batch, prompt=prompt, **(preprocess_kwargs or {}))
            features = {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in features.items()}
            logits = self(features)["scores"]  # (B, num_labels), or (B,) from some custom heads
            if logits.is_floating_point() and torch.finfo(logits.dtype).bits < 32:
                logits = logits.float()  # sigmoid/softmax in half precision would turn close scores into ties
            out = activation_fn(logits) if activation_fn is not None else logits
            if num_labels == 1 and out.ndim > 1:
                out = out.squeeze(-1)  # (B,)
            if apply_softmax and out.ndim > 1:
                out = torch.softmax(out, dim=1)
            scores.extend(out)
        return [scores[i] for i in np.argsort(order)] if scores else []

    @cross_encoder_predict_rank_args_decorator
    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: int | None = None,
        return_documents: bool = False,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Any = None,
        device: str | torch.device | list[str] | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Score ``query`` against every document; returns ``{"corpus_id", "score"[, "text"]}`` best first.

        Scores are Python floats. ``prompt_name``, ``prompt``, ``device``, ``pool`` and ``chunk_size`` are passed
        to :meth:`predict`; the removed ``convert_to_numpy`` / ``convert_to_tensor`` are dropped with a warning.

        Raises:
            ValueError: the model has more than one label, or ``top_k`` is negative.
            TypeError: ``documents`` is one string.
        """
        if self.num_labels != 1:
            raise ValueError(
                "CrossEncoder.rank() only works for models with num_labels=1. "
                "Consider using CrossEncoder.predict() with input pairs instead."
            )
        if isinstance(documents, str):
            raise TypeError("rank() takes a list of documents, got one string (it would rank its characters); "
                            "pass [document]")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 0):
            raise ValueError(f"top_k must be a non-negative integer or None, got {top_k!r}")
        documents = list(documents)
        scores = self.predict([(query, doc) for doc in documents], prompt_name=prompt_name, prompt=prompt,
                              batch_size=batch_size, show_progress_bar=show_progress_bar,
                              activation_fn=activation_fn, convert_to_tensor=True, device=device, pool=pool,
                              chunk_size=chunk_size)
        results = []
        for i, score in enumerate(scores.float().reshape(-1).tolist()):
            hit: dict[str, Any] = {"corpus_id": i, "score": score}
            if return_documents:
                hit["text"] = documents[i]
            results.append(hit)
        results.sort(key=lambda hit: hit["score"], reverse=True)
        return results[:top_k]

    def save(self, path: str | os.PathLike, model_name: str | None = None, create_model_card: bool = True,
             train_datasets: list[str] | None = None, safe_serialization: bool | None = True, **kwargs: Any
             ) -> None:
        """Write the sentence-transformers 5.4+/6.x modular CrossEncoder folder (loadable by ST 6 and transformers).

        ``safe_serialization=False`` writes ``pytorch_model.bin`` instead of ``model.safetensors`` (None: the
        default, safetensors). ``model_name`` names the model in the generated README.md. The arguments are
        sentence-transformers' in its order (``train_datasets`` is accepted and not used).

        A CrossEncoder on a causal language model is written as sentence-transformers 6.x writes it: the
        text-generation Transformer at the root and ``1_LogitScore``.

        Raises:
            ValueError: the model is quantized, or was built from a module stack (``modules=``) other than
                [Transformer(transformer_task="text-generation"), LogitScore].
        """
        if getattr(self, "quantized", None):
            raise ValueError("a quantized model cannot be saved; save the fp32 model and quantize after loading")
        if self.model is None and not is_causal_lm_stack(self.pipeline):
            raise ValueError("a CrossEncoder built from a module stack cannot be saved; save a loaded model (or a "
                             "[Transformer(transformer_task='text-generation'), LogitScore] stack)")
        if safe_serialization is None:
            safe_serialization = True
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        weights = "model.safetensors" if safe_serialization else "pytorch_model.bin"
        if self.model is None:
            save_causal_lm_modules(list(self.pipeline), path, safe_serialization)
        else:
            save_classifier_folder(self, path, weights)
        remove_stale_weight_files(path, {weights})
        write_json_file(path / "config_sentence_transformers.json", {
            "__version__": saved_versions(),
            "activation_fn": class_path(self.activation_fn),
            "default_prompt_name": self.default_prompt_name,
            "model_type": "CrossEncoder",
            "prompts": self.prompts,
        })
        if create_model_card:
            from embedkit.base.model_card import write_model_card

            write_model_card(self, path, model_name)

    save_pretrained = save

    def fit(
        self,
        train_dataloader: Any,
        evaluator: Any = None,
        epochs: int = 1,
        loss_fct: Any = None,
        activation_fct: nn.Module = nn.Identity(),  # noqa: B008 (sentence-transformers' default)
        scheduler: str = "WarmupLinear",
        warmup_steps: int = 10000,
        optimizer_class: type = torch.optim.AdamW,
        optimizer_params: dict[str, Any] | None = None,
        weight_decay: float = 0.01,
        evaluation_steps: int = 0,
        output_path: str | None = None,
        save_best_model: bool = True,
        max_grad_norm: float = 1,
        use_amp: bool = False,
        callback: Any = None,
        show_progress_bar: bool = True,
    ) -> None:
        """The pre-4.0 training API: train on a DataLoader (or list) of ``InputExample`` pairs with
        :class:`~embedkit.cross_encoder.CrossEncoderTrainer` (see :mod:`embedkit.cross_encoder.fit_mixin`).

        ``loss_fct=None`` trains with BinaryCrossEntropyLoss (one label) or CrossEntropyLoss; a torch loss is
        applied to the ``activation_fct``-activated logits. ``optimizer_params`` sets ``lr`` (default 2e-5);
        ``callback(score, epoch, steps)`` runs after each evaluation; ``output_path`` receives the best model
        (``save_best_model`` with an evaluator) or the final one.
        """
        from embedkit.cross_encoder.fit_mixin import fit

        fit(self, train_dataloader, evaluator=evaluator, epochs=epochs, loss_fct=loss_fct,
            activation_fct=activation_fct, scheduler=scheduler, warmup_steps=warmup_steps,
            optimizer_class=optimizer_class, optimizer_params=optimizer_params, weight_decay=weight_decay,
            evaluation_steps=evaluation_steps, output_path=output_path, save_best_model=save_best_model,
            max_grad_norm=max_grad_norm, use_amp=use_amp, callback=callback, show_progress_bar=show_progress_bar)

    def push_to_hub(
        self,
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
        tags: str | list[str] | None = None,
    ) -> str:
        """:meth:`BaseModel.push_to_hub <embedkit.base.model.BaseModel.push_to_hub>`; ``tags`` are added to the
        model card first."""
        if tags is not None:
            self.model_card_data.add_tags(tags)
        return super().push_to_hub(repo_id, token=token, private=private, safe_serialization=safe_serialization,
                                   commit_message=commit_message, local_model_path=local_model_path,
                                   exist_ok=exist_ok, replace_model_card=replace_model_card,
                                   train_datasets=train_datasets, revision=revision, create_pr=create_pr)
