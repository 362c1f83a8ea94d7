"""CachedMultipleNegativesRankingLoss: MultipleNegativesRankingLoss computed with GradCache.

Same value and gradients as :class:`MultipleNegativesRankingLoss` (InfoNCE with in-batch negatives), but the
batch is embedded in mini-batches, so the batch size -- and with it the number of negatives -- is limited by time,
not memory. See :mod:`embedkit.base.losses.gradcache` for the three steps.

Reference: Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup";
sentence-transformers ``CachedMultipleNegativesRankingLoss``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from embedkit.base.losses.gradcache import (  # noqa: F401  (RandContext & helpers: historical import location)
    CachedLossMixin,
    RandContext,
    _create_minibatch,
    _get_batch_size,
    _validate_mini_batch_num_tokens,
    has_static_embedding_input,
)
from embedkit.distributed import all_gather_with_grad, get_rank
from embedkit.sentence_transformer.losses.multiple_negatives_ranking import (
    MultipleNegativesRankingLoss,
)
from embedkit.util import cos_sim

# Hyperparameters owned by the wrapped MultipleNegativesRankingLoss; reading and assigning them on the cached loss
# reaches the wrapped one.
_DELEGATED = ("scale", "similarity_fct", "gather_across_devices", "directions", "partition_mode", "hardness_mode",
              "hardness_strength")


class CachedMultipleNegativesRankingLoss(CachedLossMixin, nn.Module):
    """MNRL with GradCache.

    Args:
        model: the SentenceTransformer to train.
        scale: inverse temperature of the similarities.
        similarity_fct: similarity of queries and documents (default cosine).
        mini_batch_size: rows embedded at once; memory depends on it, not on the batch size.
        mini_batch_num_tokens: pack mini-batches up to this many real tokens instead.
        gather_across_devices: use the documents of every rank as negatives (DDP).
        directions / partition_mode / hardness_mode / hardness_strength: as in MultipleNegativesRankingLoss.
        show_progress_bar: show a bar over the mini-batches.

    Inputs:
        (anchor, positive) pairs, or (anchor, positive, negative_1, ..., negative_n); no labels.

    Relations:
        Equivalent to :class:`MultipleNegativesRankingLoss` with more memory headroom.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
        >>> features = [model.preprocess(["a cat", "a car", "rain"]), model.preprocess(["kitten", "auto", "storm"])]
        >>> loss(features, None).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        directions: tuple[Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"], ...] = (
            "query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        show_progress_bar: bool = False,
        hardness_mode: Literal["in_batch_negatives", "hard_negatives", "all_negatives"] | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__()
        if has_static_embedding_input(model):
            raise ValueError(
                f"{type(self).__name__} is not compatible with a SentenceTransformer model based on a "
                "StaticEmbedding, whose inputs cannot be split into mini-batches along a batch dimension. "
                "Consider using MultipleNegativesRankingLoss instead."
            )
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
        _validate_mini_batch_num_tokens(mini_batch_num_tokens)
        self.model = model
        # The math (and the validation of every hyperparameter) lives in the plain loss.
        self.loss = MultipleNegativesRankingLoss(
            model, scale=scale, similarity_fct=similarity_fct, gather_across_devices=gather_across_devices,
            directions=directions, partition_mode=partition_mode, hardness_mode=hardness_mode,
            hardness_strength=hardness_strength)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar

    def __getattr__(self, name: str) -> Any:
        if name in _DELEGATED:
            return getattr(self._modules["loss"], name)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        # Without this an nn.Module similarity would land in this module's _modules, never reaching the wrapped loss.
        if name in _DELEGATED and isinstance(self.__dict__.get("_modules", {}).get("loss"), nn.Module):
            setattr(self._modules["loss"], name, value)
        else:
            super().__setattr__(name, value)

    @property
    def inner(self) -> MultipleNegativesRankingLoss:
        """The wrapped :class:`MultipleNegativesRankingLoss` (same as ``self.loss``)."""
        return self._modules["loss"]

    def calculate_loss(self, reps: list[list[Tensor]], labels: Tensor | None = None, *,
                       with_backward: bool = False) -> Tensor:
        """The MNRL value from ``reps[column][mini_batch]`` embeddings; with ``with_backward`` also backpropagated
        to them (the returned value is then detached)."""
        embeddings = [torch.cat(column) if len(column) > 1 else column[0] for column in reps]
        loss = self.loss.compute_loss_from_embeddings(embeddings, labels, gather=all_gather_with_grad,
                                                      rank=get_rank() if self.loss.gather_across_devices else 0)
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        return self.forward_cached(list(sentence_features), labels)

    def get_config_dict(self) -> dict[str, Any]:
        config = self.loss.get_config_dict()
        return {"scale": config["scale"], "similarity_fct": config["similarity_fct"],
                "mini_batch_size": self.mini_batch_size, "mini_batch_num_tokens": self.mini_batch_num_tokens,
                **{k: config[k] for k in ("gather_across_devices", "directions", "partition_mode", "hardness_mode",
                                          "hardness_strength") if k in config}}

    @property
    def temperature(self) -> float:
        return 1.0 / self.loss.scale

    @property
    def citation(self) -> str:
        return """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""
