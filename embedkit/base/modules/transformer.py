"""Transformer: the input module. Tokenizes text and runs a hand-written encoder -> ``token_embeddings``.

Its folder is the model root of a sentence-transformers model: HF ``config.json``, ``model.safetensors`` (HF weight
names), tokenizer files, and ``sentence_bert_config.json``, read in both generations (classic ``max_seq_length``;
v5.4+ ``transformer_task``/``modality_config``/...) and written in the classic form, which 5.x and 6.x both read.
"""

from __future__ import annotations

import inspect
import logging
import numbers
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import Tensor

from embedkit.base.chat_messages import SIZE_KWARGS, InputFormatter, restore_suffix
from embedkit.base.modality import is_message_dict
from embedkit.base.modality_types import InputTypeError
from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.module import read_json_file
from embedkit.base.modules.transformer_config import (  # noqa: F401 (re-exported: the names once lived here)
    _CONFIG_FILE_NAMES,
    _DEPRECATED_KWARGS,
    _KNOWN_CONFIG_KEYS,
    TRANSFORMER_TASK_DEFAULTS,
    SentenceBertConfigFiles,
    accepted_init_kwargs,
)
from embedkit.base.modules.transformer_folder import adapter_base, write_module_folder
from embedkit.base.modules.transformers_state_names import LoadsSentenceTransformersNames
from embedkit.encoders import EncoderConfig, build_encoder
from embedkit.encoders.convert import describe_weights, ek_to_hf, split_hf_state_dict
from embedkit.encoders.engine import InferenceEngine
from embedkit.encoders.input_limits import check_tokenizer_fits, clamp_max_length, max_input_length, uses_token_types
from embedkit.encoders.loading import check_size_before_building, load_strict, read_state_dict, rng_untouched
from embedkit.encoders.lora import (
    ADAPTER_CONFIG,
    load_adapter_folder,
)
from embedkit.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

TASKS = ("feature-extraction", "fill-mask", "sequence-classification", "text-generation")


