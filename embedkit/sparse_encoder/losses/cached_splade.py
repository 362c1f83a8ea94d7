"""CachedSpladeLoss: SpladeLoss computed with GradCache (Gao et al., 2021).

Same value and gradients as :class:`SpladeLoss`, but the columns are embedded in mini-batches: the base loss and
both regularisers run once on the full batch of cached (B, V) embeddings, their gradient w.r.t. the embeddings is
kept, and the mini-batches are replayed with gradients from a backward hook (see :mod:`embedkit.base.losses.gradcache`).
Memory depends on ``mini_batch_size``, not on the batch size, which matters for SPLADE: its (T, V) MLM logits are large.

References:
    - Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup",
      arXiv:2101.06983.
    - sentence-transformers ``sparse_encoder/losses/cached_splade.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.base.losses.gradcache import CachedLossMixin
from embedkit.sparse_encoder.losses.splade import SpladeLoss

_CITATION = """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
@misc{formal2022distillationhardnegativesampling,
    title={From Distillation to Hard Negative Sampling: Making Sparse Neural IR Models More Effective},
    author={Thibault Formal and Carlos Lassance and Benjamin Piwowarski and St\\'ephane Clinchant},
    year={2022},
    eprint={2205.04733},
    archivePrefix={arXiv},
    primaryClass={cs.IR},
}
"""


class CachedSpladeLoss(CachedLossMixin, nn.Module):
    """SpladeLoss with GradCache.

    Args:
        model / loss / document_regularizer_weight / query_regularizer_weight / document_regularizer /
            query_regularizer / document_regularizer_threshold / query_regularizer_threshold /
            use_document_regularizer_only: as in :class:`SpladeLoss`.
        mini_batch_size: rows embedded at once.
        mini_batch_num_tokens: pack mini-batches up to this many real tokens instead.
        show_progress_bar: show a bar over the mini-batches.

    Inputs:
        Those of ``loss``.

    Relations:
        Equivalent to :class:`SpladeLoss` (same components, same gradients) with memory bounded by the mini-batch.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sparse_encoder import SparseEncoder
        >>> from embedkit.sparse_encoder.losses import SparseMultipleNegativesRankingLoss
        >>> from embedkit.sparse_encoder.modules import SparseStaticEmbedding
        >>> model = SparseEncoder(modules=[SparseStaticEmbedding(default_model_path())], device="cpu")
        >>> loss = CachedSpladeLoss(model, SparseMultipleNegativesRankingLoss(model), 3e-5, 5e-5, mini_batch_size=1)
        >>> out = loss([model.preprocess(["a cat", "rain"]), model.preprocess(["a kitten", "a storm"])], None)
        >>> sum(out.values()).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: int | None = None,
        query_regularizer_threshold: int | None = None,
        use_document_regularizer_only: bool = False,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__()
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
        if mini_batch_num_tokens is not None and mini_batch_num_tokens < 1:
            raise ValueError(f"mini_batch_num_tokens must be a positive integer or None, got {mini_batch_num_tokens}")
        self.model = model
        # The math (base loss + regularisers on embeddings) lives in a plain SpladeLoss.
        self.splade = SpladeLoss(
            model, loss, document_regularizer_weight, query_regularizer_weight, document_regularizer,
            query_regularizer, document_regularizer_threshold, query_regularizer_threshold,
            use_document_regularizer_only)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self._component_values: dict[str, float] = {}

    # SpladeLoss's attributes, read and (for the weights, which the warm-up callback schedules) written through.
    @property
    def loss(self) -> nn.Module:
        return self.splade.loss

    @property
    def document_regularizer(self) -> nn.Module:
        return self.splade.document_regularizer

    @property
    def query_regularizer(self) -> nn.Module | None:
        return self.splade.query_regularizer

    @property
    def use_document_regularizer_only(self) -> bool:
        return self.splade.use_document_regularizer_only

    @property
    def document_regularizer_weight(self) -> float:
        return self.splade.document_regularizer_weight

    @document_regularizer_weight.setter
    def document_regularizer_weight(self, value: float) -> None:
        self.splade.document_regularizer_weight = value

    @property
    def query_regularizer_weight(self) -> float | None:
        return self.splade.query_regularizer_weight

    @query_regularizer_weight.setter
    def query_regularizer_weight(self, value: float | None) -> None:
        self.splade.query_regularizer_weight = value

    def calculate_loss(self, reps: list[Tensor], labels: Tensor | None) -> Tensor:
        """The total loss on full-batch embeddings; the components are kept for logging."""
        components = self.splade.compute_loss_from_embeddings(reps, labels)
        self._component_values = {key: float(value.detach()) for key, value in components.items()}
        return sum(components.values())

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
                ) -> dict[str, Tensor]:
        total = self.forward_cached(list(sentence_features), labels)
        # Only ``total`` carries the gradient (through the replay hook). Rebuild the per-component dict around it:
        # the first entry absorbs the difference, so the dict still sums to ``total`` for the trainer.
        values = {key: torch.tensor(value, device=total.device) for key, value in self._component_values.items()}
        first = next(iter(values))
        others = sum((v for k, v in values.items() if k != first), start=torch.zeros_like(total))
        return {**values, first: total - others}

    def get_config_dict(self) -> dict[str, Any]:
        return {**self.splade.get_config_dict(), "mini_batch_size": self.mini_batch_size,
                "mini_batch_num_tokens": self.mini_batch_num_tokens}

    @property
    def citation(self) -> str:
        return _CITATION
