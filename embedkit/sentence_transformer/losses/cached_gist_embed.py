"""CachedGISTEmbedLoss: GISTEmbedLoss computed with GradCache.

The guide model embeds the whole batch once, without gradients (re-tokenizing when its tokenizer differs); the
trained model's embeddings go through the three GradCache steps of :mod:`embedkit.base.losses.gradcache`, so the
value and gradients equal :class:`GISTEmbedLoss` while memory depends only on ``mini_batch_size``.

Reference: Solatorio, 2024, "GISTEmbed: Guided In-sample Selection of Training Negatives"; Gao et al., 2021.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any, Literal

import torch
from torch import Tensor, nn

from embedkit.base.losses.gradcache import (
    CachedLossMixin,
    RandContext,
    _create_minibatch,
    _validate_mini_batch_num_tokens,
    has_static_embedding_input,
)
from embedkit.distributed import all_gather_with_grad, get_rank
from embedkit.sentence_transformer.losses.gist_embed import (
    VALID_MARGIN_STRATEGIES,
    mask_false_negatives,
    tokenizer_vocab,
)


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
        if has_static_embedding_input(model):
            raise ValueError(
                "CachedGISTEmbedLoss is not compatible with a SentenceTransformer model based on a StaticEmbedding. "
                "Consider using GISTEmbedLoss instead."
            )
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
        _validate_mini_batch_num_tokens(mini_batch_num_tokens)
        if not hasattr(model, "tokenizer") or not hasattr(guide, "tokenizer"):
            raise ValueError("Both the training model and the guiding model must have a tokenizer attribute.")
        if margin_strategy not in VALID_MARGIN_STRATEGIES:
            raise ValueError("margin_strategy must be 'absolute' or 'relative'.")
        self.model = model
        self.guide = guide
        self.temperature = temperature
        self.similarity_fct = nn.CosineSimilarity(dim=-1)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self.must_retokenize = (tokenizer_vocab(model.tokenizer) != tokenizer_vocab(guide.tokenizer)
                                or guide.max_seq_length < model.max_seq_length)
        if self.must_retokenize:
            self.tokenizer = model.tokenizer
        self.margin_strategy = margin_strategy
        self.margin = margin
        self.contrast_anchors = contrast_anchors
        self.contrast_positives = contrast_positives
        self.gather_across_devices = gather_across_devices
        self.cross_entropy_loss = nn.CrossEntropyLoss()

    def sim_matrix(self, embed1: Tensor, embed2: Tensor) -> Tensor:
        """(n, D), (m, D) -> (n, m) similarities with ``similarity_fct``."""
        return self.similarity_fct(embed1.unsqueeze(1), embed2.unsqueeze(0))

    def _guide_minibatch(self, features: dict[str, Any]) -> dict[str, Any]:
        """The guide's features for a mini-batch: the same dict, or re-tokenized text if the tokenizers differ."""
        if not self.must_retokenize:
            return features
        ids = features["input_ids"]
        if "cu_seq_lens_q" in features:  # flattened: split the packed row back into sequences
            flat, bounds = ids[0].tolist(), features["cu_seq_lens_q"].tolist()
            rows = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            rows = [row.tolist() for row in ids]
        texts = [self.tokenizer.decode(row, skip_special_tokens=True) for row in rows]
        device = self.guide.device
        return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.guide.preprocess(texts).items()}

    def embed_minibatch(self, sentence_feature: dict[str, Any], begin: int, end: int, with_grad: bool,
                        copy_random_state: bool, random_state: RandContext | None = None
                        ) -> tuple[Tensor, Tensor | None, RandContext | None]:
        """Embed samples [begin, end) with the model, and (in the first, gradient-free pass) with the guide.

        The replay with gradients only needs the model's embeddings, so the guide is skipped there (None).
        """
        minibatch = _create_minibatch(sentence_feature, begin, end)
        with nullcontext() if random_state is None else random_state:
            with nullcontext() if with_grad else torch.no_grad():
                state = RandContext(*minibatch.values()) if copy_random_state else None
                reps = self.model(minibatch)["sentence_embedding"]  # (mb, D)
            guide_reps = None
            if not with_grad:
                with torch.no_grad():
                    guide_reps = self.guide(self._guide_minibatch(minibatch))["sentence_embedding"]
        return reps, guide_reps, state

    def compute_cached_loss(self, reps: list[list[Tensor]], extras: list[list[tuple[Any, ...]]],
                            labels: Tensor | None, with_backward: bool) -> Tensor:
        guided = [[extra[0].detach() for extra in column] for column in extras]
        return self.calculate_loss(reps, guided, with_backward=with_backward)

    def calculate_loss(self, reps: list[list[Tensor]], reps_guided: list[list[Tensor]], *,
                       with_backward: bool = False) -> Tensor:
        """The GIST loss from ``reps[column][mini_batch]`` and the guide's ``reps_guided`` of the same layout.

        Anchors are scored ``mini_batch_size`` rows at a time; with ``with_backward`` each chunk is backpropagated
        right away and the detached total is returned.
        """
        if len(reps) != len(reps_guided):
            raise ValueError("reps and reps_guided must have the same length")
        anchors, anchors_guide = torch.cat(reps[0]), torch.cat(reps_guided[0])  # (B, D)
        candidates = [torch.cat(column) for column in reps[1:]]  # positive [, negatives]: (B, D) each
        candidates_guide = [torch.cat(column) for column in reps_guided[1:]]
        batch_size = anchors.size(0)
        offset = 0
        if self.gather_across_devices:
            # Candidates of every rank (with gradients); only the local anchors are scored.
            candidates = [all_gather_with_grad(c) for c in candidates]  # (N, D) each
            candidates_guide = [all_gather_with_grad(c) for c in candidates_guide]
            offset = get_rank() * batch_size
        targets = torch.arange(offset, offset + batch_size, device=anchors.device)
        positives, positives_guide = candidates[0], candidates_guide[0]

        total: Tensor | float = 0.0
        for begin in range(0, batch_size, self.mini_batch_size):
            end = min(begin + self.mini_batch_size, batch_size)
            guided_ap = self.sim_matrix(anchors_guide[begin:end], positives_guide)  # (b, N)
            threshold = guided_ap.diagonal(offset=offset + begin).view(-1, 1)  # guide sim of each true pair
            rows = torch.arange(end - begin, device=anchors.device)
            protect = torch.zeros_like(guided_ap, dtype=torch.bool)
            protect[rows, offset + begin + rows] = True  # the CE target column is never suppressed

            scores = [self._suppress(threshold, guided_ap, self.sim_matrix(anchors[begin:end], positives), protect)]
            if self.contrast_anchors:
                scores.append(self._suppress(threshold, self.sim_matrix(anchors_guide[begin:end], anchors_guide),
                                             self.sim_matrix(anchors[begin:end], anchors)))
            if self.contrast_positives:
                local = slice(offset + begin, offset + end)
                scores.append(self._suppress(threshold, self.sim_matrix(positives_guide[local], positives_guide),
                                             self.sim_matrix(positives[local], positives)))
            for negatives, negatives_guide in zip(candidates[1:], candidates_guide[1:]):
                scores.append(self._suppress(threshold, self.sim_matrix(anchors_guide[begin:end], negatives_guide),
                                             self.sim_matrix(anchors[begin:end], negatives)))
            logits = torch.cat(scores, dim=1) / self.temperature
            chunk = self.cross_entropy_loss(logits, targets[begin:end]) * (end - begin) / batch_size
            if with_backward:
                chunk.backward()
                chunk = chunk.detach()
            total = total + chunk
        return total

    def _suppress(self, threshold: Tensor, guided: Tensor, sims: Tensor, keep: Tensor | None = None) -> Tensor:
        return mask_false_negatives(sims, guided, threshold, self.margin_strategy, self.margin, keep)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        return self.forward_cached(list(sentence_features), labels)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "guide": self.guide,
            "temperature": self.temperature,
            "mini_batch_size": self.mini_batch_size,
            "mini_batch_num_tokens": self.mini_batch_num_tokens,
            "margin_strategy": self.margin_strategy,
            "margin": self.margin,
            "contrast_anchors": self.contrast_anchors,
            "contrast_positives": self.contrast_positives,
            "gather_across_devices": self.gather_across_devices,
        }

    # No ``citation``: sentence-transformers 6.2's CachedGISTEmbedLoss has none, so model cards cite the same papers.