@contextmanager
def set_temporary_class_attrs(cls: type, **overrides: Any) -> Iterator[None]:
    """Set class attributes for the duration of a ``with`` block, restoring the previous values afterwards.

    Example:
        >>> class A:
        ...     x = 1
        >>> with set_temporary_class_attrs(A, x=2):
        ...     A.x
        2
        >>> A.x
        1
    """
    saved = {name: getattr(cls, name, None) for name in overrides}
    try:
        for name, value in overrides.items():
            setattr(cls, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(cls, name, value)


def _count_media_per_sample(messages: list[list[dict[str, Any]]]) -> tuple[list[int], list[int]]:
    """Per conversation, how many ``{"type": "image"}`` and ``{"type": "video"}`` content items it holds."""
    images: list[int] = []
    videos: list[int] = []
    for conversation in messages:
        kinds = [item.get("type") for message in conversation
                 if isinstance(message.get("content", []), list)
                 for item in message.get("content", []) if isinstance(item, dict)]
        images.append(kinds.count("image"))
        videos.append(kinds.count("video"))
    return images, videos


def check_text_inputs(inputs: list[Any]) -> None:
    """Raise TypeError naming the first item that is neither a string nor a (string, string) pair."""
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            continue
        if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            continue
        if is_message_dict(item) or (isinstance(item, list) and item and all(map(is_message_dict, item))):
            from embedkit.base.modality import check_text_modality

            check_text_modality([item], "model")  # names the chat-message modality this model does not take
        raise InputTypeError(f"input {i} has type {type(item).__name__}; expected str or a (str, str) pair")


_VALID_PROCESSING_KWARGS_KEYS = frozenset({"common", "text", "audio", "image", "video", "chat_template"})
_BACKENDS = ("torch", "onnx", "openvino")
# Keyword arguments of transformers' from_pretrained that name where to read the model from.
_HUB_KEYS = {"cache_dir": "cache_folder", "cache_folder": "cache_folder", "revision": "revision", "token": "token",
             "local_files_only": "local_files_only"}


def task_module_class(task: str) -> type:
    """The Transformer class that runs ``task``: the plain encoder for ``feature-extraction``, the masked-LM
    module for ``fill-mask`` (SPLADE), the classifier module for ``sequence-classification`` (CrossEncoder), the
    causal language model for ``text-generation`` (CrossEncoders on a causal LM).
    Other tasks get the plain class, whose constructor then names what is supported.

    Example:
        >>> task_module_class("fill-mask").__name__, task_module_class("sequence-classification").__name__
        ('MLMTransformer', 'SequenceClassificationTransformer')
    """
    if task == "fill-mask":
        from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer

        return MLMTransformer
    if task == "sequence-classification":
        from embedkit.base.modules.sequence_classification import SequenceClassificationTransformer

        return SequenceClassificationTransformer
    if task == "text-generation":
        from embedkit.base.modules.causal_lm_transformer import CausalLMTransformer

        return CausalLMTransformer
    return Transformer


class Transformer(LoadsSentenceTransformersNames, SentenceBertConfigFiles, InputModule):
    """Tokenizer + encoder (any supported family). Writes ``token_embeddings`` (B, T, D) into the features.

    Args:
        model_name_or_path: a local model folder or a Hugging Face Hub id.
        max_seq_length: truncate inputs to this many tokens (default: the tokenizer's ``model_max_length``,
            capped at the model's ``max_position_embeddings``).
        do_lower_case: lowercase inputs before tokenizing.
        tokenizer_name_or_path: take the tokenizer from another folder (deprecated in sentence-transformers 6).
        transformer_task: ``"feature-extraction"`` (this class: ``token_embeddings``), ``"fill-mask"`` (builds a
            :class:`~embedkit.sparse_encoder.modules.MLMTransformer`: MLM logits as ``token_embeddings``, for
            SPLADE) or ``"sequence-classification"`` (builds a
            :class:`~embedkit.base.modules.sequence_classification.SequenceClassificationTransformer`: ``scores``,
            for CrossEncoder).
        model_kwargs: sentence-transformers passes these to ``from_pretrained``. embedkit honours
            ``output_hidden_states`` and ``torch_dtype``/``dtype`` (``"auto"``: the dtype config.json names, as
            transformers reads it; float32 by default) and the Hub keys (``cache_dir``, ``revision``,
            ``token``, ``local_files_only``, ``subfolder``); others (``attn_implementation``, ...) have no meaning for
            embedkit's hand-written encoder and are ignored.
        processor_kwargs: tokenizer options; ``model_max_length`` sets ``max_seq_length``, ``padding_side``
            (``"left"``/``"right"``) the tokenizer's padding side and ``chat_template`` (a Jinja source, or a dict of
            named ones) the tokenizer's chat template. Others are ignored.
        config_kwargs: overrides of the model config; the dropout probabilities (and, for
            ``sequence-classification``, ``num_labels``) are honoured, others ignored.
        processing_kwargs: per-modality options for each preprocessing call (``{"text": {...}, "common": {...}}``);
            stored and saved. Unknown top-level keys give a warning.
        backend: only ``"torch"`` (ONNX/OpenVINO raise a clear error).
        modality_config / module_output_name: sentence-transformers 6.x's description of which model method makes
            which output. embedkit accepts the task's own text layout only (``forward`` -> ``last_hidden_state``
            -> ``token_embeddings`` here; ``logits`` -> ``token_embeddings`` / ``scores`` for the other tasks).
        unpad_inputs / query_length / document_length / query_expansion: stored; ``unpad_inputs`` is saved when set.
        model_args / tokenizer_args / config_args: deprecated names of the three ``*_kwargs`` (a warning is logged).
        cache_folder / revision / token / local_files_only / trust_remote_code: Hub download options
            (``trust_remote_code`` has no effect: embedkit runs no model code).

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> t = Transformer(default_model_path())
        >>> features = t.preprocess(["hello world"])
        >>> t(features)["token_embeddings"].shape
        torch.Size([1, 4, 384])
    """

    save_in_root = True
    config_file_name = "sentence_bert_config.json"
    config_keys = ["max_seq_length", "do_lower_case"]
    _VALID_PROCESSING_KWARGS_KEYS = _VALID_PROCESSING_KWARGS_KEYS

    task = "feature-extraction"
    """The ``transformer_task`` this class runs; ``Transformer(..., transformer_task=...)`` builds the class that
    runs the task asked for (see :func:`task_module_class`)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Transformer:
        task = kwargs.get("transformer_task")
        if cls is Transformer and task not in (None, cls.task):
            cls = task_module_class(task)
        return super().__new__(cls)

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | os.PathLike | None = None,
        *,
        transformer_task: str = "feature-extraction",
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        processing_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        modality_config: dict[Any, dict[str, Any]] | None = None,
        module_output_name: str | None = None,
        unpad_inputs: bool | None = None,
        query_length: int | None = None,
        document_length: int | None = None,
        query_expansion: dict[str, Any] | None = None,
        model_args: dict[str, Any] | None = None,
        tokenizer_args: dict[str, Any] | None = None,
        config_args: dict[str, Any] | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        token: bool | str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        from embedkit.hub import resolve_model_path

        kwargs_by_name = {"model_kwargs": model_kwargs, "processor_kwargs": processor_kwargs,
                          "config_kwargs": config_kwargs}
        for old, value in (("model_args", model_args), ("tokenizer_args", tokenizer_args),
                           ("config_args", config_args)):
            if value is not None:
                new = _DEPRECATED_KWARGS[old]
                logger.warning("The `%s` argument is deprecated and will be removed in a future version. "
                               "Please use `%s` instead.", old, new)
                kwargs_by_name[new] = {**value, **(kwargs_by_name[new] or {})}
        model_kwargs, processor_kwargs, config_kwargs = (dict(kwargs_by_name[k] or {}) for k in kwargs_by_name)

        if transformer_task not in TRANSFORMER_TASK_DEFAULTS:
            raise ValueError(f"Unsupported transformer_task '{transformer_task}'. "
                             f"Supported tasks are: {list(TRANSFORMER_TASK_DEFAULTS)}")
        if transformer_task not in TASKS:
            raise ValueError(f"transformer_task={transformer_task!r} is not supported by embedkit's Transformer, "
                             f"which runs {TASKS} only")
        if transformer_task != getattr(type(self), "task", transformer_task):
            raise ValueError(f"{type(self).__name__} runs transformer_task={type(self).task!r}, "
                             f"got {transformer_task!r}")
        if backend not in _BACKENDS:
            raise ValueError(f"Unsupported backend '{backend}'. `backend` should be `torch`, `onnx`, or `openvino`.")
        if backend != "torch":
            raise ValueError(f"backend={backend!r} is not supported by embedkit, which runs PyTorch only")
        self._init_settings(transformer_task, do_lower_case, backend, processing_kwargs, modality_config,
                            module_output_name, unpad_inputs, query_length, document_length, query_expansion)

        hub_kwargs = dict(cache_folder=cache_folder, revision=revision, token=token, local_files_only=local_files_only)
        subfolder = ""
        for source in (model_kwargs, processor_kwargs, config_kwargs):  # Hub keys as sentence-transformers passes them
            for key, target in _HUB_KEYS.items():
                if source.get(key) is not None and hub_kwargs.get(target) in (None, False):
                    hub_kwargs[target] = source[key]
            subfolder = subfolder or source.get("subfolder") or ""
        folder = resolve_model_path(model_name_or_path, **hub_kwargs)
        folder = folder / subfolder if subfolder else folder
        self.name_or_path = str(folder if Path(os.fspath(model_name_or_path)).expanduser().is_dir()
                                else model_name_or_path)
        """Where the network was loaded from: a local folder, or the Hub id (recorded in adapters added to it)."""
        adapter_folder = None
        if (folder / ADAPTER_CONFIG).is_file():  # a PEFT adapter folder: the network is its base model's
            adapter_folder = folder
            self.name_or_path, folder = adapter_base(folder, type(self).task, hub_kwargs)

        config_path = folder / "config.json"
        if not config_path.exists():
            raise FileNotFoundError(f"no config.json in {folder}")
        hf_config = read_json_file(config_path)
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if key in config_kwargs:
                hf_config[key] = config_kwargs[key]
        self._attach_model(self._load_model(folder, hf_config, config_kwargs))
        self.auto_model.eval()  # as transformers' from_pretrained leaves it: dropout off until .train() is called
        self.output_hidden_states = bool(model_kwargs.get("output_hidden_states", False)
                                         or config_kwargs.get("output_hidden_states", False)
                                         or hf_config.get("output_hidden_states", False))
        dtype = model_kwargs.get("torch_dtype", model_kwargs.get("dtype"))
        if dtype == "auto":  # the dtype config.json says the checkpoint was saved in (float32 when it says none)
            dtype = hf_config.get("dtype") or hf_config.get("torch_dtype")
        if dtype is not None:
            import torch

            self.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)

        if max_seq_length is None and processor_kwargs.get("model_max_length") is not None:
            max_seq_length = int(processor_kwargs["model_max_length"])
        if tokenizer_name_or_path is not None:
            logger.warning("The `tokenizer_name_or_path` argument is deprecated and will be removed in a future "
                           "version. Please use the same path for the model and processor.")
        if adapter_folder is not None:
            # the adapter as "default", active and frozen, as transformers loads an adapter folder
            load_adapter_folder(self._adapter_root(), self.config.model_type, adapter_folder)
            if (adapter_folder / "tokenizer_config.json").is_file() or (adapter_folder / "tokenizer.json").is_file():
                folder = adapter_folder
        self._attach_tokenizer(folder, tokenizer_name_or_path, do_lower_case, max_seq_length, hub_kwargs)
        if processor_kwargs.get("padding_side") is not None:
            self.tokenizer.padding_side = processor_kwargs["padding_side"]
        if processor_kwargs.get("chat_template") is not None:
            self.tokenizer.chat_template = processor_kwargs["chat_template"]
        self._attach_input_formatter(infer_message=modality_config is None)

    def _adapter_root(self) -> Any:
        """What LoRA adapters attach to: the network (a subclass whose head lives beside it returns itself)."""
        return self.auto_model

    def _init_settings(self, transformer_task: str, do_lower_case: bool, backend: str,
                       processing_kwargs: dict[str, Any] | None, modality_config: dict[Any, dict[str, Any]] | None,
                       module_output_name: str | None, unpad_inputs: bool | None, query_length: int | None,
                       document_length: int | None, query_expansion: dict[str, Any] | None) -> None:
        """The module's settings (everything but the network and the tokenizer), checked."""
        self.backend = backend
        self.transformer_task = transformer_task
        self.do_lower_case = do_lower_case
        self.processing_kwargs: dict[str, Any] = dict(processing_kwargs or {})
        unknown = set(self.processing_kwargs) - _VALID_PROCESSING_KWARGS_KEYS
        if unknown:
            logger.warning(
                "Unknown keys in `processing_kwargs`: %s. Valid keys are: %s. Unknown keys will be ignored. Did you "
                "mean to nest them under 'common' or a modality key ('text', 'audio', 'image', 'video')?",
                unknown, sorted(_VALID_PROCESSING_KWARGS_KEYS))
        self.modality_config, self.module_output_name = self._check_modality_config(
            transformer_task, modality_config, module_output_name)
        self.unpad_inputs = unpad_inputs
        self.query_length = query_length
        self.document_length = document_length
        self.query_expansion = query_expansion

    def _attach_input_formatter(self, infer_message: bool) -> None:
        """Set up chat-message inputs: the ``input_formatter``, and, when the ``modality_config`` was not given (a
        plain transformers folder) and the tokenizer has a chat template, the ``"message"`` modality, as
        sentence-transformers 6.x infers it. Folders saved by sentence-transformers name their modalities (5.x ones
        are text only), so they are read as they say."""
        message = self.modality_config.get("message") or {}
        self.input_formatter = InputFormatter(getattr(self.config, "model_type", ""), message.get("format", "auto"),
                                              self.tokenizer)
        if infer_message and getattr(self.tokenizer, "chat_template", None) is not None:
            text = self.modality_config.get("text") or TRANSFORMER_TASK_DEFAULTS[self.transformer_task][0]["text"]
            self.modality_config["message"] = {**text, "format": self.input_formatter.message_format}
        self._chat_template_suffix_cache: dict[str, list[int]] = {}
        self._template_variables: tuple[Any, set[str]] | None = None

    def _attach_model(self, model: Any) -> None:
        """Hold ``model`` as the network (``auto_model``; its config becomes ``self.config``) and note the feature
        keys its forward takes."""
        self.config = model.config
        self.auto_model = model
        signature = inspect.signature(model.forward).parameters
        self.model_forward_params: set[str] | None = None
        """Feature keys the encoder's forward takes (None would mean it takes any keyword)."""
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()):
            self.model_forward_params = set(signature) | {"input_ids", "attention_mask", "token_type_ids",
                                                          "inputs_embeds", "return_dict"}

    def _load_model(self, folder: Path, hf_config: dict[str, Any], config_kwargs: dict[str, Any]) -> Any:
        """Build the network this task runs from ``folder``'s weights (loaded strictly); sets ``self.config``.

        Here: the bare encoder; head weights in the checkpoint (an MLM or classification head) are left out.
        """
        self.config = EncoderConfig.from_hf_config(hf_config, str(folder / "config.json"))
        state, source = read_state_dict(folder)
        encoder_state, head_state = split_hf_state_dict(state, self.config.model_type, str(source))
        if head_state:
            logger.info("%s: ignoring head weights not used for %s: %s", source, self.transformer_task,
                        describe_weights(list(head_state), self.config.model_type))
        add_pooler = "pooler.dense.weight" in encoder_state
        check_size_before_building(self.config, add_pooler, encoder_state, str(source))
        with rng_untouched():  # all loaded: nothing drawn
            encoder = build_encoder(self.config, add_pooler=add_pooler)
            load_strict(encoder, encoder_state, str(source))
        return encoder

    @property
    def output_hidden_states(self) -> bool:
        """Also emit ``all_layer_embeddings`` (layer-wise losses, WeightedLayerPooling). Stored on the model config,
        so ``transformer.auto_model.config.output_hidden_states = True`` turns it on, as in sentence-transformers."""
        return bool(getattr(self.config, "output_hidden_states", False))

    @output_hidden_states.setter
    def output_hidden_states(self, value: bool) -> None:
        self.config.output_hidden_states = bool(value)

    @property
    def model(self) -> Any:
        """The encoder (sentence-transformers 6.x name; ``auto_model`` is the 5.x name of the same module)."""
        return self.auto_model

    @property
    def modalities(self) -> list[Any]:
        return list(getattr(self, "modality_config", None) or {"text": {}})

    def _attach_tokenizer(self, folder: Path, tokenizer_name_or_path: str | None, do_lower_case: bool,
                          max_seq_length: int | None, hub_kwargs: dict[str, Any]) -> None:
        """Load the tokenizer (from ``folder`` or another one), check it fits the embedding, set max_seq_length."""
        from embedkit.hub import resolve_model_path

        tokenizer_folder = folder
        if tokenizer_name_or_path is not None:
            tokenizer_folder = resolve_model_path(tokenizer_name_or_path, **hub_kwargs)
        self.tokenizer = Tokenizer(tokenizer_folder, do_lower_case=do_lower_case,
                                   return_token_type_ids=uses_token_types(self.config, str(folder)))
        check_tokenizer_fits(self.tokenizer, self.config, str(folder))
        if max_seq_length is None:  # sentence-transformers' default; the position limit is applied by the setter
            max_seq_length = min(self.tokenizer.model_max_length, max_input_length(self.config))
        self.max_seq_length = max_seq_length
        self._prompt_length_mapping: dict[Any, int] = {}

    tokenizer: Tokenizer | None = None  # set per instance on load; a subclass may replace it with a property

    # Flattened (unpadded) batches passed between modules are transformers' FlashAttention-2 path. embedkit skips
    # padding inside its inference engine instead (encoders/engine/packing.py), so modules always hand on padded
    # batches.
    can_flatten_inputs = False

    def _can_flatten_inputs(self) -> bool:
        return False

    @property
    def unpad_inputs(self) -> bool | None:
        """sentence-transformers' switch for flattened batches; kept and saved, never met
        (see ``can_flatten_inputs``)."""
        return self._unpad_inputs

    @unpad_inputs.setter
    def unpad_inputs(self, value: bool | None) -> None:
        self._unpad_inputs = value
        if value is True:
            logger.warning("unpad_inputs=True was set, but the prerequisites for skipping padding are not met. "
                           "Falling back to padded inputs.")

    @property
    def max_seq_length(self) -> int:
        """The tokenizer's ``model_max_length``; without a tokenizer, the position table's size."""
        if self.tokenizer is None:
            return self.config.max_position_embeddings
        return self.tokenizer.model_max_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        """Set the truncation length, capped (with a warning) at what the position table allows."""
        if self.tokenizer is None:
            return
        config = getattr(self, "config", None)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
            # 0 or 1 leaves no room for a token between [CLS] and [SEP]; such values used to disable truncation
            raise ValueError(f"{self.tokenizer.folder}: max_seq_length={value!r} must be an integer >= 2 "
                             "(the model's special tokens take two positions)")
        value = int(value)
        if isinstance(config, EncoderConfig):
            value = clamp_max_length(value, config, str(self.tokenizer.folder))
        self.tokenizer.model_max_length = value

    def get_embedding_dimension(self) -> int:
        """Size of the module's output vectors, read from the config as sentence-transformers does
        (``projection_dim`` for a ``sentence_embedding`` output, then ``hidden_size``, ``hidden_sizes[-1]``,
        ``hidden_dim``, then the same on ``text_config``).

        Raises:
            ValueError: the config names no dimension.
        """
        def from_config(config: Any) -> int | None:
            if getattr(self, "module_output_name", None) == "sentence_embedding" and \
                    getattr(config, "projection_dim", None):
                return config.projection_dim
            if getattr(config, "hidden_size", None):
                return config.hidden_size
            if getattr(config, "hidden_sizes", None):
                return config.hidden_sizes[-1]
            return getattr(config, "hidden_dim", None) or None

        dim = from_config(self.config)
        if dim is None and getattr(self.config, "text_config", None) is not None:
            dim = from_config(self.config.text_config)
        if dim is None:
            raise ValueError(f"Could not determine embedding dimension from the config of {type(self).__name__}")
        return dim

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Run the encoder on ``input_ids``/``attention_mask``/``token_type_ids`` (bookkeeping keys such as
        ``task`` or ``prompt_length`` never reach it); adds ``token_embeddings`` (B, T, D)."""
        method = (getattr(self, "modality_config", None) or {}).get("text", {}).get("method", "forward")
        if method != "forward" and not callable(getattr(self.auto_model, method, None)):
            raise ValueError(f"The model {type(self.auto_model).__name__} does not have the requested method "
                             f"{method!r} (modality_config['text']['method']).")
        out = InferenceEngine(self.auto_model)(  # the encoder's reference forward unless in inference
            input_ids=features["input_ids"],
            attention_mask=features.get("attention_mask"),
            token_type_ids=features.get("token_type_ids"),
            output_hidden_states=self.output_hidden_states,
        )
        features = {**features, "token_embeddings": out.last_hidden_state}  # (B, T, D)
        if out.hidden_states is not None:
            features["all_layer_embeddings"] = out.hidden_states
        return features

    def _get_prompt_length(self, prompt: str, **kwargs: Any) -> int:
        """Tokens of ``prompt`` alone, including a leading special token but not a trailing one (as ST counts).

        Cached per prompt and keyword arguments other than ``task`` (as sentence-transformers keys its cache; the
        count itself does not depend on them here)."""
        key = (prompt, *sorted((name, value if value.__hash__ is not None else repr(value))
                               for name, value in kwargs.items() if name != "task"))
        if key not in self._prompt_length_mapping:
            ids = self.tokenizer.encode_ids([prompt], max_length=self.max_seq_length)[0]
            # a trailing special token (BERT's [SEP], the end-of-text token a decoder's tokenizer appends) is not
            # part of the prompt, as sentence-transformers counts
            length = len(ids) - (1 if ids and ids[-1] in self.tokenizer.all_special_ids else 0)
            self._prompt_length_mapping[key] = length
        return self._prompt_length_mapping[key]

    _prompt_length = _get_prompt_length

    def _merge_processing_kwargs(self, per_call: dict[str, Any] | None) -> dict[str, Any]:
        """Instance ``processing_kwargs`` updated, per modality key, by this call's (neither is modified)."""
        merged = {key: dict(value) for key, value in (getattr(self, "processing_kwargs", None) or {}).items()}
        if per_call:
            unknown = set(per_call) - _VALID_PROCESSING_KWARGS_KEYS
            if unknown:
                logger.warning("Unknown keys in per-call `processing_kwargs`: %s. Valid keys are: %s. Unknown keys "
                               "will be ignored.", unknown, sorted(_VALID_PROCESSING_KWARGS_KEYS))
            for key, value in per_call.items():
                merged.setdefault(key, {}).update(value or {})
        return merged

    def preprocess(self, inputs: list[str] | list[tuple[str, str]], prompt: str | None = None, **kwargs: Any
                   ) -> dict[str, Any]:
        """Tokenize a batch. A prompt is prepended to each text (to the first text of a pair).

        Returns ``input_ids``, ``attention_mask`` (B, T), ``token_type_ids`` for BERT, ``modality`` (``"text"``) and,
        with a prompt, ``prompt_length``.
        ``task="query"``/``"document"`` truncates at ``query_length``/``document_length`` when those are set.
        ``processing_kwargs`` (this call's, merged over the instance's) may set ``text``/``common``
        ``max_length``, ``padding_side`` and ``return_tensors="np"``; other tokenizer options have no effect here.

        Raises:
            TypeError: an item is not a string or a pair of strings (the message names its index and type).
        """
        inputs = list(inputs)
        if not inputs:
            return {}
        if "message" in (getattr(self, "modality_config", None) or {}):
            return self._preprocess_messages(inputs, prompt, **kwargs)
        if any(not isinstance(x, (str, tuple, list)) for x in inputs):
            from embedkit.base.modality import check_text_modality

            try:
                check_text_modality(inputs, f"{type(self).__name__} module")
            except ValueError as exc:
                if "Unsupported input type" not in str(exc):
                    raise
        check_text_inputs(inputs)
        if prompt:
            inputs = [prompt + x if isinstance(x, str) else (prompt + x[0], x[1]) for x in inputs]
        options = self._merge_processing_kwargs(kwargs.get("processing_kwargs"))
        text_options = {**options.get("common", {}), **options.get("text", {})}
        max_length = self._max_length(text_options, kwargs.get("task"))
        features: dict[str, Any] = self.tokenizer.batch_features(inputs, max_length=max_length,
                                                  padding_side=text_options.get("padding_side"))
        if text_options.get("return_tensors") == "np":
            features = {k: v.numpy() if isinstance(v, Tensor) else v for k, v in features.items()}
        features["modality"] = "text"  # as in sentence-transformers 6.x (a Router reads it; encode(output_value=None))
        if prompt:
            features["prompt_length"] = self._get_prompt_length(prompt)
        return features

    def _max_length(self, text_options: dict[str, Any], task: str | None) -> int:
        """The truncation length of a call: ``max_seq_length``, the task's ``query_length`` / ``document_length``,
        or the call's ``max_length`` (at most what the position table allows)."""
        max_length = self.max_seq_length
        task_length = {"query": getattr(self, "query_length", None),
                       "document": getattr(self, "document_length", None)}.get(task)
        if task_length:
            max_length = min(max_length, int(task_length))
        if text_options.get("max_length") is not None and text_options.get("truncation", True) is not False:
            max_length = int(text_options["max_length"])
            if isinstance(getattr(self, "config", None), EncoderConfig):  # no position row beyond this
                max_length = min(max_length, max_input_length(self.config))
        return max_length

    def _preprocess_messages(self, inputs: list[Any], prompt: str | None, **kwargs: Any) -> dict[str, Any]:
        """The ``"message"`` modality: inputs as conversations (see :mod:`embedkit.base.chat_messages`), rendered
        through the tokenizer's chat template and tokenized without added special tokens.

        ``processing_kwargs["chat_template"]`` holds template options (``add_generation_prompt``, a template name
        under ``chat_template``, any template variable) and may set ``max_length`` / ``truncation`` (they win over
        the ``text`` ones) and ``restore_suffix`` (default True: a row cut at the length limit gets the template's
        closing tokens back). ``task`` reaches templates that read a ``task`` variable. A prompt becomes a leading
        ``system`` message.

        Raises:
            ValueError: a pair whose roles the template drops (the message gives the remedy).
            TypeError: an input that is neither text, a text pair nor chat messages.
        """
        options = self._merge_processing_kwargs(kwargs.get("processing_kwargs"))
        template_kwargs = dict(options.get("chat_template") or {})
        restore = template_kwargs.pop("restore_suffix", True)
        size = {key: template_kwargs.pop(key) for key in SIZE_KWARGS & template_kwargs.keys()}
        text_options = {**options.get("common", {}), **options.get("text", {}), **size}
        max_length = self._max_length(text_options, kwargs.get("task"))
        task = kwargs.get("task")
        if task is not None and "task" in self._chat_template_variables():
            template_kwargs = {"task": task, **template_kwargs}

        conversations = self.input_formatter.conversations(inputs)
        model_name = getattr(self.config, "name_or_path", None) or str(self.tokenizer.folder)
        self.input_formatter.check_pair_roles(conversations, template_kwargs, model_name)
        for index, conversation in enumerate(conversations):
            if not self.input_formatter.is_text_only_messages([conversation]):
                raise ValueError(f"input {index}: this {type(self).__name__} module reads text only; chat message "
                                 "content must be a string or parts of type 'text'")
        if prompt:
            conversations = self.input_formatter.prepend_prompt_to_messages(conversations, prompt)
        features: dict[str, Any] = self.tokenizer.apply_chat_template(
            conversations, max_length=max_length, padding_side=text_options.get("padding_side"), **template_kwargs)
        if restore and text_options.get("truncation", True) not in (False, "do_not_truncate"):
            restore_suffix(features, self.tokenizer, conversations, template_kwargs, max_length,
                           self._chat_template_suffix_cache)
        if text_options.get("return_tensors") == "np":
            features = {k: v.numpy() if isinstance(v, Tensor) else v for k, v in features.items()}
        features["modality"] = "message"
        return features

    def _chat_template_variables(self) -> set[str]:
        """Variables the tokenizer's chat template(s) read (kept for the current template)."""
        from embedkit.chat_template import template_variables

        template = self.tokenizer.chat_template
        if self._template_variables is None or self._template_variables[0] != template:
            sources = template.values() if isinstance(template, dict) else [template]
            names = set().union(*(template_variables(s) for s in sources if isinstance(s, str)))
            self._template_variables = (template, names)
        return self._template_variables[1]

    tokenize = preprocess

    def __repr__(self) -> str:
        return f"Transformer({dict(self.get_config_dict(), architecture=type(self.auto_model).__name__)})"

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        """Save the network (config.json and weights under transformers' names), the tokenizer and
        ``sentence_bert_config.json``; with a LoRA adapter active, the adapter instead of the network (PEFT's
        ``adapter_config.json`` and ``adapter_model.safetensors``, naming the base model), as transformers does."""
        write_module_folder(self, output_path, safe_serialization, self.config.to_hf_config,
                            lambda: ek_to_hf(self.auto_model.state_dict(), self.config.model_type))

    def _save_with_head(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Save a module whose network carries a head (classifier, causal LM): its ``hf_config()`` as config.json,
        its ``hf_state_dict()`` under transformers' names, the tokenizer and ``sentence_bert_config.json``."""
        write_module_folder(self, output_path, safe_serialization, self.auto_model.hf_config,
                            self.auto_model.hf_state_dict)

    @classmethod
    def load(cls, path: str | os.PathLike, subfolder: str = "", token: bool | str | None = None,
             cache_folder: str | None = None, revision: str | None = None, local_files_only: bool = False,
             trust_remote_code: bool = False, model_kwargs: dict[str, Any] | None = None,
             processor_kwargs: dict[str, Any] | None = None, config_kwargs: dict[str, Any] | None = None,
             backend: str = "torch", init_defaults: dict[str, Any] | None = None, **kwargs: Any) -> Transformer:
        """Load from a model root, reading whichever ``sentence_*_config.json`` generation it has.

        A ``fill-mask`` folder (sentence-transformers 5.4+ SPLADE backbone) is handed to MLMTransformer.
        """
        hub = dict(token=token, cache_folder=cache_folder, revision=revision, local_files_only=local_files_only)
        config = cls.load_config(path, subfolder=subfolder, **hub)
        task = config.get("transformer_task", "feature-extraction")
        if task == "fill-mask" and cls is Transformer:
            from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer

            folder = Path(path) / subfolder if subfolder else path
            return MLMTransformer.load(folder, **hub)
        init = cls._load_init_kwargs(path, subfolder=subfolder, trust_remote_code=trust_remote_code,
                                     model_kwargs=model_kwargs, processor_kwargs=processor_kwargs,
                                     config_kwargs=config_kwargs, backend=backend, **hub)
        for key, value in (init_defaults or {}).items():
            init.setdefault(key, value)
        return cls(path, **hub, **accepted_init_kwargs(cls, Transformer, init, path))


def tokens_to_device(features: dict[str, Any], device: Any) -> dict[str, Any]:
    """Move every tensor in ``features`` to ``device`` (other values are kept as they are)."""
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in features.items()}
