"""MegaBatchMarginLoss: margin loss against the hardest in-batch negative, meant for very large batches.

For each anchor ``a_i``: ``relu(positive_margin - cos(a_i, p_i)) + relu(max_{j != i} cos(a_i, p_j) -
negative_margin)``, summed and divided by the batch size.

With ``use_mini_batched_version=True`` the loss runs through GradCache
(:class:`embedkit.base.losses.gradcache.CachedLossMixin`): each column is embedded in chunks of ``mini_batch_size``
rows, with the same value and gradients as the full-batch path and memory bounded by ``mini_batch_size``.

References:
    - Wieting & Gimpel, 2018, "ParaNMT-50M: Pushing the Limits of Paraphrastic Sentence Embeddings with Millions of
      Machine Translations", ACL, doi:10.18653/v1/P18-1042.
    - sentence-transformers ``sentence_transformer/losses/mega_batch_margin.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.base.losses.gradcache import (
    CachedLossMixin,
    _validate_mini_batch_num_tokens,
    has_static_embedding_input,
)
from embedkit.sentence_transformer.losses._columns import embed_columns
from embedkit.util import cos_sim


class MegaBatchMarginLoss(CachedLossMixin, nn.Module):
    """Hinge loss on the positive similarity and on the hardest in-batch negative similarity.

    Args:
        model: The SentenceTransformer to train.
        positive_margin: Positive pairs should have cosine similarity at least this high.
        negative_margin: The hardest negative should have cosine similarity at most this high.
        use_mini_batched_version: Embed and score in chunks of ``mini_batch_size`` rows.
        mini_batch_size: Rows per chunk in the mini-batched version.
        mini_batch_num_tokens: Alternatively, pack chunks up to this many non-padding tokens.
        show_progress_bar: Accepted for compatibility (no progress bar in the plain loop).

    Inputs:
        +--------------------------+--------+
        | Texts                    | Labels |
        +==========================+========+
        | (anchor, positive) pairs | none   |
        +--------------------------+--------+

    Example:
        >>> import torch
        >>> loss = MegaBatchMarginLoss(None, use_mini_batched_version=False)
        >>> a = torch.eye(2); p = torch.eye(2)
        >>> loss.calculate_loss([a, p]).item()  # positives at cos 1, negatives at cos 0
        0.0
    """


    def __init__(
        self,
        model: nn.Module | None,
        positive_margin: float = 0.8,
        negative_margin: float = 0.3,
        use_mini_batched_version: bool = True,
        mini_batch_size: int = 50,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__()
        if use_mini_batched_version and model is not None and has_static_embedding_input(model):
            raise ValueError(
                "The mini-batched MegaBatchMarginLoss is not compatible with a SentenceTransformer model based on a "
                "StaticEmbedding, whose inputs cannot be split into mini-batches along a batch dimension. "
                "Consider passing use_mini_batched_version=False instead."
            )
        _validate_mini_batch_num_tokens(mini_batch_num_tokens)
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be a positive integer, got {mini_batch_size!r}")
        self.model = model
        self.positive_margin = positive_margin
        self.negative_margin = negative_margin
        self.use_mini_batched_version = use_mini_batched_version
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self.uses_gradient_cache = use_mini_batched_version  # the trainer syncs cached losses itself under DDP

    @staticmethod
    def _validate_input(sentence_features: list[dict[str, Tensor]]) -> None:
        if len(sentence_features) != 2:
            raise ValueError(
                f"MegaBatchMarginLoss expects exactly 2 input columns, (anchor, positive), but got "
                f"{len(sentence_features)}. Its negatives are mined from the other rows' positives, so an explicit "
                "negative column is not used; CachedMultipleNegativesRankingLoss trains with explicit negatives."
            )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        if self.use_mini_batched_version:
            return self.forward_mini_batched(sentence_features, labels)
        return self.forward_non_mini_batched(sentence_features, labels)

    def forward_non_mini_batched(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
                                 ) -> Tensor:
        sentence_features = list(sentence_features)
        self._validate_input(sentence_features)
        return self.calculate_loss(embed_columns(self.model, sentence_features), labels)

    def forward_mini_batched(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
                             ) -> Tensor:
        """The same loss through GradCache: memory depends on ``mini_batch_size``, not on the batch size."""
        sentence_features = list(sentence_features)
        self._validate_input(sentence_features)
        return self.forward_cached(sentence_features, labels)

    def calculate_loss(self, reps: list[Tensor] | list[list[Tensor]], labels: Tensor | None = None,
                       chunk_size: int | None = None, *, with_backward: bool = False) -> Tensor:
        """The loss from ``[anchors, positives]`` embeddings, each a (B, D) tensor or a list of mini-batch tensors.

        Anchors are scored ``chunk_size`` rows at a time (default: ``mini_batch_size`` when each chunk's graph can be
        freed right away, i.e. under ``with_backward`` or without gradients; else the whole batch), so the
        similarity matrix never exceeds (chunk_size, B). With ``with_backward`` each chunk is backpropagated at once
        and the detached total is returned.
        """
        anchors, positives = (torch.cat(r) if isinstance(r, (list, tuple)) else r for r in reps)
        batch_size = len(anchors)
        if chunk_size is None:
            chunk_size = self.mini_batch_size if with_backward or not torch.is_grad_enabled() else batch_size
        chunk_size = max(1, min(chunk_size, batch_size))
        total = anchors.new_zeros(())
        for begin in range(0, batch_size, chunk_size):
            end = min(begin + chunk_size, batch_size)
            rows = torch.arange(end - begin, device=anchors.device)
            own = rows + begin  # column of each anchor's own positive
            cos = cos_sim(anchors[begin:end], positives)  # (chunk, B)
            positive_scores = cos[rows, own]
            hardest_negative = cos.index_put((rows, own), cos.new_tensor(-torch.inf)).max(dim=1).values  # (chunk,)
            chunk_loss = (F.relu(self.positive_margin - positive_scores)
                          + F.relu(hardest_negative - self.negative_margin)).sum() / batch_size
            if with_backward:
                chunk_loss.backward()
                chunk_loss = chunk_loss.detach()
            total = total + chunk_loss
        return total

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "positive_margin": self.positive_margin,
            "negative_margin": self.negative_margin,
            "mini_batch_size": self.mini_batch_size,
            "mini_batch_num_tokens": self.mini_batch_num_tokens,
        }

    @property
    def citation(self) -> str:
        return """
@inproceedings{wieting-gimpel-2018-paranmt,
    title = "{P}ara{NMT}-50{M}: Pushing the Limits of Paraphrastic Sentence Embeddings with Millions of Machine Translations",
    author = "Wieting, John and Gimpel, Kevin",
    editor = "Gurevych, Iryna and Miyao, Yusuke",
    booktitle = "Proceedings of the 56th Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)",
    month = jul,
    year = "2018",
    address = "Melbourne, Australia",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/P18-1042",
    doi = "10.18653/v1/P18-1042",
    pages = "451--462",
}
"""  # noqa: E501
