"""``BaseModel``: what SentenceTransformer, SparseEncoder and CrossEncoder share (sentence-transformers 6.x
``base.model``).

In embedkit the three model classes keep their own loading, forward and saving; :class:`BaseModel` is a small
mixin listed first among their bases that supplies what is the same for all three: the supported modalities and
:meth:`~BaseModel.supports`, prompt resolution, :meth:`~BaseModel.optimize_for_inference`,
:meth:`~BaseModel.quantize`, the multi-process pool, :meth:`~BaseModel.evaluate`, :meth:`~BaseModel.push_to_hub` and
the model card hook (``_create_model_card``). It also makes ``isinstance(model, BaseModel)`` hold for all three, as
in sentence-transformers.

Example:
    >>> from embedkit.base.model import BaseModel
    >>> class Toy(BaseModel):
    ...     modalities = ["text", "image", "message"]
    >>> Toy().supports("text"), Toy().supports(("image", "text")), Toy().supports("audio")
    (True, True, False)
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from embedkit.base.modality import infer_batch_modality, infer_modality, raise_unsupported_modality_error
from embedkit.base.peft_mixin import PeftAdapterMixin
from embedkit.util.logging import warning_once

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = ["BaseModel", "infer_batch_modality", "infer_modality"]


def announce_default_prompt(name: str | None) -> None:
    """Log once per process, as sentence-transformers 6.x does, that a default prompt applies to every call."""
    if name:
        warning_once(logger, f"Default prompt name is set to '{name}'. This prompt applies unless overridden by "
                             "`prompt`, `prompt_name`, or a method-specific prompt, including an empty prompt.")


class BaseModel(PeftAdapterMixin):
    """Mixin shared by embedkit's model classes (see the module docstring).

    Example:
        >>> from embedkit import SentenceTransformer, CrossEncoder, SparseEncoder
        >>> all(issubclass(cls, BaseModel) for cls in (SentenceTransformer, CrossEncoder, SparseEncoder))
        True
    """

    @property
    def modalities(self) -> list[Any]:
        """The input modalities the model accepts: those its first module declares, else ``["text"]``."""
        first = None
        children = getattr(self, "children", None)
        if callable(children):
            first = next(iter(children()), None)
        declared = getattr(first, "modalities", None)
        return list(declared) if declared else ["text"]

    def supports(self, modality: Any) -> bool:
        """Whether ``modality`` (e.g. ``"text"`` or a tuple such as ``("image", "text")``) is accepted: it is listed
        in :attr:`modalities`, or it is a tuple whose parts are all listed and the model takes ``"message"`` inputs
        (the format that combines modalities in one input)."""
        supported = self.modalities
        if modality in supported:
            return True
        if isinstance(modality, tuple) and "message" in supported:
            return all(part in supported for part in modality)
        return False

    def check_input_modality(self, inputs: Any) -> None:
        """Raise sentence-transformers' ValueError (``Modality 'image' is not supported by this SentenceTransformer
        model. Supported modalities: text.``) when the batch's modality is one the model does not take.

        A batch whose modality cannot be told (an unknown input type) passes: the first module then names the bad
        input.

        Example:
            >>> from embedkit import SentenceTransformer
            >>> SentenceTransformer().check_input_modality(["a text", ("a", "pair")])
        """
        if not len(inputs):
            return
        try:
            modality = infer_batch_modality(inputs, supported_modalities=self.modalities)
        except (ValueError, TypeError):
            return
        if not self.supports(modality):
            raise_unsupported_modality_error(inputs, modality, self.modalities, f"{type(self).__name__} model")

    optimized_for_inference: bool = False
    """True once :meth:`optimize_for_inference` prepared the encoder layers' weights."""

    def optimize_for_inference(self) -> Any:
        """Make the model inference-only and faster for small calls (single queries); returns the model.

        Every encoder layer the engine computes (BERT, RoBERTa / XLM-R, DistilBERT, ELECTRA, MPNet) gets its weights
        reordered into oneDNN's layout once, with the query, key and value projections stacked (see
        :mod:`embedkit.encoders.engine.frozen`). The prepared weights replace the originals, so memory does not grow.
        Without this call the model already runs the inference engine, which reads the weights live; use it for a model
        that will only serve queries from now on (a server, a search index), not for one you still train, edit or move.
        Afterwards ``train()``, ``load_state_dict`` and moving to another device or dtype raise; ``save`` writes the
        weights in the standard layout. Where oneDNN is unavailable (non-x86 CPUs, CUDA, other dtypes) the model stays
        as it is and one log line says so.

        Example:
            >>> from embedkit import SentenceTransformer
            >>> from embedkit.default_model import default_model_path
            >>> model = SentenceTransformer(default_model_path(), device="cpu").optimize_for_inference()
            >>> model.encode("hello world").shape
            (384,)
        """
        from embedkit.encoders.engine import optimize_for_inference

        self.eval()
        if optimize_for_inference(self):
            self.requires_grad_(False)
            self.optimized_for_inference = True
        return self

    def quantize(self, dtype: str = "int8", calibration_texts: list[str] | None = None, alpha: float = 0.7) -> Any:
        """Opt-in int8 inference on CPU (SmoothQuant + dynamic int8 Linear layers), in place; returns the model.

        See :mod:`embedkit.quantization_int8`. The model can no longer be trained or saved.

        Example:
            >>> from embedkit import CrossEncoder, SentenceTransformer
            >>> from embedkit.default_model import default_model_path
            >>> SentenceTransformer(default_model_path(), device="cpu").quantize("int8").encode(["hello"]).shape
            (1, 384)
            >>> CrossEncoder(default_model_path(), device="cpu").quantize("int8").predict([("a", "b")]).shape
            (1,)
        """
        if dtype != "int8":
            raise ValueError(f"quantize supports 'int8' only, got {dtype!r}")
        from embedkit.quantization_int8 import quantize_int8

        return quantize_int8(self, calibration_texts, alpha)

    def start_multi_process_pool(self, target_devices: list[str] | None = None) -> dict[str, Any]:
        """Start worker processes (one per device; default all CUDA devices, else 4 CPU workers) for
        ``encode(..., pool=pool)`` / ``predict(..., pool=pool)``. Call it under ``if __name__ == "__main__":``.

        Example:
            >>> from embedkit import SentenceTransformer
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
        """Stop the worker processes of a pool from :meth:`start_multi_process_pool`."""
        from embedkit.multiprocess import stop_pool

        stop_pool(pool)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict[str, Any] | None = None,
                                      **kwargs: Any) -> None:
        """Checkpoint the layers of every submodule that supports it (activation checkpointing: less training
        memory for about a third more compute, same results); ``gradient_checkpointing_kwargs`` go to
        ``torch.utils.checkpoint.checkpoint``, ``every_n_layers`` / ``offload`` to each encoder.

        Example:
            >>> from embedkit import SentenceTransformer
            >>> from embedkit.default_model import default_model_path
            >>> model = SentenceTransformer(default_model_path(), device="cpu")
            >>> model.gradient_checkpointing_enable()
            >>> model[0].auto_model.is_gradient_checkpointing
            True
        """
        for module in self.modules():
            if module is self or not hasattr(module, "gradient_checkpointing_enable"):
                continue
            if getattr(module, "supports_gradient_checkpointing", True) is False:
                warning_once(logger, f"{type(module).__name__} does not support gradient checkpointing, skipping it.")
                continue
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs, **kwargs)

    def gradient_checkpointing_disable(self) -> None:
        """Every submodule keeps its activations again (undoes :meth:`gradient_checkpointing_enable`)."""
        for module in self.modules():
            if module is not self and hasattr(module, "gradient_checkpointing_disable"):
                module.gradient_checkpointing_disable()

    def evaluate(self, evaluator: Any, output_path: str | None = None) -> dict[str, float]:
        """Run ``evaluator`` on this model (``output_path`` is created first when given).

        Example:
            >>> from embedkit import SentenceTransformer
            >>> from embedkit.default_model import default_model_path
            >>> from embedkit.evaluation import EmbeddingSimilarityEvaluator
            >>> model = SentenceTransformer(default_model_path(), device="cpu")
            >>> evaluator = EmbeddingSimilarityEvaluator(
            ...     ["a cat", "a dog", "a car"], ["a kitten", "a puppy", "a truck"], [0.9, 0.8, 0.7], name="toy")
            >>> sorted(model.evaluate(evaluator))[:1]
            ['toy_pearson_cosine']
        """
        if output_path is not None:
            os.makedirs(output_path, exist_ok=True)
        return evaluator(self, output_path=output_path)

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
    ) -> str:
        """Upload the model (or ``local_model_path``) to a Hugging Face Hub repository, creating it if needed.

        Returns the commit URL, or the pull request URL with ``create_pr=True``. See
        :func:`embedkit.hub.push_folder_to_hub`.
        """
        from embedkit.hub import push_folder_to_hub

        return push_folder_to_hub(self, repo_id, token=token, private=private, safe_serialization=safe_serialization,
                                  commit_message=commit_message, local_model_path=local_model_path,
                                  exist_ok=exist_ok, replace_model_card=replace_model_card,
                                  train_datasets=train_datasets, revision=revision, create_pr=create_pr)

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype of the first parameter (None for a model without parameters)."""
        for tensor in self.parameters():  # type: ignore[attr-defined]
            return tensor.dtype
        return None

    def get_max_seq_length(self) -> int | None:
        """Same as the ``max_seq_length`` property (kept for sentence-transformers compatibility)."""
        return self.max_seq_length  # type: ignore[attr-defined]

    def get_backend(self) -> str:
        """The inference backend: always ``"torch"`` in embedkit."""
        return getattr(self, "backend", "torch")

    def _post_init(self) -> None:
        """The last step of construction: every top-level module's ``on_model_ready(model)`` hook runs (a Router
        passes it on to its routed modules). Model types that add or fix modules override this and call it last."""
        for module in self._top_level_modules():
            hook = getattr(module, "on_model_ready", None)
            if callable(hook):
                hook(self)

    def _top_level_modules(self) -> list[Any]:
        return list(getattr(self, "_modules", {}).values())

    # What the "test this pull request" snippet of a create_pr=True upload runs, and the page it links to.
    _pr_check_lines: tuple[str, ...] = (
        'embeddings = model.encode(["The weather is lovely today.", "It\'s so sunny outside!", '
        '"He drove to the stadium."])',
        "print(embeddings.shape)",
        "",
        "similarities = model.similarity(embeddings, embeddings)",
        "print(similarities)",
    )
    _push_to_hub_docs: str = ("sentence_transformer/SentenceTransformer.html"
                              "#sentence_transformers.SentenceTransformer.push_to_hub")

    def _push_to_hub_usage_tip(self, repo_id: str) -> str:
        """The "test this pull request" section of a ``create_pr=True`` upload's description, worded as
        sentence-transformers words it: load the PR revision and run :attr:`_pr_check_lines`."""
        name = type(self).__name__
        lines = [
            "## Testing this pull request",
            "You can test this pull request before merging by loading the model from this PR with the `revision` "
            "argument:",
            "```python",
            f"from sentence_transformers import {name}",
            "",
            "# NOTE: Update this to the number of your pull request",
            "pr_number = 2",
            f"model = {name}(",
            f'    "{repo_id}",',
            '    revision=f"refs/pr/{pr_number}",',
            f'    backend="{self.get_backend()}",',
            ")",
            "",
            "# Verify that everything works as expected",
            *self._pr_check_lines,
            "```",
            "",
            "---",
            f"*This PR was auto-generated with [`push_to_hub`](https://sbert.net/docs/package_reference/"
            f"{self._push_to_hub_docs}).*",
        ]
        return "\n".join(lines) + "\n"

    # The model classes list BaseModel before nn.Module, so these two run first and refuse before any submodule
    # changes: a refused train() or move leaves the model as it was.
    def train(self, mode: bool = True) -> Any:
        """``nn.Module.train``; raises for a model optimized for inference (see :meth:`optimize_for_inference`)."""
        if mode and self.optimized_for_inference:
            from embedkit.encoders.engine.frozen import FROZEN_MESSAGE

            raise RuntimeError(FROZEN_MESSAGE.format(what="trained", why="train it"))
        return super().train(mode)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        if self.optimized_for_inference:  # .to() / .half() / .cuda() that would change a dtype or device
            from embedkit.encoders.engine.frozen import refuse_move

            refuse_move(fn)
        return super()._apply(fn, recurse)

    def _resolve_prompt(self, prompt: str | None, prompt_name: str | None) -> str | None:
        """The prompt text for one call: ``prompt``, else the text of ``prompt_name``, else the default prompt's.

        Raises:
            ValueError: ``prompt_name`` is not one of ``self.prompts``.
        """
        if prompt is not None:
            if prompt_name is not None:
                logger.warning("Provide either a `prompt`, a `prompt_name`, or neither, but not both. Ignoring the "
                               "`prompt_name` in favor of `prompt`.")
            return prompt
        if prompt_name is not None:
            if prompt_name not in self.prompts:
                raise ValueError(f"Prompt name '{prompt_name}' not found in the configured prompts dictionary with "
                                 f"keys {list(self.prompts.keys())!r}.")
            return self.prompts[prompt_name]
        if self.default_prompt_name is not None:
            return self.prompts.get(self.default_prompt_name)
        return None

    def _can_flatten_inputs(self) -> bool:
        """Whether the input module takes flattened text-only batches: a Transformer's ``can_flatten_inputs``, or
        for a Router, every route starting with such a Transformer."""
        children = list(self.children()) if callable(getattr(self, "children", None)) else []
        first = children[0] if children else None
        if first is None:
            return False
        if type(first).__name__ == "Router":
            routes = getattr(first, "sub_modules", None) or {}
            for route in routes.values():
                head = next(iter(route.children()), None) if hasattr(route, "children") else route
                if head is None or not getattr(head, "can_flatten_inputs", False):
                    return False
            return bool(routes)
        return bool(getattr(first, "can_flatten_inputs", False)) if _is_transformer(first) else False

    def _load_module_class_from_ref(self, class_ref: str, model_name_or_path: str | None = None,
                                    trust_remote_code: bool = False, revision: str | None = None,
                                    model_kwargs: dict[str, Any] | None = None, token: bool | str | None = None,
                                    cache_folder: str | None = None, local_files_only: bool = False) -> type:
        """The module class a ``modules.json`` entry names.

        ``sentence_transformers.*`` (and ``embedkit.*``) references resolve to embedkit's classes. Any other
        reference is refused unless ``trust_remote_code=True``; even then embedkit only imports the class from an
        installed package and never downloads or runs code from the model repository (``code_revision`` in
        ``model_kwargs`` is consumed and has no effect). ``revision``, ``token``, ``cache_folder`` and
        ``local_files_only`` are accepted for signature compatibility.

        Raises:
            ValueError: an untrusted reference, or one that names no class.
        """
        import importlib

        from embedkit.module_types import MODULE_TYPES

        if model_kwargs:
            model_kwargs.pop("code_revision", None)
        if class_ref in MODULE_TYPES:
            return MODULE_TYPES[class_ref]
        library = class_ref.startswith(("sentence_transformers.", "embedkit."))
        if not library and not trust_remote_code:
            raise ValueError(
                f"{model_name_or_path}: the module class {class_ref!r} is not part of sentence-transformers; loading "
                "it requires `trust_remote_code=True` (embedkit then imports it only from installed packages)."
            )
        target = "embedkit." + class_ref[len("sentence_transformers."):] if class_ref.startswith(
            "sentence_transformers.") else class_ref
        module_path, _, name = target.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_path), name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"{model_name_or_path}: cannot import the module class {class_ref!r}: {exc}") from exc
        if not isinstance(cls, type):
            raise ValueError(f"{model_name_or_path}: {class_ref!r} is not a class")
        return cls

    def _create_model_card(self, path: str | os.PathLike, model_name: str | None = None,
                           train_datasets: Any = "deprecated") -> None:
        """Write README.md into ``path`` from ``self.model_card_data`` (``train_datasets`` is ignored, as in
        sentence-transformers)."""
        from embedkit.base.model_card import write_model_card

        write_model_card(self, path, model_name)


def _is_transformer(module: Any) -> bool:
    from embedkit.base.modules.transformer import Transformer

    return isinstance(module, Transformer)
