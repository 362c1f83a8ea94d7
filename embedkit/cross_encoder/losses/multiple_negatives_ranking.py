"""MultipleNegativesRankingLoss for CrossEncoders: softmax over the positive and sampled in-batch negatives.

Each anchor is scored jointly with its positive, ``num_negatives`` documents sampled from the *other* rows
(positives and hard negatives of the rest of the batch), and its own hard negatives. The scores go through the
activation (Sigmoid by default), are multiplied by ``scale`` and fed to a cross-entropy whose target is the
positive.

Einstein legend: B anchors, C candidate columns (1 positive + H hard negatives), K sampled in-batch negatives.

Reference: sentence-transformers ``cross_encoder/losses/multiple_negatives_ranking.py`` (v6.2); sampling uses
``torch.multinomial`` on the same mask in the same order, so a seeded run draws the same negatives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, score_pairs
from embedkit.cross_encoder.model import CrossEncoder


def sample_in_batch_negatives(batch_size: int, num_columns: int, num_negatives: int | None) -> Tensor:
    """Indices (B, K) into the candidates flattened column by column (index ``c * B + j`` is row j of candidate
    column c); row i never gets its own candidates. K = ``num_negatives`` drawn without replacement, or all
    ``B * C - C`` available ones (no sampling) when ``num_negatives`` is None or not smaller."""
    allowed = ~torch.eye(batch_size, dtype=torch.bool).repeat(1, num_columns)  # (B, B * C)
    available = batch_size * num_columns - num_columns
    if num_negatives is not None and num_negatives < available:
        return torch.multinomial(allowed.float(), num_negatives)  # (B, K)
    return torch.arange(batch_size * num_columns).repeat(batch_size, 1)[allowed].view(batch_size, -1)


def build_pairs(inputs: list[list[str]], sample: Callable[[int, int], Tensor], loss_name: str
                ) -> list[tuple[str, str]]:
    """All (anchor, candidate) pairs, grouped by score column, B pairs per column: the positives, then each
    sampled in-batch negative, then each hard-negative column."""
    if len(inputs) < 2:
        raise ValueError(f"{loss_name} expects (anchor, positive[, negative_1, ...]) columns, got {len(inputs)}")
    anchors, candidates = list(inputs[0]), [list(column) for column in inputs[1:]]
    flat = [doc for column in candidates for doc in column]
    negatives = sample(len(anchors), len(candidates))  # (B, K)
    columns = [candidates[0], *([flat[i] for i in draw.tolist()] for draw in negatives.T), *candidates[1:]]
    return [(anchor, doc) for column in columns for anchor, doc in zip(anchors, column)]


def loss_from_logits(logits: Tensor, batch_size: int, activation_fn: nn.Module | None, scale: float | None
                     ) -> Tensor:
    """Mean cross-entropy with the positive as target. ``logits`` (B * S,) is grouped by score column as in
    :func:`build_pairs`."""
    scores = logits.view(-1, batch_size).T  # (B, S): positive, K sampled negatives, H hard negatives
    if activation_fn is not None:
        scores = activation_fn(scores)
    if scale:
        scores = scores * scale
    target = torch.zeros(batch_size, dtype=torch.long, device=scores.device)
    return nn.functional.cross_entropy(scores, target)


class MultipleNegativesRankingLoss(nn.Module):
    """InfoNCE over CrossEncoder scores of (anchor, candidate) pairs.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        num_negatives: in-batch negatives sampled per anchor (without replacement); None, or at least the number
            available (``B * C - C``), takes all of them, without sampling.
        scale: multiplies the activated scores (an inverse temperature); 0 or None leaves them unscaled.
        activation_fn: applied to the logits first (default Sigmoid, bounding scores to [0, 1]); None for none.

    Inputs:
        +--------------------------------------------------+--------+
        | Texts                                            | Labels |
        +==================================================+========+
        | (anchor, positive) pairs                         | none   |
        +--------------------------------------------------+--------+
        | (anchor, positive, negative_1, ..., negative_H)  | none   |
        +--------------------------------------------------+--------+

    Relations:
        :class:`~embedkit.cross_encoder.losses.CachedMultipleNegativesRankingLoss` computes the same loss in
        memory-bounded mini-batches (GradCache).

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> loss = MultipleNegativesRankingLoss(model, num_negatives=2)
        >>> loss([["q1", "q2", "q3"], ["answer 1", "answer 2", "answer 3"]], None).backward()
    """

    def __init__(self, model: CrossEncoder, num_negatives: int | None = 4, scale: float = 10.0,
                 activation_fn: nn.Module | None = nn.Sigmoid()) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.num_negatives = num_negatives
        self.scale = scale
        self.activation_fn = activation_fn

    def sample_in_batch_negatives(self, batch_size: int, num_columns: int) -> Tensor:
        """Indices (B, K) of the sampled negatives; see :func:`sample_in_batch_negatives`."""
        return sample_in_batch_negatives(batch_size, num_columns, self.num_negatives)

    def build_pairs(self, inputs: list[list[str]]) -> list[tuple[str, str]]:
        """All scored pairs; see :func:`build_pairs`."""
        return build_pairs(inputs, self.sample_in_batch_negatives, type(self).__name__)

    def calculate_loss(self, logits: Tensor, batch_size: int) -> Tensor:
        """The loss from the flat logits of :meth:`build_pairs`' pairs; see :func:`loss_from_logits`."""
        return loss_from_logits(logits, batch_size, self.activation_fn, self.scale)

    def forward(self, inputs: list[list[str]], labels: Tensor | None = None, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        pairs = self.build_pairs(inputs)
        return self.calculate_loss(score_pairs(self.model, pairs, prompt, task).view(-1), len(inputs[0]))

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "num_negatives": self.num_negatives,
                "activation_fn": fullname(self.activation_fn)}
