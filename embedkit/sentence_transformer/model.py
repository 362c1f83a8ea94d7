"""SentenceTransformer: a sequence of pipeline modules that maps texts to dense embeddings.

Drop-in for ``sentence_transformers.SentenceTransformer``: the same constructor, ``encode`` arguments and outputs,
prompts, similarity functions and folder format. ``encode`` sorts inputs by length, runs batches under
``torch.inference_mode`` and restores the input order.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from embedkit.base.model_card import training_card_section
from embedkit.base.modules.transformer import tokens_to_device
from embedkit.eval_mode import ensure_eval
from embedkit.hub import resolve_model_path
from embedkit.model_folder import load_modules, read_model_config, save_model_folder
from embedkit.sentence_transformer.modules import Pooling, Transformer

logger = logging.getLogger(__name__)

SUPPORTED_SIMILARITY_FN_NAMES = ("cosine", "dot", "euclidean", "manhattan")
PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")


def default_device() -> str:
    """cuda (on this process's LOCAL_RANK) > mps > cpu, as sentence-transformers picks."""
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if "LOCAL_RANK" in os.environ else "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def refuse_remote_code(trust_remote_code: bool) -> None:
    if trust_remote_code:
        raise ValueError(
            "trust_remote_code=True is not supported: embedkit never executes code from a model folder. "
            "Load a model built from the supported modules instead."
        )


def _input_length(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, (tuple, list)):
        return sum(len(x) if isinstance(x, str) else 0 for x in item)
    return 0


class SentenceTransformer(nn.Sequential):
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
        cache_folder / revision / token / local_files_only: Hub options.
        trust_remote_code: must stay False; embedkit never runs code from a model folder.
        model_kwargs: ``{"torch_dtype": ...}`` (or ``"dtype"``) to load in another precision.
        tokenizer_kwargs / processor_kwargs: ``{"model_max_length": N}``.
        backend: only ``"torch"``.

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

    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        modules: Iterable[nn.Module] | None = None,
        device: str | torch.device | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        truncate_dim: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        backend: Literal["torch"] = "torch",
    ) -> None:
        refuse_remote_code(trust_remote_code)
        if backend != "torch":
            raise ValueError(f"backend={backend!r} is not supported; embedkit runs the 'torch' backend only")
        hub_kwargs = dict(cache_folder=cache_folder, revision=revision, token=token, local_files_only=local_files_only)
        saved_config: dict[str, Any] = {}
        module_kwargs: dict[str, list[str]] = {}
        if modules is not None:
            named = [(str(i), m) for i, m in enumerate(modules)]
        elif model_name_or_path is not None:
            folder = resolve_model_path(model_name_or_path, **hub_kwargs)
            if (folder / "modules.json").is_file():
                named, module_kwargs = load_modules(folder, **hub_kwargs)
                saved_config = read_model_config(folder)
            else:  # a plain Hugging Face checkpoint
                transformer = Transformer(folder, **hub_kwargs)
                named = [("0", transformer), ("1", Pooling(transformer.get_embedding_dimension(), "mean"))]
        else:
            named = []
        super().__init__(OrderedDict(named))
        self.module_kwargs = module_kwargs
        saved_type = saved_config.get("model_type", "SentenceTransformer")
        if saved_type != "SentenceTransformer":
            raise ValueError(f"{model_name_or_path} holds a {saved_type}, not a SentenceTransformer")

        self.prompts = {"query": "", "document": ""}
        self.prompts.update(saved_config.get("prompts") or {})
        self.prompts.update(prompts or {})
        self.default_prompt_name = default_prompt_name or saved_config.get("default_prompt_name")
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            raise ValueError(
                f"default_prompt_name {self.default_prompt_name!r} is not among the prompts {sorted(self.prompts)}"
            )
        self._similarity_fn_name: str | None = None
        name = similarity_fn_name or saved_config.get("similarity_fn_name")
        if name is not None:
            self.similarity_fn_name = name
        self.truncate_dim = truncate_dim if truncate_dim is not None else saved_config.get("truncate_dim")

        max_length = (processor_kwargs or tokenizer_kwargs or {}).get("model_max_length")
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
        self.to(device if device is not None else default_device())

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    def tokenizer(self) -> Any:
        return self[0].tokenizer

    @property
    def max_seq_length(self) -> int:
        return self[0].max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self[0].max_seq_length = value

    @property
    def similarity_fn_name(self) -> str:
        if self._similarity_fn_name is None:
            self._similarity_fn_name = "cosine"
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str | Any) -> None:
        value = getattr(value, "value", value)
        if value not in SUPPORTED_SIMILARITY_FN_NAMES:
            raise ValueError(f"similarity_fn_name must be one of {SUPPORTED_SIMILARITY_FN_NAMES}, got {value!r}")
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
        for module in reversed(list(self)):
            for name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
                method = getattr(module, name, None)
                if callable(method):
                    dim = method()
                    if dim is not None:
                        return min(dim, self.truncate_dim) if self.truncate_dim else dim
        return None

    get_sentence_embedding_dimension = get_embedding_dimension

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

    truncate_sentence_embeddings = truncate_embeddings

    # ------------------------------------------------------------------ forward / tokenize
    def get_model_kwargs(self) -> list[str]:
        names = set()
        for module in self:
            names |= set(getattr(module, "forward_kwargs", ()))
        for kwargs in self.module_kwargs.values():
            names |= set(kwargs)
        return sorted(names)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for name, module in self._modules.items():
            module_kwargs = {}
            if kwargs:  # only the keyword arguments each module takes
                wanted = set(getattr(module, "forward_kwargs", ())) | set(self.module_kwargs.get(name, ()))
                module_kwargs = {k: v for k, v in kwargs.items() if k in wanted}
            features = module(features, **module_kwargs)
        return features

    def preprocess(self, inputs: list[str] | list[tuple[str, str]], prompt: str | None = None, **kwargs: Any
                   ) -> dict[str, Any]:
        return self[0].preprocess(inputs, prompt=prompt, **kwargs)

    def tokenize(self, texts: list[str] | list[tuple[str, str]], **kwargs: Any) -> dict[str, Any]:
        return self.preprocess(texts, **kwargs)

    # ------------------------------------------------------------------ encode
    def _resolve_prompt(self, prompt: str | None, prompt_name: str | None) -> str | None:
        if prompt is not None:
            if prompt_name is not None:
                logger.warning("encode got both prompt and prompt_name; using prompt and ignoring prompt_name")
            return prompt
        name = prompt_name if prompt_name is not None else self.default_prompt_name
        if name is None:
            return None
        if name not in self.prompts:
            raise ValueError(f"prompt_name {name!r} not found; available prompts: {sorted(self.prompts)}")
        return self.prompts[name]

    def _encode_inputs(self, sentences: Any, kwargs: dict[str, Any]) -> tuple[list[Any], bool]:
        """(inputs as a list, whether one string was given); checks and trims ``kwargs`` in place.

        Raises:
            ValueError: a keyword argument no module uses.
        """
        unused = set(kwargs) - set(self.get_model_kwargs()) - {"task", "processing_kwargs"} if kwargs else None
        if unused:
            raise ValueError(f"encode() got keyword arguments this model does not use: {sorted(unused)}; "
                             f"valid: {self.get_model_kwargs()}")
        kwargs.pop("processing_kwargs", None)
        if isinstance(sentences, str):
            return [sentences], True
        if isinstance(sentences, np.ndarray):
            return sentences.tolist(), False
        return (sentences if isinstance(sentences, list) else list(sentences)), False

    def encode(
        self,
        sentences: str | list[str] | list[tuple[str, str]] | np.ndarray,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["sentence_embedding", "token_embeddings"] | None = "sentence_embedding",
        precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | torch.device | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> np.ndarray | Tensor | list[Tensor] | list[dict[str, Tensor]]:
        """Embed texts.

        Args:
            sentences: one text or a list of texts.
            prompt_name / prompt: a named prompt from ``prompts`` or a literal one, prepended to every text.
            batch_size: texts per forward pass (> 0).
            show_progress_bar: tqdm bar on stderr (default: when logging is at INFO or DEBUG).
            output_value: ``"sentence_embedding"``, ``"token_embeddings"`` (one tensor per text, padding cut),
                or None (one dict of every feature per text).
            precision: ``float32`` or a quantized form (int8, uint8, binary, ubinary), calibrated on this call.
            convert_to_numpy / convert_to_tensor: output type; with neither, a list of tensors.
            device: run on this device.
            normalize_embeddings: L2-normalise (after truncation).
            truncate_dim: keep the first dimensions (default: the model's ``truncate_dim``).

        Returns:
            (N, D) float32 array by default; (D,) for a single string; an empty array for an empty list.

        Raises:
            ValueError: ``batch_size <= 0``, an unknown precision or prompt name, or unknown keyword arguments.
            TypeError: an item is not a string (the message names its index and type).
        """
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        if convert_to_tensor:
            convert_to_numpy = False
        if output_value != "sentence_embedding":
            convert_to_tensor = convert_to_numpy = False
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        sentences, single = self._encode_inputs(sentences, kwargs)
        prompt = self._resolve_prompt(prompt, prompt_name)
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim

        if pool is not None or isinstance(device, (list, tuple)):
            from embedkit.multiprocess import run_on_pool_or_devices

            results = run_on_pool_or_devices(self, "encode", sentences, pool, device, chunk_size, dict(
                prompt=prompt, batch_size=batch_size, output_value=output_value,
                normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim, convert_to_numpy=False,
                convert_to_tensor=False, show_progress_bar=False, **kwargs))
        else:
            results = self._inference(sentences, prompt, batch_size, show_progress_bar, output_value,
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

    def start_multi_process_pool(self, target_devices: list[str] | None = None) -> dict[str, Any]:
        """Start worker processes (one per device; default all CUDA devices, else 4 CPU workers) for
        ``encode(..., pool=pool)``. Call it under ``if __name__ == "__main__":``.

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> model = SentenceTransformer(default_model_path(), device="cpu")
            >>> pool = model.start_multi_process_pool(["cpu", "cpu"])  # doctest: +SKIP
            >>> model.encode(["a", "b", "c"], pool=pool).shape  # doctest: +SKIP
            (3, 384)
            >>> SentenceTransformer.stop_multi_process_pool(pool)  # doctest: +SKIP
        """
        from embedkit.multiprocess import start_pool

        return start_pool(self, target_devices)

    @staticmethod
    def stop_multi_process_pool(pool: dict[str, Any]) -> None:
        from embedkit.multiprocess import stop_pool

        stop_pool(pool)

    def encode_query(self, sentences: str | list[str], prompt_name: str | None = None, prompt: str | None = None,
                     **kwargs: Any) -> np.ndarray | Tensor | list[Tensor]:
        """``encode`` with the ``query`` prompt (if the model has one) and ``task="query"``."""
        if prompt is None and prompt_name is None and "query" in self.prompts:
            prompt_name = "query"
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, task="query", **kwargs)

    def encode_document(self, sentences: str | list[str], prompt_name: str | None = None, prompt: str | None = None,
                        **kwargs: Any) -> np.ndarray | Tensor | list[Tensor]:
        """``encode`` with the ``document`` prompt (if the model has one) and ``task="document"``."""
        if prompt is None and prompt_name is None:
            for name in ("document", "passage", "corpus"):
                if name in self.prompts:
                    prompt_name = name
                    break
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, task="document", **kwargs)

    # ------------------------------------------------------------------ legacy training API
    def fit(
        self,
        train_objectives: list[tuple[Any, nn.Module]],
        evaluator: Any = None,
        epochs: int = 1,
        steps_per_epoch: int | None = None,
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
        checkpoint_path: str | None = None,
        checkpoint_save_steps: int = 500,
        checkpoint_save_total_limit: int = 0,
        resume_from_checkpoint: bool = False,
    ) -> None:
        """sentence-transformers' v2 training API, run by the same trainer loop.

        ``train_objectives`` pairs a DataLoader (or list) of :class:`~embedkit.data.InputExample` with a loss.
        """
        from embedkit.sentence_transformer.fit_mixin import fit

        fit(self, train_objectives, evaluator=evaluator, epochs=epochs, steps_per_epoch=steps_per_epoch,
            scheduler=scheduler, warmup_steps=warmup_steps, optimizer_class=optimizer_class,
            optimizer_params=optimizer_params, weight_decay=weight_decay, evaluation_steps=evaluation_steps,
            output_path=output_path, save_best_model=save_best_model, max_grad_norm=max_grad_norm, use_amp=use_amp,
            callback=callback, show_progress_bar=show_progress_bar, checkpoint_path=checkpoint_path,
            checkpoint_save_steps=checkpoint_save_steps, checkpoint_save_total_limit=checkpoint_save_total_limit,
            resume_from_checkpoint=resume_from_checkpoint)

    def evaluate(self, evaluator: Any, output_path: str | None = None) -> dict[str, float]:
        """Run ``evaluator`` on this model."""
        return evaluator(self, output_path=output_path)

    # ------------------------------------------------------------------ saving
    def _model_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "model_type": "SentenceTransformer",
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self._similarity_fn_name or "cosine",
        }
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config

    def quantize(self, dtype: str = "int8", calibration_texts: list[str] | None = None, alpha: float = 0.7) -> Any:
        """Opt-in int8 inference on CPU (SmoothQuant + dynamic int8 Linear layers), in place; returns the model.

        See :mod:`embedkit.quantization_int8`. The model can no longer be trained or saved.

        Example:
            >>> from embedkit.default_model import default_model_path
            >>> model = SentenceTransformer(default_model_path(), device="cpu").quantize("int8")
            >>> model.encode(["hello"]).shape
            (1, 384)
        """
        if dtype != "int8":
            raise ValueError(f"quantize supports 'int8' only, got {dtype!r}")
        from embedkit.quantization_int8 import quantize_int8

        return quantize_int8(self, calibration_texts, alpha)

    def save(self, path: str | os.PathLike, model_name: str | None = None, create_model_card: bool = True,
             train_datasets: list[str] | None = None, safe_serialization: bool = True) -> None:
        """Write the model as a sentence-transformers folder (atomically: temporary folder, then rename)."""
        if getattr(self, "quantized", None):
            raise ValueError("a quantized model cannot be saved; save the fp32 model and quantize after loading")
        write_card = (lambda folder: (folder / "README.md").write_text(self._model_card(model_name or Path(path).name),
                                                                        encoding="utf-8")) if create_model_card else None
        save_model_folder(path, list(self.named_children()), self._model_config(), self.module_kwargs,
                          write_extra=write_card, safe_serialization=safe_serialization)

    save_pretrained = save

    def _model_card(self, name: str) -> str:
        modules = "\n".join(f"  ({n}): {type(m).__name__}" for n, m in self.named_children())
        return (
            f"---\nlibrary_name: sentence-transformers\ntags:\n- sentence-transformers\n- embedkit\n"
            f"pipeline_tag: sentence-similarity\n---\n\n# {name}\n\n"
            f"A sentence embedding model saved by embedkit. It maps text to a {self.get_embedding_dimension()}-"
            f"dimensional vector (max {self.max_seq_length} tokens, {self.similarity_fn_name} similarity).\n\n"
            f"```\nSentenceTransformer(\n{modules}\n)\n```\n\n"
            "## Usage\n\n```python\nfrom embedkit import SentenceTransformer  # or: from sentence_transformers import ...\n"
            f"model = SentenceTransformer({name!r})\nembeddings = model.encode([\"first text\", \"second text\"])\n"
            "similarities = model.similarity(embeddings, embeddings)\n```\n"
            + training_card_section(getattr(self, "training_summary", None))
        )
