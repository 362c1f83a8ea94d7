"""CachedGISTEmbedLoss: GISTEmbedLoss computed with GradCache.

The guide model embeds the whole batch once, without gradients (re-tokenizing when its tokenizer differs); the
trained model's embeddings go through the three GradCache steps of :mod:`embedkit.base.losses.gradcache`, so the value and
gradients equal :class:`GISTEmbedLoss` while memory depends only on ``mini_batch_size``.

Reference: Solatorio, 2024, "GISTEmbed: Guided In-sample Selection of Training Negatives"; Gao et al., 2021.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from embedkit.base.losses.gradcache import CachedLossMixin
from embedkit.sentence_transformer.losses._columns import embed_columns
from embedkit.sentence_transformer.losses.gist_embed import GISTEmbedLoss


class CachedGISTEmbedLoss(CachedLossMixin, nn.Module):
    """GIST with GradCache.

    Args:
        model: the SentenceTransformer to train.
        guide: a frozen SentenceTransformer whose similarities mask likely false negatives.
        temperature: softmax temperature.
        mini_batch_size / mini_batch_num_tokens / show_progress_bar: GradCache settings.
        margin_strategy / margin / contrast_anchors / contrast_positives / gather_across_devices: as GISTEmbedLoss.

    Inputs:
        (anchor, positive) or (anchor, positive, negative); no labels.

    Relations:
        Same value and gradients as :class:`GISTEmbedLoss`.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> guide = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = CachedGISTEmbedLoss(model, guide, mini_batch_size=2)
        >>> loss([model.preprocess(["a cat", "rain"]), model.preprocess(["kitten", "storm"])], None).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        temperature: float = 0.01,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
        margin_strategy: Literal["absolute", "relative"] = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
        self.model = model
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self.gist = GISTEmbedLoss(model, guide, temperature=temperature, margin_strategy=margin_strategy,
                                  margin=margin, contrast_anchors=contrast_anchors,
                                  contrast_positives=contrast_positives, gather_across_devices=gather_across_devices)
        self._guide_embeddings: list[Tensor] | None = None

    def calculate_loss(self, reps: list[Tensor], labels: Tensor | None) -> Tensor:
        return self.gist.compute_loss_from_embeddings(reps, self._guide_embeddings)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        sentence_features = list(sentence_features)
        with torch.no_grad():
            self._guide_embeddings = embed_columns(self.gist.guide, self.gist._guide_features(sentence_features))
        try:
            return self.forward_cached(sentence_features, labels)
        finally:
            self._guide_embeddings = None

    def get_config_dict(self) -> dict[str, Any]:
        config = self.gist.get_config_dict()
        return {**config, "mini_batch_size": self.mini_batch_size, "mini_batch_num_tokens": self.mini_batch_num_tokens}

    @property
    def citation(self) -> str:
        return self.gist.citation
