"""SparseEncoder: texts -> sparse vocabulary-sized vectors (SPLADE, inference-free SPLADE).

Drop-in for ``sentence_transformers.SparseEncoder`` (6.x API): the constructor, ``encode``/``encode_query``/
``encode_document`` (sparse COO tensors by default), ``decode``, ``intersection``, ``sparsity``, similarity ``dot``
by default, ``max_active_dims``, and the folder format (``config_sentence_transformers.json`` with
``model_type: "SparseEncoder"``). Loading, prompts, dtype/device handling and saving are SentenceTransformer's.

Supported pipelines: MLMTransformer (fill-mask) + SpladePooling, SparseStaticEmbedding, Router models built from
them, and CSR models (a dense pipeline + SparseAutoEncoder). As in ST, a plain non-MLM checkpoint becomes
Transformer + mean Pooling + SparseAutoEncoder(4·D latents, k=256), and a SentenceTransformer folder keeps its
modules and gains SparseAutoEncoder(4·D latents, k=D/4); ``max_active_dims`` then defaults to the autoencoder's k.
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
from embedkit.hub import resolve_model_path
from embedkit.model_folder import load_modules, read_model_config
from embedkit.sentence_transformer.model import (
    SUPPORTED_SIMILARITY_FN_NAMES,
    SentenceTransformer,
    _input_length,
    refuse_remote_code,
)
from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer
from embedkit.sparse_encoder.modules.splade_pooling import SpladePooling
from embedkit.util.tensor import check_max_active_dims as _check_max_active_dims
from embedkit.util.tensor import select_max_active_dims

logger = logging.getLogger(__name__)

MODEL_TYPE = "SparseEncoder"


class SparseEncoder(SentenceTransformer):
    """Texts -> sparse (vocabulary-sized) embeddings, scored with a dot product.

    Args:
        model_name_or_path: a local folder, a Hub id (short names get the ``sparse-encoder/`` prefix), or None
            together with ``modules``. A plain HF ``*ForMaskedLM`` checkpoint gets MLMTransformer +
            SpladePooling("max", "relu").
        modules: build from these modules instead of loading.
        device: ``"cpu"``, ``"cuda"``, ... (default: the best available).
        prompts / default_prompt_name: as for SentenceTransformer (saved ones are used unless overridden).
        similarity_fn_name: ``dot`` (default), ``cosine``, ``euclidean`` or ``manhattan``.
        max_active_dims: keep at most this many non-zero values per embedding (default: the saved value).
        cache_folder / revision / token / local_files_only: Hub options.
        trust_remote_code: must stay False; embedkit never runs code from a model folder.
        model_kwargs: ``{"torch_dtype": ...}`` (or ``"dtype"``) to load in another precision.
        processor_kwargs / tokenizer_kwargs: ``{"model_max_length": N}``.

    Example:
        >>> from pathlib import Path
        >>> import embedkit
        >>> folder = Path(embedkit.__file__).parent.parent / "tests" / "fixtures" / "se_bert_v6"
        >>> model = SparseEncoder(folder, device="cpu")
        >>> emb = model.encode(["The weather is nice", "It is sunny outside"])
        >>> emb.is_sparse, tuple(emb.shape)
        (True, (2, 1505))
        >>> model.similarity(emb, emb).shape
        torch.Size([2, 2])
        >>> len(model.decode(emb[0], top_k=3))
        3
    """

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
        tokenizer_kwargs: dict[str, Any] | None = None,
        backend: Literal["torch"] = "torch",
        similarity_fn_name: str | None = None,
        max_active_dims: int | None = None,
    ) -> None:
        refuse_remote_code(trust_remote_code)
        _check_max_active_dims(max_active_dims)
        hub_kwargs = dict(cache_folder=cache_folder, revision=revision, token=token, local_files_only=local_files_only)
        saved: dict[str, Any] = {}
        module_kwargs: dict[str, list[str]] = {}
        if modules is not None:
            modules = list(modules)
        elif model_name_or_path is not None:
            folder = resolve_model_path(model_name_or_path, default_organization="sparse-encoder", **hub_kwargs)
            modules, module_kwargs, saved = _load_folder(folder, hub_kwargs)
        else:
            modules = []
        saved_similarity = saved.get("similarity_fn_name")
        if saved_similarity not in SUPPORTED_SIMILARITY_FN_NAMES:  # e.g. "maxsim" of a converted multi-vector model
            saved_similarity = None
        super().__init__(
            modules=modules,
            device=device,
            prompts={**(saved.get("prompts") or {}), **(prompts or {})},
            default_prompt_name=default_prompt_name or saved.get("default_prompt_name"),
            similarity_fn_name=similarity_fn_name or saved_similarity,
            model_kwargs=model_kwargs,
            processor_kwargs=processor_kwargs,
            tokenizer_kwargs=tokenizer_kwargs,
            backend=backend,
        )
        self.module_kwargs = module_kwargs
        self.max_active_dims = max_active_dims if max_active_dims is not None else saved.get("max_active_dims")
        autoencoder = next((m for m in self if type(m).__name__ == "SparseAutoEncoder"), None)
        if self.max_active_dims is None and autoencoder is not None:
            self.max_active_dims = autoencoder.k
        _check_max_active_dims(self.max_active_dims)
        # A SpladePooling saved before its first forward pass has no dimension yet: it is the MLM vocabulary size.
        children = list(self)
        for previous, module in zip(children, children[1:]):
            if isinstance(module, SpladePooling) and module.embedding_dimension is None:
                module.embedding_dimension = getattr(previous, "vocab_size", None)

    # ------------------------------------------------------------------ properties
    @property
    def similarity_fn_name(self) -> str:
        if self._similarity_fn_name is None:
            self._similarity_fn_name = "dot"
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str | Any) -> None:
        SentenceTransformer.similarity_fn_name.fset(self, value)

    def get_embedding_dimension(self) -> int | None:
        """Output size (the vocabulary size for SPLADE), found by asking the modules from last to first."""
        for module in reversed(list(self)):
            for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
                method = getattr(module, name, None)
                if callable(method):
                    dim = method()
                    if dim is not None:
                        return dim
        return None

    get_sentence_embedding_dimension = get_embedding_dimension

    def _splade_pooling(self) -> SpladePooling | None:
        return next((m for m in self if isinstance(m, SpladePooling)), None)

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
    def encode(
        self,
        inputs: str | list[str] | np.ndarray,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | torch.device | None = None,
        max_active_dims: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> Tensor | list[Tensor]:
        """Embed texts as sparse vectors.

        Args:
            inputs: one text or a list of texts.
            prompt_name / prompt: a named prompt from ``prompts`` or a literal one, prepended to every text.
            batch_size: texts per forward pass (> 0).
            show_progress_bar: tqdm bar (default: when logging is at INFO or DEBUG).
            convert_to_tensor: stack into one (N, V) tensor; False gives a list of (V,) tensors.
            convert_to_sparse_tensor: sparse COO tensors (default) rather than dense ones.
            save_to_cpu: move each batch's result to the CPU.
            device: run on this device.
            max_active_dims: keep at most this many non-zero values per vector (default: the model's).
            **kwargs: ``task`` (Router route) and keyword arguments declared by the modules.

        Returns:
            (N, V) sparse COO tensor by default; (V,) for a single string; an empty tensor for an empty list.

        Raises:
            ValueError: ``batch_size <= 0``, a bad ``max_active_dims`` or prompt name, multi-process arguments, or
                keyword arguments no module uses.
            TypeError: an item is not a string (the message names its index and type).
        """
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        multi_process = pool is not None or isinstance(device, (list, tuple))
        inputs, single = self._encode_inputs(inputs, kwargs)
        prompt = self._resolve_prompt(prompt, prompt_name)
        max_active_dims = max_active_dims if max_active_dims is not None else self.max_active_dims
        _check_max_active_dims(max_active_dims)

        if multi_process:
            from embedkit.multiprocess import run_on_pool_or_devices

            restored = run_on_pool_or_devices(self, "encode", inputs, pool, device, chunk_size, dict(
                prompt=prompt, batch_size=batch_size, convert_to_sparse_tensor=convert_to_sparse_tensor,
                max_active_dims=max_active_dims, convert_to_tensor=False, save_to_cpu=True, show_progress_bar=False,
                **kwargs))
            return self._stack(restored, single, convert_to_tensor, convert_to_sparse_tensor, save_to_cpu)
        if device is not None:
            self.to(device)
        ensure_eval(self)
        order = np.argsort([-_input_length(s) for s in inputs], kind="stable")
        ordered = [inputs[i] for i in order]
        batches = range(0, len(ordered), batch_size)
        if show_progress_bar:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="Batches")
        forward_kwargs = dict(kwargs)
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
        return self._stack(restored, single, convert_to_tensor, convert_to_sparse_tensor, save_to_cpu)

    def _stack(self, rows: list[Tensor], single: bool, convert_to_tensor: bool, convert_to_sparse_tensor: bool,
               save_to_cpu: bool) -> Tensor | list[Tensor]:
        if not convert_to_tensor:
            out: Any = rows
        elif rows:
            out = torch.stack(rows)
        else:
            out = torch.tensor([], device="cpu" if save_to_cpu else self.device)
            if convert_to_sparse_tensor:
                out = out.to_sparse()
        return out[0] if single else out

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
            "model_type": MODEL_TYPE,
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config

    def _model_card(self, name: str) -> str:
        modules = "\n".join(f"  ({n}): {type(m).__name__}" for n, m in self.named_children())
        return (
            f"---\nlibrary_name: sentence-transformers\ntags:\n- sentence-transformers\n- sparse-encoder\n"
            f"- embedkit\npipeline_tag: feature-extraction\n---\n\n# {name}\n\n"
            f"A sparse encoder saved by embedkit. It maps text to a {self.get_embedding_dimension()}-dimensional "
            f"sparse vector (max {self.max_seq_length} tokens, {self.similarity_fn_name} similarity).\n\n"
            f"```\nSparseEncoder(\n{modules}\n)\n```\n\n"
            "## Usage\n\n```python\nfrom embedkit import SparseEncoder  # or: from sentence_transformers import ...\n"
            f"model = SparseEncoder({name!r})\nembeddings = model.encode([\"first text\", \"second text\"])\n"
            "similarities = model.similarity(embeddings, embeddings)\n"
            "print(model.decode(embeddings[0], top_k=10))\n```\n"
        )


def _load_folder(folder: Path, hub_kwargs: dict[str, Any]
                 ) -> tuple[list[nn.Module], dict[str, list[str]], dict[str, Any]]:
    """(modules, per-module forward kwargs by index name, saved model config) of a model folder."""
    from embedkit.sentence_transformer.modules import Pooling, Transformer
    from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder

    if not (folder / "modules.json").is_file():  # a plain Hugging Face checkpoint
        config_path = folder / "config.json"
        architectures = (read_json_file(config_path) if config_path.is_file() else {}).get("architectures") or []
        if any(str(a).endswith("ForMaskedLM") for a in architectures):
            return [MLMTransformer(folder, **hub_kwargs), SpladePooling("max", "relu")], {}, {}
        transformer = Transformer(folder, **hub_kwargs)
        dim = transformer.get_embedding_dimension()
        logger.warning("%s is not a masked-LM checkpoint: building a CSR model (mean pooling + a new "
                       "SparseAutoEncoder) that needs training", folder)
        autoencoder = SparseAutoEncoder(dim, hidden_dim=4 * dim, k=256, k_aux=512)
        return [transformer, Pooling(dim, "mean"), autoencoder], {}, {}
    saved = read_model_config(folder)
    saved_type = saved.get("model_type", "SentenceTransformer")
    if saved_type not in (MODEL_TYPE, "SentenceTransformer"):
        raise ValueError(f"{folder} holds a {saved_type}, not a SparseEncoder or a SentenceTransformer")
    named, kwargs_by_name = load_modules(folder, **hub_kwargs)
    module_kwargs = {str(i): kwargs_by_name[name] for i, (name, _) in enumerate(named) if name in kwargs_by_name}
    modules = [module for _, module in named]
    if saved_type == "SentenceTransformer":  # a dense model: add a SparseAutoEncoder on top, as ST does
        dim = SentenceTransformer(modules=modules, device="cpu").get_embedding_dimension()
        if dim is None:
            raise ValueError(f"{folder}: cannot tell the embedding dimension to build a SparseAutoEncoder on")
        logger.warning("%s is a SentenceTransformer: adding a new SparseAutoEncoder (CSR) that needs training", folder)
        modules.append(SparseAutoEncoder(dim, hidden_dim=4 * dim, k=dim // 4, k_aux=2 * (dim // 4)))
        saved = {k: v for k, v in saved.items() if k in ("prompts", "default_prompt_name")}
    return modules, module_kwargs, saved
