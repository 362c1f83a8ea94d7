"""SparseEncoder: texts -> sparse vocabulary-sized vectors (SPLADE, inference-free SPLADE, CSR).

Drop-in for ``sentence_transformers.SparseEncoder`` (6.x API): the constructor, ``encode``/``encode_query``/
``encode_document`` (sparse COO tensors by default), ``decode``, ``intersection``, ``sparsity``, similarity ``dot``
by default, ``max_active_dims``, and the folder format (``config_sentence_transformers.json`` with
``model_type: "SparseEncoder"``). Loading, prompts, dtype/device handling and saving are SentenceTransformer's,
through its loading hooks (``_load_default_modules``, ``_load_converted_modules``, ``_parse_model_config``).

Supported pipelines: MLMTransformer (fill-mask) + SpladePooling, SparseStaticEmbedding, Router models built from
them, and CSR models (a dense pipeline + SparseAutoEncoder). As in ST, a plain non-MLM checkpoint becomes
Transformer + mean Pooling + SparseAutoEncoder(4·D latents, k=256), and a SentenceTransformer folder keeps its
modules, prompts and similarity and gains SparseAutoEncoder(4·D latents, k=D/4); ``max_active_dims`` then defaults
to the autoencoder's k.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from embedkit.base.modules.module import read_json_file
from embedkit.base.modules.transformer import tokens_to_device
from embedkit.eval_mode import ensure_eval
from embedkit.model_folder import accepted_kwargs
from embedkit.sentence_transformer.encode_inputs import _input_length, resolve_inputs_alias
from embedkit.sentence_transformer.model import SentenceTransformer
from embedkit.sparse_encoder.model_card import SparseEncoderModelCardData
from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer
from embedkit.sparse_encoder.modules.splade_pooling import SpladePooling
from embedkit.util.tensor import check_max_active_dims as _check_max_active_dims
from embedkit.util.tensor import select_max_active_dims

logger = logging.getLogger(__name__)
base_logger = logging.getLogger("embedkit.base.model")

MODEL_TYPE = "SparseEncoder"


class SparseEncoder(SentenceTransformer):
    """Texts -> sparse (vocabulary-sized) embeddings, scored with a dot product.

    Args:
        model_name_or_path: a local folder, a Hub id (short names get the ``sparse-encoder/`` prefix), or None
            together with ``modules``. A plain HF ``*ForMaskedLM`` checkpoint gets MLMTransformer +
            SpladePooling("max", "relu"); another plain checkpoint gets a CSR pipeline; a SentenceTransformer folder
            keeps its modules (and prompts and similarity) with a new SparseAutoEncoder on top.
        modules: build from these modules instead of loading.
        device: ``"cpu"``, ``"cuda"``, ... (default: the best available).
        prompts / default_prompt_name: as for SentenceTransformer (saved ones are used unless overridden; the
            ``query`` and ``document`` prompts always exist, ``""`` by default).
        cache_folder / revision / token / local_files_only: Hub options.
        trust_remote_code: accepted and without effect: embedkit never runs code from a model folder.
        model_kwargs: ``{"torch_dtype": ...}`` (or ``"dtype"``) to load in another precision.
        processor_kwargs / tokenizer_kwargs: ``{"model_max_length": N}``.
        config_kwargs: accepted for sentence-transformers compatibility (embedkit reads ``config.json`` as is).
        model_card_data: a :class:`~embedkit.sparse_encoder.model_card.SparseEncoderModelCardData` for README.md.
        backend: only ``"torch"``.
        similarity_fn_name: ``dot`` (default), ``cosine``, ``euclidean`` or ``manhattan``.
        max_active_dims: keep at most this many non-zero values per embedding (default: the saved value, else the
            SparseAutoEncoder's ``k`` for CSR models, else no limit).

    Example:
        An inference-free model (one weight per vocabulary token of all-MiniLM-L6-v2's tokenizer), saved and loaded:

        >>> import tempfile
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sparse_encoder.modules import SparseStaticEmbedding
        >>> folder = tempfile.mkdtemp()
        >>> SparseEncoder(modules=[SparseStaticEmbedding(default_model_path())], device="cpu").save(folder)
        >>> model = SparseEncoder(folder, device="cpu")
        >>> emb = model.encode(["The weather is nice", "It is sunny outside"])
        >>> emb.is_sparse, tuple(emb.shape)
        (True, (2, 30522))
        >>> model.similarity(emb, emb).shape
        torch.Size([2, 2])
        >>> len(model.decode(emb[0], top_k=3))
        3
    """

    model_type: str = MODEL_TYPE
    model_card_data_class = SparseEncoderModelCardData
    default_huggingface_organization: str | None = "sparse-encoder"
    _default_prompts: dict[str, str | None] = {"query": None, "document": None}
    SUPPORTED_SIMILARITY_FN_NAMES: tuple[str, ...] = ("cosine", "dot", "euclidean", "manhattan")
    """Single-vector similarities only: a multi-vector one (``maxsim``) would score 2-D sparse embeddings wrongly."""

    _push_to_hub_docs = ("sparse_encoder/SparseEncoder.html"
                         "#sentence_transformers.sparse_encoder.SparseEncoder.push_to_hub")

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
        model_card_data: SparseEncoderModelCardData | None = None,
        backend: Literal["torch"] = "torch",
        similarity_fn_name: str | None = None,
        max_active_dims: int | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if tokenizer_kwargs is not None:
            base_logger.warning("The `tokenizer_kwargs` argument was renamed and is now deprecated. "
                                "Please use `processor_kwargs` instead.")
            if processor_kwargs is None:
                processor_kwargs = tokenizer_kwargs
        # Set before loading, so that _parse_model_config sees whether the caller gave a value.
        self.max_active_dims = max_active_dims
        super().__init__(
            model_name_or_path,
            modules=modules,
            device=device,
            prompts=prompts,
            default_prompt_name=default_prompt_name,
            similarity_fn_name=similarity_fn_name,
            cache_folder=cache_folder,
            trust_remote_code=trust_remote_code,
            revision=revision,
            local_files_only=local_files_only,
            token=token,
            model_kwargs=model_kwargs,
            processor_kwargs=processor_kwargs,
            config_kwargs=config_kwargs,
            model_card_data=model_card_data,
            backend=backend,
        )
        _check_max_active_dims(self._max_active_dims)

    def _post_init(self) -> None:
        # A SpladePooling saved before its first forward pass has no dimension yet: it is the MLM vocabulary size.
        children = list(self)
        for previous, module in zip(children, children[1:]):
            if isinstance(module, SpladePooling) and module.embedding_dimension is None:
                module.embedding_dimension = getattr(previous, "vocab_size", None)
        super()._post_init()

    # ------------------------------------------------------------------ loading hooks
    def _load_default_modules(self, folder: str | os.PathLike, **load_kwargs: Any
                              ) -> tuple[list[tuple[str, nn.Module]], dict[str, list[str]]]:
        """A plain Hugging Face checkpoint: SPLADE (fill-mask Transformer + max SpladePooling) for a
        ``*ForMaskedLM`` architecture, else CSR (Transformer + mean Pooling + a new SparseAutoEncoder)."""
        from embedkit.sentence_transformer.modules import Pooling, Transformer
        from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder

        folder = Path(folder)
        hub_kwargs = {k: load_kwargs.get(k) for k in ("cache_folder", "revision", "token")}
        hub_kwargs["local_files_only"] = bool(load_kwargs.get("local_files_only"))
        config_path = folder / "config.json"
        architectures = (read_json_file(config_path) if config_path.is_file() else {}).get("architectures") or []
        if any(str(a).endswith("ForMaskedLM") for a in architectures):
            base_logger.info("Detected MLM architecture, using SpladePooling")
            return [("0", MLMTransformer(folder, **hub_kwargs)), ("1", SpladePooling("max", "relu"))], {}
        base_logger.info("No MLM architecture detected, using default Transformer + mean Pooling + "
                         "SparseAutoEncoder (CSR)")
        extra = {k: v for k, v in load_kwargs.items()
                 if k in ("model_kwargs", "processor_kwargs", "config_kwargs") and v is not None}
        transformer = Transformer(folder, **hub_kwargs, **accepted_kwargs(Transformer, extra))
        dim = transformer.get_embedding_dimension()
        autoencoder = SparseAutoEncoder(dim, hidden_dim=4 * dim, k=256, k_aux=512)
        return [("0", transformer), ("1", Pooling(dim, "mean")), ("2", autoencoder)], {}

    def _load_converted_modules(self, folder: str | os.PathLike, model_type: str | None = None, **load_kwargs: Any
                                ) -> tuple[list[tuple[str, nn.Module]], dict[str, list[str]]]:
        """A folder of another model type. A SentenceTransformer keeps its modules (and its saved prompts and
        similarity function, which still fit the kept backbone) and gains a new SparseAutoEncoder (a CSR model);
        any other type gets this class's default modules on its transformer."""
        if model_type != "SentenceTransformer":
            return super()._load_converted_modules(folder, model_type=model_type, **load_kwargs)
        from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder

        base_logger.info("SentenceTransformer model found, appending SparseAutoEncoder on top to form a CSR model")
        named, module_kwargs = self._load_config_modules(folder, **load_kwargs)
        named = list(named.items()) if isinstance(named, dict) else list(named)
        dim = None
        for _, module in reversed(named):
            method = getattr(module, "get_embedding_dimension", None) or getattr(
                module, "get_sentence_embedding_dimension", None)
            if callable(method):
                dim = method()
                break
        if dim is None:
            raise ValueError("Cannot determine the embedding dimension from the loaded modules. "
                             "At least one module must have a `get_embedding_dimension` method.")
        named.append((str(len(named)), SparseAutoEncoder(dim, hidden_dim=4 * dim, k=dim // 4, k_aux=dim // 2)))
        self._model_card_text = None  # the dense model's README does not describe this architecture
        return named, module_kwargs

    def _parse_model_config(self, model_config: dict[str, Any]) -> None:
        """Merge a saved config: as SentenceTransformer, plus the saved ``max_active_dims`` unless one was given."""
        super()._parse_model_config(model_config)
        if self._max_active_dims is None:
            self.max_active_dims = model_config.get("max_active_dims")

    @property
    def max_active_dims(self) -> int | None:
        """Non-zero values kept per embedding by :meth:`encode`: the value given (constructor, attribute or saved
        config), else the ``k`` of a SparseAutoEncoder module (CSR models, following later changes of ``k``), else
        None (no limit). Only a value given explicitly is saved with the model."""
        if self._max_active_dims is not None:
            return self._max_active_dims
        if "_modules" in self.__dict__:
            for module in self._modules.values():
                if type(module).__name__ == "SparseAutoEncoder":
                    return module.k
        return None

    @max_active_dims.setter
    def max_active_dims(self, value: int | None) -> None:
        self._max_active_dims = value

    # ------------------------------------------------------------------ properties
    @property
    def similarity_fn_name(self) -> str:
        """``dot`` (the default once read), ``cosine``, ``euclidean`` or ``manhattan``."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = "dot"
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str | Any | None) -> None:
        SentenceTransformer.similarity_fn_name.fset(self, value)

    def get_embedding_dimension(self) -> int | None:
        """Output size (the vocabulary size for SPLADE), found by asking the modules from last to first."""
        for module in reversed(list(self._modules.values())):
            for name in ("get_embedding_dimension", "get_sentence_embedding_dimension",
                         "get_word_embedding_dimension"):
                method = getattr(module, name, None)
                if callable(method):
                    dim = method()
                    if dim is not None:
                        return dim
                    break
        return None

    def _splade_pooling(self) -> SpladePooling | None:
        return next((m for m in self._modules.values() if isinstance(m, SpladePooling)), None)

    @property
    def splade_pooling_chunk_size(self) -> int | None:
        """Tokens per SpladePooling block (None: automatic blocking); None without a SpladePooling module."""
        pooling = self._splade_pooling()
        if pooling is None:
            logger.warning("SpladePooling module not found. Cannot get chunk_size.")
            return None
        return pooling.chunk_size

    @splade_pooling_chunk_size.setter
    def splade_pooling_chunk_size(self, value: int | None) -> None:
        pooling = self._splade_pooling()
        if pooling is None:
            logger.warning("SpladePooling module not found. Cannot set chunk_size.")
        else:
            pooling.chunk_size = value

    # ------------------------------------------------------------------ encode
    def preprocess(self, inputs: str | list[str], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Tokenize a batch with the first module (``prompt`` is prepended to each text; ``task`` picks a Router
        route). A single string is one text, as a Hugging Face tokenizer reads it."""
        return super().preprocess([inputs] if isinstance(inputs, str) else inputs, prompt=prompt, **kwargs)

    def encode(
        self,
        inputs: str | list[str] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        max_active_dims: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        *,
        sentences: str | list[str] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> Tensor | list[Tensor]:
        """Embed texts as sparse vectors.

        Args:
            inputs: one text or a list of texts (``sentences`` is the sentence-transformers 5.x name; either works).
            prompt_name / prompt: a named prompt from ``prompts`` or a literal one, prepended to every text.
            batch_size: texts per forward pass (> 0).
            show_progress_bar: tqdm bar (default: when logging is at INFO or DEBUG).
            convert_to_tensor: stack into one (N, V) tensor; False gives a list of (V,) tensors.
            convert_to_sparse_tensor: sparse COO tensors (default) rather than dense ones.
            save_to_cpu: move each batch's result to the CPU.
            device: run on this device; a list of devices encodes on one worker process per device.
            max_active_dims: keep at most this many non-zero values per vector (default: the model's).
            pool / chunk_size: a pool from :meth:`start_multi_process_pool` and the inputs per job.
            **kwargs: ``task`` (Router route), ``processing_kwargs`` and the keyword arguments the modules declare
                (:meth:`get_model_kwargs`).

        Returns:
            (N, V) sparse COO tensor by default; (V,) for a single string; an empty tensor for an empty list.

        Raises:
            ValueError: ``batch_size <= 0``, a bad ``max_active_dims`` or prompt name, or keyword arguments no
                module uses.
            TypeError: an item is not a string (the message names its index and type).
        """
        inputs = resolve_inputs_alias(inputs, sentences, "encode")
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        multi_process = pool is not None or (isinstance(device, (list, tuple)) and len(device) > 0)
        inputs, single = self._encode_inputs(inputs, kwargs)
        prompt = self._resolve_prompt(prompt, prompt_name)
        max_active_dims = max_active_dims if max_active_dims is not None else self.max_active_dims
        _check_max_active_dims(max_active_dims)

        if multi_process:
            from embedkit.multiprocess import run_on_pool_or_devices

            rows = run_on_pool_or_devices(self, "encode", inputs, pool, device, chunk_size, dict(
                prompt=prompt, batch_size=batch_size, convert_to_sparse_tensor=convert_to_sparse_tensor,
                max_active_dims=max_active_dims, convert_to_tensor=False, save_to_cpu=True, show_progress_bar=False,
                **kwargs))
            save_to_cpu = True
        else:
            rows = self._sparse_inference(inputs, prompt, batch_size, show_progress_bar, convert_to_sparse_tensor,
                                          save_to_cpu, max_active_dims, device, kwargs)
        return self._stack(rows, single, convert_to_tensor, convert_to_sparse_tensor, save_to_cpu)

    def _sparse_inference(self, inputs: list[Any], prompt: str | None, batch_size: int, show_progress_bar: bool,
                          convert_to_sparse_tensor: bool, save_to_cpu: bool, max_active_dims: int | None,
                          device: str | torch.device | None, kwargs: dict[str, Any]) -> list[Tensor]:
        """One (V,) embedding per input, in input order (batches run longest first)."""
        if device is not None:
            self.to(device)
        ensure_eval(self)
        order = np.argsort([-_input_length(s) for s in inputs], kind="stable")
        ordered = [inputs[i] for i in order]
        batches = range(0, len(ordered), batch_size)
        if show_progress_bar:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="Batches")
        forward_kwargs = {k: v for k, v in kwargs.items() if k != "processing_kwargs"}
        if max_active_dims is not None:
            forward_kwargs["max_active_dims"] = max_active_dims  # read by modules that declare it (CSR)
        results: list[Tensor] = []
        for start in batches:
            features = tokens_to_device(self.preprocess(ordered[start : start + batch_size], prompt=prompt,
                                                        **kwargs), self.device)
            with torch.inference_mode():
                embeddings = self(features, **forward_kwargs)["sentence_embedding"]  # (B, V)
                embeddings = select_max_active_dims(embeddings, max_active_dims)
            if convert_to_sparse_tensor:
                embeddings = embeddings.to_sparse()
            if save_to_cpu:
                embeddings = embeddings.cpu()
            results.extend(embeddings)
        restored: list[Tensor] = [None] * len(results)  # type: ignore[list-item]
        for position, index in enumerate(order):
            restored[index] = results[position]
        return restored

    def _stack(self, rows: list[Tensor], single: bool, convert_to_tensor: bool, convert_to_sparse_tensor: bool,
               save_to_cpu: bool) -> Tensor | list[Tensor]:
        if not convert_to_tensor:
            out: Any = list(rows)
        elif rows:
            out = torch.stack(rows)
        else:
            out = torch.tensor([], device="cpu" if save_to_cpu else self.device)
            if convert_to_sparse_tensor:
                out = out.to_sparse()
        return out[0] if single else out

    def encode_query(
        self,
        inputs: str | list[str] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        max_active_dims: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        *,
        sentences: str | list[str] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> Tensor | list[Tensor]:
        """:meth:`encode` with the ``query`` prompt (when no prompt is given and the model has one) and
        ``task="query"`` (the query route of a Router, e.g. inference-free SPLADE); same arguments."""
        old_name = sentences is not None
        inputs = resolve_inputs_alias(inputs, sentences, "encode_query")
        if prompt is None and prompt_name is None and "query" in self.prompts:
            prompt_name = "query"
        return self._forward_to_encode(
            inputs, "query", old_name, prompt_name=prompt_name, prompt=prompt, batch_size=batch_size,
            show_progress_bar=show_progress_bar, convert_to_tensor=convert_to_tensor,
            convert_to_sparse_tensor=convert_to_sparse_tensor, save_to_cpu=save_to_cpu, device=device,
            max_active_dims=max_active_dims, pool=pool, chunk_size=chunk_size, **kwargs)

    def encode_document(
        self,
        inputs: str | list[str] | np.ndarray | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        max_active_dims: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        *,
        sentences: str | list[str] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> Tensor | list[Tensor]:
        """:meth:`encode` with the first of the ``document``, ``passage``, ``corpus`` prompts the model has (when no
        prompt is given) and ``task="document"``; same arguments."""
        old_name = sentences is not None
        inputs = resolve_inputs_alias(inputs, sentences, "encode_document")
        if prompt is None and prompt_name is None:
            prompt_name = next((name for name in ("document", "passage", "corpus") if name in self.prompts), None)
        return self._forward_to_encode(
            inputs, "document", old_name, prompt_name=prompt_name, prompt=prompt, batch_size=batch_size,
            show_progress_bar=show_progress_bar, convert_to_tensor=convert_to_tensor,
            convert_to_sparse_tensor=convert_to_sparse_tensor, save_to_cpu=save_to_cpu, device=device,
            max_active_dims=max_active_dims, pool=pool, chunk_size=chunk_size, **kwargs)

    # ------------------------------------------------------------------ sparse helpers
    @staticmethod
    def sparsity(embeddings: Tensor) -> dict[str, float]:
        """Mean number of non-zero values per row (``active_dims``) and ``sparsity_ratio`` = 1 - active / V.

        Example:
            >>> SparseEncoder.sparsity(torch.tensor([[0.0, 1.0, 2.0, 0.0], [3.0, 0.0, 0.0, 0.0]]))
            {'active_dims': 1.5, 'sparsity_ratio': 0.625}
        """
        if not isinstance(embeddings, Tensor):
            raise TypeError(f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}")
        if embeddings.ndim not in (1, 2):
            raise ValueError(f"Expected a 1D or 2D tensor, got {embeddings.ndim}D.")
        if embeddings.ndim == 1:
            embeddings = embeddings.unsqueeze(0)
        rows, cols = embeddings.shape
        if rows == 0 or cols == 0:
            return {"active_dims": 0.0, "sparsity_ratio": 1.0}
        if embeddings.is_sparse:  # stored entries per row, as sentence-transformers counts them
            counts = torch.bincount(embeddings.coalesce().indices()[0], minlength=rows)
        else:
            counts = (embeddings != 0).sum(dim=1)
        active = torch.mean(counts.float()).item()
        return {"active_dims": active, "sparsity_ratio": 1.0 - active / cols}

    @staticmethod
    def intersection(embeddings_1: Tensor, embeddings_2: Tensor) -> Tensor:
        """Element-wise product of a (V,) embedding with a (V,) or (N, V) one, keeping only positive entries.

        Returns a sparse COO tensor shaped like ``embeddings_2``: the tokens both sides activate.
        """
        a = embeddings_1 if embeddings_1.is_sparse else embeddings_1.to_sparse()
        b = embeddings_2 if embeddings_2.is_sparse else embeddings_2.to_sparse()
        if a.ndim != 1:
            raise ValueError(f"Expected 1D tensor for embeddings_1, but got {a.shape} shape.")
        if a.shape[-1] != b.shape[-1]:
            raise ValueError(f"Vocab dimension mismatch: embeddings_1 has {a.shape[-1]}, embeddings_2 has "
                             f"{b.shape[-1]}.")
        if b.ndim == 1:
            product = a * b
        elif b.ndim == 2:
            product = torch.stack([a * row for row in b])
        else:
            raise ValueError(f"Expected 1D or 2D tensor for embeddings_2, but got {b.shape} shape.")
        product = product.coalesce()
        keep = product.values() > 0
        return torch.sparse_coo_tensor(product.indices()[:, keep], product.values()[keep], size=product.size(),
                                       device=product.device, check_invariants=False)

    def decode(self, embeddings: Tensor, top_k: int | None = None
               ) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """(token, weight) pairs of the non-zero entries, by descending weight (a list per row for 2-D input).

        Args:
            embeddings: (V,) or (N, V), sparse or dense.
            top_k: keep at most this many pairs per row (> 0); None keeps all.
        """
        if top_k is not None and top_k <= 0:
            raise ValueError(f"top_k must be a positive integer, got {top_k}.")
        if not isinstance(embeddings, Tensor):
            raise TypeError(f"Expected torch.Tensor, got {type(embeddings)}")
        single = embeddings.ndim == 1
        if single:
            embeddings = embeddings.unsqueeze(0)
        elif embeddings.ndim != 2:
            raise ValueError(f"Input tensor must be 1D or 2D, got {embeddings.ndim}D.")
        coo = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
        rows, tokens = coo.indices()
        values = coo.values()
        counts = torch.bincount(rows, minlength=coo.shape[0]).tolist()
        results: list[list[tuple[str, float]]] = []
        start = 0
        for count in counts:
            row_values, row_tokens = values[start : start + count], tokens[start : start + count]
            start += count
            k = count if top_k is None else min(top_k, count)
            if k < count:
                row_values, idx = torch.topk(row_values, k)
            else:
                idx = torch.argsort(row_values, descending=True)
                row_values = row_values[idx]
            names = self.tokenizer.convert_ids_to_tokens(row_tokens[idx].tolist())
            results.append(list(zip(names, row_values.tolist())))
        return results[0] if single else results

    # ------------------------------------------------------------------ saving
    def _model_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "model_type": self.model_type,
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }
        if self._max_active_dims is not None:  # a CSR model's default (its autoencoder's k) is not frozen in
            config["max_active_dims"] = self._max_active_dims
        return config
