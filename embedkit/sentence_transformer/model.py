"""SentenceTransformer: a sequence of pipeline modules that maps texts to dense embeddings.

Drop-in for ``sentence_transformers.SentenceTransformer``: the same constructor, ``encode`` arguments and outputs,
prompts, similarity functions and folder format. ``encode`` sorts inputs by length, runs batches under
``torch.inference_mode`` and restores the input order. How modules are built from a folder lives in
:mod:`~embedkit.sentence_transformer.model_loading` and the former method spellings (``fit``, ``save_to_hub``,
``encode_multi_process``, ``load``) in :mod:`~embedkit.sentence_transformer.legacy_api`; both are mixed in.
"""

from __future__ import annotations

import functools
import inspect
import logging
import numbers
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from embedkit.base.modality import is_message_dict
from embedkit.base.modality_types import InputTypeError
from embedkit.base.model import BaseModel
from embedkit.base.model_card import (
    write_model_card,
)
from embedkit.base.modules.transformer import check_text_inputs, tokens_to_device
from embedkit.eval_mode import ensure_eval
from embedkit.model_folder import (
    save_model_folder,
)
from embedkit.sentence_transformer.encode_inputs import _input_length, _text_of, resolve_inputs_alias
from embedkit.sentence_transformer.legacy_api import LegacyAPI
from embedkit.sentence_transformer.model_loading import ModuleLoading
from embedkit.sentence_transformer.modules import Pooling, Transformer

logger = logging.getLogger(__name__)

# Messages sentence-transformers emits from its base model class go to the matching embedkit logger name, so
# logging configured by sentence-transformers module name carries over.
base_logger = logging.getLogger("embedkit.base.model")

SUPPORTED_SIMILARITY_FN_NAMES = ("cosine", "dot", "euclidean", "manhattan")
PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
ALLOWED_PRECISIONS = set(PRECISIONS)  # sentence-transformers' name


def default_device() -> str:
    """cuda (on this process's LOCAL_RANK) > mps > cpu, as sentence-transformers picks."""
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if "LOCAL_RANK" in os.environ else "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def note_remote_code(trust_remote_code: bool) -> None:
    """``trust_remote_code=True`` is accepted, as sentence-transformers' model cards ask for it, and changes nothing:
    embedkit never runs code from a model folder. A config.json ``auto_map`` is ignored (the architectures embedkit
    implements, nomic_bert and GTE's ``new`` among them, load natively; others are refused as without the flag), and
    modules.json entries still load only sentence-transformers' module types. Logged once per process at INFO.

    Example:
        >>> note_remote_code(True)  # no error, no effect
    """
    if trust_remote_code:
        _log_remote_code_note()


@functools.cache
def _log_remote_code_note() -> None:
    logger.info("trust_remote_code=True has no effect in embedkit: no code from a model folder is run (a config.json "
                "auto_map is ignored; only the architectures and module types embedkit implements load)")


