"""SentenceTransformer's former API, kept so that sentence-transformers 2.x-5.x code runs unchanged.

:class:`LegacyAPI` is mixed into :class:`~embedkit.sentence_transformer.model.SentenceTransformer`: ``load``
(``SentenceTransformer(path)``), ``encode_multi_process`` (``encode(..., pool=pool)``),
``get_sentence_embedding_dimension`` / ``truncate_sentence_embeddings`` (renamed in 6.x, with its FutureWarning), the
v2 ``fit`` (run by the same trainer loop, imported when called) and ``save_to_hub`` (``push_to_hub``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from embedkit.util.decorators import save_to_hub_args_decorator

if TYPE_CHECKING:
    from embedkit.sentence_transformer.model import SentenceTransformer

__all__ = ["LegacyAPI"]

base_logger = logging.getLogger("embedkit.base.model")  # where sentence-transformers logs its deprecations


class LegacyAPI:
    """The former spellings of SentenceTransformer's methods.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> SentenceTransformer.load(default_model_path()).encode(["hi"]).shape
        (1, 384)
    """

    @staticmethod
    def load(input_path: str | os.PathLike) -> SentenceTransformer:
        """Deprecated spelling of ``SentenceTransformer(input_path)``."""
        from embedkit.sentence_transformer.model import SentenceTransformer

        return SentenceTransformer(input_path)


    def encode_multi_process(self, sentences: list[str], pool: dict[str, Any], prompt_name: str | None = None,
                             prompt: str | None = None, batch_size: int = 32, chunk_size: int | None = None,
                             show_progress_bar: bool | None = None, precision: str = "float32",
                             normalize_embeddings: bool = False, truncate_dim: int | None = None) -> np.ndarray:
        """Former spelling of ``encode(sentences, pool=pool, ...)``."""
        return self.encode(sentences, prompt_name=prompt_name, prompt=prompt, batch_size=batch_size,
                           show_progress_bar=show_progress_bar, precision=precision,
                           normalize_embeddings=normalize_embeddings, truncate_dim=truncate_dim, pool=pool,
                           chunk_size=chunk_size)

    def get_sentence_embedding_dimension(self) -> int | None:
        """Former name of ``get_embedding_dimension`` (a FutureWarning, as in sentence-transformers 6.x)."""
        warnings.warn("The `get_sentence_embedding_dimension` method has been renamed to `get_embedding_dimension`.",
                      FutureWarning, stacklevel=2)
        return self.get_embedding_dimension()

    @contextmanager
    def truncate_sentence_embeddings(self, truncate_dim: int | None) -> Iterator[None]:
        """Former name of ``truncate_embeddings`` (a FutureWarning, as in sentence-transformers 6.x)."""
        warnings.warn("The `truncate_sentence_embeddings` method has been renamed to `truncate_embeddings`.",
                      FutureWarning, stacklevel=3)
        with self.truncate_embeddings(truncate_dim):
            yield

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

    # ------------------------------------------------------------------ Hub
    @save_to_hub_args_decorator
    def save_to_hub(
        self,
        repo_id: str,
        organization: str | None = None,
        token: str | None = None,
        private: bool | None = None,
        safe_serialization: bool = True,
        commit_message: str = "Add new model.",
        local_model_path: str | None = None,
        exist_ok: bool = False,
        replace_model_card: bool = False,
        train_datasets: list[str] | None = None,
    ) -> str:
        """Deprecated: :meth:`push_to_hub` (``organization`` is folded into ``repo_id``).

        The former ``repo_name`` keyword and positional calls from before ``token`` existed
        (``repo_id, organization, private, ...``) keep working.
        """
        base_logger.warning("The `save_to_hub` method is deprecated and will be removed in a future version of "
                            "SentenceTransformers. Please use `push_to_hub` instead for future model uploads.")
        if organization:
            if "/" not in repo_id:
                repo_id = f"{organization}/{repo_id}"
            elif repo_id.split("/")[0] != organization:
                raise ValueError("Providing an `organization` to `save_to_hub` is deprecated. Please use `repo_id` "
                                 "instead.")
            base_logger.warning(f'Providing an `organization` to `save_to_hub` is deprecated. Please use '
                                f'`repo_id="{repo_id}"` instead.')
        return self.push_to_hub(repo_id=repo_id, token=token, private=private, safe_serialization=safe_serialization,
                                commit_message=commit_message, local_model_path=local_model_path,
                                exist_ok=exist_ok, replace_model_card=replace_model_card,
                                train_datasets=train_datasets)
