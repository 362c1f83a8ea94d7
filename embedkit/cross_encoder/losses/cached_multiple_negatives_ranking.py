"""CachedMultipleNegativesRankingLoss for CrossEncoders: the CE MultipleNegativesRankingLoss with GradCache.

A CrossEncoder scores pairs, so what GradCache caches here is one logit per (anchor, candidate) pair rather than an
embedding per text. All pairs of the batch (positives, sampled in-batch negatives, hard negatives) form a single
"column" of tokenized pairs for :class:`~embedkit.base.losses.gradcache.CachedLossMixin`: step 1 scores it in
mini-batches of ``mini_batch_size`` pairs without gradients, step 2 computes the loss on the cached logits and its
gradient with respect to each logit, step 3 (the backward hook) re-scores each mini-batch with gradients inside its
recorded RNG state and backpropagates ``<logits, cached grad>``. Slicing the batch's padded token matrix and trimming
trailing padding gives each mini-batch exactly the tensors that tokenizing it alone would.

References:
    - Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup", arXiv:2101.06983.
    - sentence-transformers ``cross_encoder/losses/cached_multiple_negatives_ranking.py`` (v6.2).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.base.losses.gradcache import CachedLossMixin, RandContext, _create_minibatch
from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, preprocess_kwargs
from embedkit.cross_encoder.losses.multiple_negatives_ranking import (
    build_pairs,
    loss_from_logits,
    sample_in_batch_negatives,
)
from embedkit.cross_encoder.model import CrossEncoder


class CachedMultipleNegativesRankingLoss(CachedLossMixin, nn.Module):
    """:class:`~embedkit.cross_encoder.losses.MultipleNegativesRankingLoss` computed with GradCache.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        num_negatives: in-batch negatives sampled per anchor; None takes all of them.
        scale: multiplies the activated scores.
        activation_fn: applied to the logits first (default Sigmoid); None for none.
        mini_batch_size: pairs scored at once; memory depends on it, not on the batch size.
        show_progress_bar: show a bar over the mini-batches.

    Inputs:
        +--------------------------------------------------+--------+
        | Texts                                            | Labels |
        +==================================================+========+
        | (anchor, positive) pairs                         | none   |
        +--------------------------------------------------+--------+
        | (anchor, positive, negative_1, ..., negative_H)  | none   |
        +--------------------------------------------------+--------+

    Relations:
        Same value and gradients as MultipleNegativesRankingLoss (given the same sampled negatives and dropout
        masks), with memory bounded by ``mini_batch_size`` pairs.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> loss = CachedMultipleNegativesRankingLoss(model, num_negatives=2, mini_batch_size=4)
        >>> loss([["q1", "q2", "q3"], ["answer 1", "answer 2", "answer 3"]], None).backward()
    """

    def __init__(self, model: CrossEncoder, num_negatives: int | None = 4, scale: float = 10.0,
                 activation_fn: nn.Module | None = nn.Sigmoid(), mini_batch_size: int = 32,
                 show_progress_bar: bool = False) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
        self.model = model
        self.num_negatives = num_negatives
        self.scale = scale
        self.activation_fn = activation_fn
        self.mini_batch_size = mini_batch_size
        self.show_progress_bar = show_progress_bar

    def sample_in_batch_negatives(self, batch_size: int, num_columns: int) -> Tensor:
        return sample_in_batch_negatives(batch_size, num_columns, self.num_negatives)

    def embed(self, features: dict[str, Any]) -> Tensor:
        """One mini-batch of tokenized pairs -> their logits (P_mb,)."""
        return self.model(features)["scores"].view(-1)

    def predict_minibatch(self, sentence_feature: dict[str, Any], begin: int, end: int, with_grad: bool,
                          copy_random_state: bool, random_state: RandContext | None = None
                          ) -> tuple[Tensor, RandContext | None]:
        """Logits (P_mb,) of pairs ``[begin, end)`` of the tokenized batch, and the RNG state recorded for the replay.

        Both the caching pass and the backward replay go through it. When autograd is on, the caching pass runs
        under it too and detaches its logits: the encoder's no-grad kernels round differently in the last bits, and
        the replay must reproduce the cached logits exactly (dropout included, through ``random_state``).
        """
        minibatch = _create_minibatch(sentence_feature, begin, end)
        with nullcontext() if random_state is None else random_state:
            state = RandContext(*minibatch.values()) if copy_random_state else None
            logits = self.embed(minibatch)
        return (logits if with_grad else logits.detach()), state

    def embed_minibatch(self, sentence_feature: dict[str, Any], begin: int, end: int, with_grad: bool,
                        copy_random_state: bool, random_state: RandContext | None = None
                        ) -> tuple[Tensor, RandContext | None]:
        return self.predict_minibatch(sentence_feature=sentence_feature, begin=begin, end=end, with_grad=with_grad,
                                      copy_random_state=copy_random_state, random_state=random_state)

    def calculate_loss(self, reps: list[Tensor], labels: Tensor) -> Tensor:
        """``reps``: [all logits (P,)]; ``labels``: the target column per anchor (zeros, (B,))."""
        return loss_from_logits(reps[0], labels.shape[0], self.activation_fn, self.scale)

    def forward(self, inputs: list[list[str]], labels: Tensor | None = None, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        pairs = build_pairs(inputs, self.sample_in_batch_negatives, type(self).__name__)
        features = self.model.preprocess(pairs, **preprocess_kwargs(prompt, task))  # (P, T)
        features = {k: v.to(self.model.device) if isinstance(v, Tensor) else v for k, v in features.items()}
        target = torch.zeros(len(inputs[0]), dtype=torch.long, device=self.model.device)
        return self.forward_cached([features], target)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "num_negatives": self.num_negatives,
                "activation_fn": fullname(self.activation_fn), "mini_batch_size": self.mini_batch_size}