class SentenceTransformer(BaseModel, ModuleLoading, LegacyAPI, nn.Sequential):
    """Texts -> dense embeddings through Transformer -> Pooling (-> Dense -> Normalize ...).

    Args:
        model_name_or_path: a local folder, a Hub id (short names get the ``sentence-transformers/`` prefix), or
            None together with ``modules``. A plain HF BERT/MPNet checkpoint gets Transformer + mean Pooling.
        modules: build from these modules instead of loading.
        device: ``"cpu"``, ``"cuda"``, ... (default: the best available).
        prompts: name -> prompt text; overrides the saved prompts.
        default_prompt_name: prompt used by ``encode`` when none is given.
        similarity_fn_name: ``cosine`` (default), ``dot``, ``euclidean`` or ``manhattan``.
        truncate_dim: cut embeddings to this many dimensions (Matryoshka models).
        cache_folder / revision / token / local_files_only: Hub options (``cache_folder`` defaults to
            ``$SENTENCE_TRANSFORMERS_HOME``). ``use_auth_token`` is the deprecated spelling of ``token``.
        trust_remote_code: accepted and without effect: embedkit never runs code from a model folder
            (:func:`note_remote_code`).
        model_kwargs: ``{"torch_dtype": ...}`` (or ``"dtype"``) to load in another precision; the other keys reach
            the modules whose loaders take them (embedkit has no use for transformers' loading options).
        processor_kwargs (``tokenizer_kwargs`` in sentence-transformers 5.x): ``{"model_max_length": N}``.
        config_kwargs: accepted for sentence-transformers compatibility; passed on like ``model_kwargs``.
        model_card_data: a :class:`~embedkit.sentence_transformer.model_card.SentenceTransformerModelCardData`
            for the README.md that ``save`` writes (default: a fresh one).
        backend: only ``"torch"``.

    A folder saved as another model type (a CrossEncoder, a SparseEncoder, or a subclass that sets its own
    ``model_type``) is converted: Transformer + mean Pooling on its transformer, without its prompts and
    similarity function. An empty ``modules`` list is refused.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path())
        >>> emb = model.encode(["The cat sits outside", "A man is playing guitar"])
        >>> emb.shape
        (2, 384)
        >>> round(float(model.similarity(emb[:1], emb[1:])[0, 0]), 2) < 0.5
        True
    """

    model_type: str = "SentenceTransformer"
    """Written to ``config_sentence_transformers.json``; a saved folder of another type is converted on load."""
    SUPPORTED_SIMILARITY_FN_NAMES: tuple[str, ...] = SUPPORTED_SIMILARITY_FN_NAMES
    default_huggingface_organization: str | None = "sentence-transformers"
    _default_prompts: ClassVar[dict[str, str | None]] = {"query": None, "document": None}

    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        modules: Iterable[nn.Module] | OrderedDict[str, nn.Module] | None = None,
        device: str | torch.device | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        use_auth_token: bool | str | None = None,
        truncate_dim: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        model_card_data: Any = None,
        backend: Literal["torch"] = "torch",
        processor_kwargs: dict[str, Any] | None = None,
    ) -> None:
        note_remote_code(trust_remote_code)
        if backend != "torch":
            raise ValueError(f"backend={backend!r} is not supported; embedkit runs the 'torch' backend only")
        if use_auth_token is not None:
            warnings.warn("The `use_auth_token` argument is deprecated and will be removed in a future release of "
                          "SentenceTransformers.", FutureWarning, stacklevel=2)
            if token is not None:
                raise ValueError("Both `token` and `use_auth_token` are specified. Please only specify the `token` "
                                 "argument.")
            token = use_auth_token
        if processor_kwargs is None:
            processor_kwargs = tokenizer_kwargs
        from embedkit.sentence_transformer.model_card import (
            SentenceTransformerModelCardData,
        )

        super().__init__()
        self.prompts: dict[str, Any] = {**self._default_prompts, **(prompts or {})}
        self.default_prompt_name = default_prompt_name
        self._similarity_fn_name: str | None = None
        self.similarity_fn_name = similarity_fn_name
        self.truncate_dim = truncate_dim
        self.backend = backend
        self.trust_remote_code = trust_remote_code
        card_class = getattr(type(self), "model_card_data_class", None) or SentenceTransformerModelCardData
        self.model_card_data = model_card_data or card_class(local_files_only=local_files_only)
        self._model_card_text: str | None = None
        self.module_kwargs: dict[str, list[str]] = {}
        if cache_folder is None:
            cache_folder = os.environ.get("SENTENCE_TRANSFORMERS_HOME")

        if model_name_or_path is not None and modules is not None:
            base_logger.warning("Both `model_name_or_path` and `modules` were provided. The modules are loaded from "
                                "`model_name_or_path`, so the `modules` argument is ignored.")
        if model_name_or_path is not None:
            named, self.module_kwargs = self._load_modules(
                model_name_or_path, token=token, cache_folder=cache_folder, revision=revision,
                trust_remote_code=trust_remote_code, local_files_only=local_files_only, model_kwargs=model_kwargs,
                processor_kwargs=processor_kwargs, config_kwargs=config_kwargs)
        elif modules is not None:
            named = list(modules.items()) if isinstance(modules, dict) else [(str(i), m) for i, m in enumerate(modules)]
            if not named:
                raise ValueError(f"An empty modules list was passed to {type(self).__name__}. "
                                 "Please provide at least one module, e.g. a Transformer module.")
        else:
            named = []
        for name, module in (named.items() if isinstance(named, dict) else named):
            self.add_module(str(name), module)

        max_length = (processor_kwargs or {}).get("model_max_length")
        if max_length is not None and len(self):
            self.max_seq_length = max_length
        dtype = (model_kwargs or {}).get("torch_dtype", (model_kwargs or {}).get("dtype"))
        if isinstance(dtype, str) and dtype != "auto":
            dtype = getattr(torch, dtype)
        if isinstance(dtype, torch.dtype):
            self.to(dtype)
        elif len(self) > 1:  # later modules follow the input module's dtype, as in sentence-transformers
            first = next(self[0].parameters(), None)
            if first is not None:
                for module in list(self)[1:]:
                    module.to(first.dtype)
        if device is None:
            device = default_device()
            base_logger.info(f"No device provided, using {device}")
        self.to(device)
        self._validate_prompts()
        register = getattr(self.model_card_data, "register_model", None)
        if callable(register):
            register(self)
        self._check_instructor(model_name_or_path)
        self._post_init()

    def _check_instructor(self, model_name_or_path: Any) -> None:
        """INSTRUCTOR models pool without their prompt: the original checkpoints get ``include_prompt=False``,
        other models named like one get a warning when their pooling still includes it."""
        name = os.fspath(model_name_or_path) if model_name_or_path is not None else ""
        if name in ("hkunlp/instructor-base", "hkunlp/instructor-large", "hkunlp/instructor-xl"):
            self.set_pooling_include_prompt(include_prompt=False)
        elif ("/" in name and "instructor" in name.split("/")[1].lower()
              and any(getattr(m, "include_prompt", False) for m in self if isinstance(m, Pooling))):
            base_logger.warning(
                "Instructor models require `include_prompt=False` in the pooling configuration. Either update "
                "the model configuration or call `model.set_pooling_include_prompt(False)` after loading the model.")

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    def tokenizer(self) -> Any:
        return self[0].tokenizer

    @tokenizer.setter
    def tokenizer(self, value: Any) -> None:
        try:
            self[0].tokenizer = value
        except AttributeError:
            raise AttributeError(
                f"The first module ({type(self[0]).__name__}) does not have a 'tokenizer' attribute.") from None

    @property
    def processor(self) -> Any:
        """The first module's processor (embedkit's text modules: the tokenizer)."""
        first = self[0]
        return getattr(first, "processor", getattr(first, "tokenizer", None))

    @property
    def max_seq_length(self) -> int | None:
        return getattr(self[0], "max_seq_length", None) if len(self) else None

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self[0].max_seq_length = value

    @property
    def transformers_model(self) -> nn.Module | None:
        """The encoder network of the first Transformer module found (embedkit's own, not a transformers model)."""
        for module in self.modules():
            if isinstance(module, Transformer):
                return getattr(module, "model", None) or getattr(module, "auto_model", None)
        return None

    @property
    def config(self) -> Any:
        """The config of the first Transformer module found (None without one)."""
        for module in self.modules():
            if isinstance(module, Transformer):
                return getattr(module, "config", None)
        return None

    @config.setter
    def config(self, value: Any) -> None:
        """Replace the first Transformer module's config and its encoder's (as assigning a transformers model's
        config does; the encoder's shapes stay as built). Ignored without a Transformer module."""
        for module in self.modules():
            if isinstance(module, Transformer):
                module.config = value
                encoder = getattr(module, "auto_model", None)
                if encoder is not None and hasattr(encoder, "config"):
                    encoder.config = value
                return

    def _first_module(self) -> nn.Module:
        return self._modules[next(iter(self._modules))]

    def _last_module(self) -> nn.Module:
        return self._modules[next(reversed(self._modules))]

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        """Set ``include_prompt`` on the first Pooling module (INSTRUCTOR-style models pool without the prompt)."""
        for module in self:
            if isinstance(module, Pooling):
                module.include_prompt = include_prompt
                break

    @property
    def similarity_fn_name(self) -> str:
        """``cosine`` (the default once read), ``dot``, ``euclidean`` or ``manhattan``."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = "cosine"
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str | Any | None) -> None:
        value = getattr(value, "value", value)
        if value is not None and value not in self.SUPPORTED_SIMILARITY_FN_NAMES:
            hint = " Use MultiVectorEncoder for MaxSim late-interaction scoring." if value == "maxsim" else ""
            raise ValueError(f"{type(self).__name__} only supports similarity_fn_name in "
                             f"{self.SUPPORTED_SIMILARITY_FN_NAMES}, got {value!r}.{hint}")
        self._similarity_fn_name = value

    def similarity(self, embeddings1: Tensor | np.ndarray, embeddings2: Tensor | np.ndarray) -> Tensor:
        """(n1, n2) similarity matrix with the model's similarity function."""
        from embedkit.util import SimilarityFunction

        return SimilarityFunction.to_similarity_fn(self.similarity_fn_name)(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Tensor | np.ndarray, embeddings2: Tensor | np.ndarray) -> Tensor:
        """(n,) similarity of row i with row i."""
        from embedkit.util import SimilarityFunction

        return SimilarityFunction.to_similarity_pairwise_fn(self.similarity_fn_name)(embeddings1, embeddings2)

    def get_embedding_dimension(self) -> int | None:
        """Output size (after ``truncate_dim``), found by asking the modules from last to first."""
        dim = None
        for module in reversed(list(self._modules.values())):
            for name in ("get_embedding_dimension", "get_sentence_embedding_dimension",
                         "get_word_embedding_dimension"):
                method = getattr(module, name, None)
                if callable(method):
                    dim = method()
                    break
            if dim is not None:
                break
        if self.truncate_dim is not None:
            return self.truncate_dim if dim is None else min(dim, self.truncate_dim)
        return dim

    @contextmanager
    def truncate_embeddings(self, truncate_dim: int | None) -> Iterator[None]:
        """Temporarily set ``truncate_dim``.

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> model = SentenceTransformer(default_model_path())
            >>> with model.truncate_embeddings(64):
            ...     model.encode("hi").shape
            (64,)
        """
        previous, self.truncate_dim = self.truncate_dim, truncate_dim
        try:
            yield
        finally:
            self.truncate_dim = previous

    # ------------------------------------------------------------------ forward / tokenize
    def get_model_kwargs(self) -> list[str]:
        """Extra keyword arguments ``encode`` accepts for this model (the modules' ``forward_kwargs``, those of
        Router routes included, and the per-module ``kwargs`` of ``modules.json``)."""
        names: set[str] = set()
        pending = list(self.named_children())
        while pending:
            name, module = pending.pop()
            routes = getattr(module, "sub_modules", None)
            if isinstance(routes, (dict, nn.ModuleDict)):
                for route_modules in routes.values():
                    pending.extend(route_modules.named_children() if isinstance(route_modules, nn.Module)
                                   else ((str(i), m) for i, m in enumerate(route_modules)))
            names.update(self.module_kwargs.get(name, ()) if self.module_kwargs else ())
            names.update(getattr(module, "forward_kwargs", ()) or ())
        return sorted(names)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for name, module in self._modules.items():
            module_kwargs = {}
            if kwargs:  # only the keyword arguments each module takes
                wanted = set(getattr(module, "forward_kwargs", ()) or ()) | set(self.module_kwargs.get(name, ()))
                module_kwargs = {k: v for k, v in kwargs.items() if k in wanted}
            features = module(features, **module_kwargs)
        return features

    def preprocess(self, inputs: list[str] | list[tuple[str, str]], prompt: str | None = None, **kwargs: Any
                   ) -> dict[str, Any]:
        """Tokenize a batch with the first module (``prompt`` is prepended to each text)."""
        self.check_input_modality(inputs)
        return self[0].preprocess(inputs, prompt=prompt, **kwargs)

    def tokenize(self, texts: list[str] | list[tuple[str, str]], **kwargs: Any) -> dict[str, Any]:
        """Former name of :meth:`preprocess` (deprecated: logs a warning once per model)."""
        if not getattr(self, "_tokenize_warned", False):
            base_logger.warning("The `tokenize` method is deprecated, please use `preprocess` instead.")
            self._tokenize_warned = True
        return self.preprocess(texts, **kwargs)

    def is_singular_input(self, inputs: Any) -> bool:
        """True for one input (a string, a pair tuple's text...), False for a batch (list, tuple, array of texts,
        a dataset column)."""
        if isinstance(inputs, list) and inputs and is_message_dict(inputs[0]):
            return True  # one conversation (a list of messages) is one input, as chat templates read it
        if isinstance(inputs, (list, tuple)):
            return False
        if isinstance(inputs, np.ndarray) and inputs.ndim >= 1 and inputs.dtype.kind in ("U", "O"):
            return False
        return not (type(inputs).__name__ == "Column" and hasattr(inputs, "__iter__"))  # datasets.Column

    # ------------------------------------------------------------------ encode
    def _encode_inputs(self, inputs: Any, kwargs: dict[str, Any]) -> tuple[list[Any], bool]:
        """(inputs as a list, whether one input was given); checks ``kwargs`` in place.

        Raises:
            ValueError: a keyword argument no module uses.
        """
        if kwargs:
            model_kwargs = self.get_model_kwargs()
            unused = set(kwargs) - set(model_kwargs) - {"task", "processing_kwargs"}
            if unused:
                cls = type(self).__name__
                raise ValueError(
                    f"{cls}.encode() has been called with additional keyword arguments that this model does not use: "
                    f"{list(unused)}. " + (
                        f"As per {cls}.get_model_kwargs(), the valid additional keyword arguments are: {model_kwargs}."
                        if model_kwargs else
                        f"As per {cls}.get_model_kwargs(), this model does not accept any additional keyword "
                        "arguments."))
        if isinstance(inputs, np.ndarray) and inputs.ndim == 0:
            raise InputTypeError("encode() got a 0-d NumPy array; pass a string (str(array)) or a list of strings")
        single = self.is_singular_input(inputs)
        items = [inputs] if single else inputs.tolist() if isinstance(inputs, np.ndarray) else list(inputs)
        items = self._unwrap_task_dicts(items, kwargs)
        self.check_input_modality(items)
        return [_text_of(item) for item in items], single

    def _unwrap_task_dicts(self, items: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        """The 5.x ``Asym`` input form for Router models: ``[{"query": text}, ...]`` (keys that are not modality
        names) sets ``kwargs["task"]`` from the one key and gives the texts, as sentence-transformers' Router does.

        Raises:
            ValueError: the dicts use more than one such key.
        """
        from embedkit.base.modality_types import MODALITY_TO_PROCESSOR_ARG
        from embedkit.base.modules.router import Router

        if kwargs.get("task") is not None or not items or not all(isinstance(item, dict) for item in items):
            return items
        if not any(isinstance(module, Router) for module in self.modules()):
            return items
        keys = {key for item in items for key in item}
        if keys & set(MODALITY_TO_PROCESSOR_ARG):
            return items
        if len(keys) > 1:
            raise ValueError("You cannot pass a list of dictionaries with different task types. Please ensure all "
                             "dictionaries have the same task type key, or pass non-dictionary inputs while "
                             "providing the `task` argument.")
        task = keys.pop()
        kwargs["task"] = task
        return [item[task] for item in items]

    def encode(
        self,
        inputs: str | list[str] | list[tuple[str, str]] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["sentence_embedding", "token_embeddings"] | None = "sentence_embedding",
        precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] | None = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        *,
        sentences: str | list[str] | list[tuple[str, str]] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> np.ndarray | Tensor | list[Tensor] | list[dict[str, Tensor]]:
        """Embed texts.

        Args:
            inputs: one text or a list of texts (``sentences`` is the sentence-transformers 5.x name; either works).
            prompt_name / prompt: a named prompt from ``prompts`` or a literal one, prepended to every text.
            batch_size: texts per forward pass (> 0).
            show_progress_bar: tqdm bar on stderr (default: when logging is at INFO or DEBUG).
            output_value: ``"sentence_embedding"``, ``"token_embeddings"`` (one tensor per text, padding cut),
                or None (one dict of every feature per text).
            precision: ``float32`` (or None) or a quantized form (int8, uint8, binary, ubinary), calibrated on
                this call.
            convert_to_numpy / convert_to_tensor: output type; with neither, a list of tensors.
            device: run on this device; a list of devices encodes on one worker process per device.
            normalize_embeddings: L2-normalise (after truncation).
            truncate_dim: keep the first dimensions (default: the model's ``truncate_dim``).
            pool / chunk_size: a pool from :meth:`start_multi_process_pool` and the inputs per job.
            **kwargs: ``task`` (Router models), ``processing_kwargs`` and the module keywords listed by
                :meth:`get_model_kwargs`.

        Returns:
            (N, D) float32 array by default; (D,) for a single string; an empty array for an empty list.

        Raises:
            ValueError: ``batch_size <= 0``, an unknown precision or prompt name, or unknown keyword arguments.
            TypeError: an item is not a string (the message names its index and type).
        """
        inputs = resolve_inputs_alias(inputs, sentences, "encode")
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        if convert_to_tensor:
            convert_to_numpy = False
        if output_value != "sentence_embedding":
            convert_to_tensor = convert_to_numpy = False
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        batch_size = int(batch_size)  # numpy integers too
        if truncate_dim is not None and (isinstance(truncate_dim, bool) or not isinstance(
                truncate_dim, numbers.Integral) or truncate_dim <= 0):
            raise ValueError(f"truncate_dim must be a positive integer or None, got {truncate_dim!r}.")
        inputs, single = self._encode_inputs(inputs, kwargs)
        if precision is not None and precision not in PRECISIONS:
            raise ValueError(f"Precision {precision!r} is not supported, must be one of "
                             "{" + ", ".join(map(repr, PRECISIONS)) + "}")
        precision = precision or "float32"
        prompt = self._resolve_prompt(prompt, prompt_name)
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim

        if pool is not None or isinstance(device, (list, tuple)):
            from embedkit.multiprocess import run_on_pool_or_devices

            results = run_on_pool_or_devices(self, "encode", inputs, pool, device, chunk_size, dict(
                prompt=prompt, batch_size=batch_size, output_value=output_value,
                normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim, convert_to_numpy=False,
                convert_to_tensor=False, show_progress_bar=False, **kwargs))
        else:
            results = self._inference(inputs, prompt, batch_size, show_progress_bar, output_value,
                                      convert_to_numpy, normalize_embeddings, truncate_dim, device, kwargs)
        if output_value == "sentence_embedding":
            if not results:
                out: Any = torch.tensor([]) if convert_to_tensor else (np.array([]) if convert_to_numpy else [])
            else:
                stacked = torch.stack(results)
                if precision != "float32":
                    from embedkit.util import quantize_embeddings

                    stacked = quantize_embeddings(stacked.float().cpu().numpy(), precision=precision)
                    out = torch.from_numpy(stacked) if convert_to_tensor else (
                        stacked if convert_to_numpy else list(torch.from_numpy(stacked)))
                elif convert_to_tensor:
                    out = stacked
                elif convert_to_numpy:
                    out = stacked.float().numpy() if stacked.dtype == torch.bfloat16 else stacked.numpy()
                else:
                    out = results
        elif precision != "float32" and results:
            if output_value is None:
                raise ValueError(f"precision={precision!r} quantizes sentence or token embeddings, but "
                                 "output_value=None returns every output of the model; use precision='float32'")
            from embedkit.util import quantize_embeddings

            # one (tokens, dim) int array per text, with ranges shared over all of them (as sentence-transformers)
            out = quantize_embeddings([r.float().cpu() for r in results], precision=precision)
        else:
            out = results
        return out[0] if single else out

    def _inference(self, sentences: list[Any], prompt: str | None, batch_size: int, show_progress_bar: bool,
                   output_value: str | None, to_cpu: bool, normalize: bool, truncate_dim: int | None,
                   device: str | torch.device | None, kwargs: dict[str, Any]) -> list[Any]:
        if device is not None:
            self.to(device)
        device = self.device
        ensure_eval(self)
        if "message" not in self.modalities:  # chat-message inputs are checked by the Transformer module
            check_text_inputs(sentences)  # before length-sorting, so the error gives the caller's index
        order = np.argsort([-_input_length(s) for s in sentences], kind="stable")
        ordered = [sentences[i] for i in order]
        batches = range(0, len(ordered), batch_size)
        if show_progress_bar:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="Batches")
        results: list[Any] = []
        with torch.inference_mode():
            for start in batches:
                batch = ordered[start : start + batch_size]
                features = tokens_to_device(self.preprocess(batch, prompt=prompt, **kwargs), device)
                out = self(features, **kwargs)
                if truncate_dim is not None and "sentence_embedding" in out:
                    out["sentence_embedding"] = out["sentence_embedding"][..., :truncate_dim]
                if output_value == "token_embeddings":
                    lengths = out["attention_mask"].sum(dim=1).tolist()
                    last = [int(m.nonzero().max()) + 1 if n else 1 for m, n in zip(out["attention_mask"], lengths)]
                    results.extend(tok[:n] for tok, n in zip(out["token_embeddings"], last))
                elif output_value is None:
                    for i in range(len(batch)):
                        results.append({k: v[i] if isinstance(v, Tensor) and v.ndim and v.shape[0] == len(batch)
                                        else v for k, v in out.items()})
                else:
                    if output_value not in out:
                        raise ValueError(f"output_value={output_value!r} is not an output of this model; use "
                                         f"'sentence_embedding', 'token_embeddings', None (all outputs) or one of "
                                         f"{sorted(out)}")
                    emb = out[output_value]
                    if normalize:
                        emb = torch.nn.functional.normalize(emb, p=2, dim=1)
                    if to_cpu:
                        emb = emb.cpu()
                    results.extend(emb)
        restored = [None] * len(results)
        for position, index in enumerate(order):
            restored[index] = results[position]
        return restored

    def _forward_to_encode(self, inputs: Any, task: str, old_name: bool = False, **encode_kwargs: Any) -> Any:
        """Call ``self.encode`` with ``task`` set, passing the inputs under a name the target ``encode`` declares:
        ``sentences`` for a 5.x-style override that declares only that name, or where the caller wrote
        ``sentences=`` (``old_name``, as sentence-transformers 5.x passes it on) and the target declares it;
        ``inputs`` otherwise, so that embedkit's own encode warns about the old name only when the user wrote it."""
        encode = self.encode
        try:
            parameters = inspect.signature(encode).parameters
        except (TypeError, ValueError):
            parameters = {}
        declares_old = "sentences" in parameters
        name = "sentences" if declares_old and (old_name or "inputs" not in parameters) else "inputs"
        return encode(**{name: inputs}, task=task, **encode_kwargs)

    def encode_query(
        self,
        inputs: str | list[str] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["sentence_embedding", "token_embeddings"] | None = "sentence_embedding",
        precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] | None = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        *,
        sentences: str | list[str] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> np.ndarray | Tensor | list[Tensor]:
        """``encode`` with the ``query`` prompt (when no prompt is given and the model has one) and
        ``task="query"``; the arguments are those of :meth:`encode`."""
        old_name = sentences is not None
        inputs = resolve_inputs_alias(inputs, sentences, "encode_query")
        if prompt is None and prompt_name is None and "query" in self.prompts:
            prompt_name = "query"
        return self._forward_to_encode(
            inputs, "query", old_name, prompt_name=prompt_name, prompt=prompt, batch_size=batch_size,
            show_progress_bar=show_progress_bar, output_value=output_value, precision=precision,
            convert_to_numpy=convert_to_numpy, convert_to_tensor=convert_to_tensor, device=device,
            normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim, pool=pool, chunk_size=chunk_size,
            **kwargs)

    def encode_document(
        self,
        inputs: str | list[str] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["sentence_embedding", "token_embeddings"] | None = "sentence_embedding",
        precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] | None = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        *,
        sentences: str | list[str] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> np.ndarray | Tensor | list[Tensor]:
        """``encode`` with the first of the ``document``, ``passage``, ``corpus`` prompts the model has (when no
        prompt is given) and ``task="document"``; the arguments are those of :meth:`encode`."""
        old_name = sentences is not None
        inputs = resolve_inputs_alias(inputs, sentences, "encode_document")
        if prompt is None and prompt_name is None:
            prompt_name = next((name for name in ("document", "passage", "corpus") if name in self.prompts), None)
        return self._forward_to_encode(
            inputs, "document", old_name, prompt_name=prompt_name, prompt=prompt, batch_size=batch_size,
            show_progress_bar=show_progress_bar, output_value=output_value, precision=precision,
            convert_to_numpy=convert_to_numpy, convert_to_tensor=convert_to_tensor, device=device,
            normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim, pool=pool, chunk_size=chunk_size,
            **kwargs)

    # ------------------------------------------------------------------ saving
    def _get_model_config(self) -> dict[str, Any]:
        """What ``save`` writes to ``config_sentence_transformers.json`` (besides ``__version__``)."""
        return self._model_config()

    def _model_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "model_type": self.model_type,
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self._similarity_fn_name or "cosine",
        }
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config

    def save(self, path: str | os.PathLike, model_name: str | None = None, create_model_card: bool = True,
             train_datasets: list[str] | None = None, safe_serialization: bool = True) -> None:
        """Write the model as a sentence-transformers folder (atomically: temporary folder, then rename); a
        ``None`` path does nothing."""
        if path is None:
            return
        if getattr(self, "quantized", None):
            raise ValueError("a quantized model cannot be saved; save the fp32 model and quantize after loading")
        write_card = (lambda folder: write_model_card(self, folder, model_name)) if create_model_card else None
        save_model_folder(path, list(self.named_children()), self._get_model_config(), self.module_kwargs,
                          write_extra=write_card, safe_serialization=safe_serialization)

    save_pretrained = save
