"""GISTEmbedLoss: in-batch contrastive loss whose false negatives are filtered out by a frozen guide model.

References:
    - Solatorio, 2024, "GISTEmbed: Guided In-sample Selection of Training Negatives for Text Embedding
      Fine-tuning", arXiv:2402.16829.
    - sentence-transformers ``sentence_transformer/losses/gist_embed.py`` (v6.2): constructor, defaults, masking
      rule and config dict.

Einstein legend: B local rows, N = B * world_size rows after an optional all-gather, D embedding size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from embedkit.distributed import all_gather_with_grad, get_rank
from embedkit.sentence_transformer.losses._columns import embed_columns

VALID_MARGIN_STRATEGIES = ("absolute", "relative")


def tokenizer_vocab(tokenizer: Any) -> dict[str, int]:
    """Token -> id map of an embedkit :class:`~embedkit.tokenizer.Tokenizer` (or anything with ``get_vocab``)."""
    if hasattr(tokenizer, "get_vocab"):
        return tokenizer.get_vocab()
    return tokenizer.backend.get_vocab(with_added_tokens=True)


def mask_false_negatives(sims: Tensor, guided: Tensor, guided_pos: Tensor, margin_strategy: str, margin: float,
                         protect: Tensor | None = None) -> Tensor:
    """``sims`` with -inf wherever the guide scores above the true pair's guide similarity ``guided_pos`` (b, 1) minus
    the margin (likely false negatives), except where ``protect`` is set.

    Example:
        >>> mask_false_negatives(torch.ones(1, 2), torch.tensor([[0.9, 0.2]]), torch.tensor([[0.5]]), "absolute", 0.0)
        tensor([[-inf, 1.]])
    """
    if margin_strategy == "absolute":
        false_negative = guided > guided_pos - margin
    else:
        false_negative = guided > guided_pos - guided_pos.abs() * margin
    if protect is not None:
        false_negative = false_negative & ~protect
    return sims.masked_fill(false_negative, -torch.inf)


class GISTEmbedLoss(nn.Module):
    """MNRL-style cross-entropy where a guide model vetoes in-batch negatives that look like positives.

    Logits are cosine similarities divided by ``temperature`` for anchor-positive, anchor-anchor (if
    ``contrast_anchors``), positive-positive (if ``contrast_positives``) and anchor-negative blocks, concatenated per
    anchor; the target is the anchor's own positive. Any candidate whose *guide* similarity to the anchor exceeds the
    guide similarity of the true pair (minus ``margin``, or minus ``|sim| * margin`` for ``"relative"``) is treated
    as a false negative and removed (logit -inf). The true positive is never removed. The guide runs without
    gradients; if its vocabulary differs from the model's (or its max length is shorter), the batch is decoded with
    the model's tokenizer and re-tokenized for the guide.

    Args:
        model: The SentenceTransformer to train.
        guide: A frozen SentenceTransformer used only to pick negatives.
        temperature: Softmax temperature applied to cosine similarities.
        margin_strategy: ``"absolute"`` or ``"relative"`` margin for the false-negative test.
        margin: Margin of that test (0 removes every candidate the guide ranks above the true pair).
        contrast_anchors: Add anchor-anchor similarities as negatives.
        contrast_positives: Add positive-positive similarities as negatives.
        gather_across_devices: Under torch.distributed, use all ranks' positives/negatives (not anchors).

    Inputs:
        +---------------------------------------+--------+
        | Texts                                 | Labels |
        +=======================================+========+
        | (anchor, positive) pairs              | none   |
        +---------------------------------------+--------+
        | (anchor, positive, negative) triplets | none   |
        +---------------------------------------+--------+

    Example:
        >>> from tokenizers import Tokenizer, models, pre_tokenizers
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sentence_transformer.modules import StaticEmbedding
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> words = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1, "cat": 2, "dog": 3}, unk_token="[UNK]"))
        >>> words.pre_tokenizer = pre_tokenizers.Whitespace()
        >>> guide = SentenceTransformer(modules=[StaticEmbedding(words, embedding_dim=8)], device="cpu")
        >>> loss = GISTEmbedLoss(model, guide)
        >>> loss.must_retokenize  # the guide has another tokenizer: it reads the decoded texts
        True
        >>> feats = [model.preprocess(["a cat", "a dog"]), model.preprocess(["a kitten", "a puppy"])]
        >>> loss(feats, None).ndim
        0
    """

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        temperature: float = 0.01,
        margin_strategy: Literal["absolute", "relative"] = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.guide = guide
        self.temperature = temperature
        if not hasattr(model, "tokenizer") or not hasattr(guide, "tokenizer"):
            raise ValueError("both the training model and the guide model need a tokenizer attribute")
        self.must_retokenize = (
            tokenizer_vocab(model.tokenizer) != tokenizer_vocab(guide.tokenizer)
            or guide.max_seq_length < model.max_seq_length
        )
        if self.must_retokenize:
            self.tokenizer = model.tokenizer
        if margin_strategy not in VALID_MARGIN_STRATEGIES:
            raise ValueError(f"margin_strategy must be one of {VALID_MARGIN_STRATEGIES}, got {margin_strategy!r}")
        self.margin_strategy = margin_strategy
        self.margin = margin
        self.contrast_anchors = contrast_anchors
        self.contrast_positives = contrast_positives
        self.gather_across_devices = gather_across_devices
        self.cross_entropy_loss = nn.CrossEntropyLoss()

    @staticmethod
    def sim_matrix(embed1: Tensor, embed2: Tensor) -> Tensor:
        """(n, D), (m, D) -> (n, m) cosine similarities (``nn.CosineSimilarity`` semantics, eps 1e-8)."""
        return torch.cosine_similarity(embed1.unsqueeze(1), embed2.unsqueeze(0), dim=-1)

    def _guide_features(self, sentence_features: list[dict[str, Tensor]]) -> list[dict[str, Any]]:
        if not self.must_retokenize:
            return sentence_features
        guide_features = []
        device = self.guide.device
        for features in sentence_features:
            texts = [self.tokenizer.decode(ids.tolist(), skip_special_tokens=True) for ids in features["input_ids"]]
            guide_features.append({k: v.to(device) if isinstance(v, Tensor) else v
                                   for k, v in self.guide.preprocess(texts).items()})
        return guide_features

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        sentence_features = list(sentence_features)
        embeddings = embed_columns(self.model, sentence_features)
        with torch.no_grad():
            guide_embeddings = embed_columns(self.guide, self._guide_features(sentence_features))
        return self.compute_loss_from_embeddings(embeddings, guide_embeddings)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], guide_embeddings: list[Tensor]) -> Tensor:
        """The GIST loss from the model's and the guide's embeddings of the 2 or 3 columns."""
        if len(embeddings) not in (2, 3):
            raise ValueError(f"GISTEmbedLoss expects 2 or 3 input columns, got {len(embeddings)}")
        anchor, positive = embeddings[0], embeddings[1]  # (B, D)
        anchor_guide, positive_guide = guide_embeddings[0], guide_embeddings[1]
        negative = embeddings[2] if len(embeddings) == 3 else None
        negative_guide = guide_embeddings[2] if len(embeddings) == 3 else None

        batch_size = anchor.size(0)
        offset = 0
        if self.gather_across_devices:
            positive, positive_guide = all_gather_with_grad(positive), all_gather_with_grad(positive_guide)  # (N, D)
            if negative is not None:
                negative, negative_guide = all_gather_with_grad(negative), all_gather_with_grad(negative_guide)
            offset = get_rank() * batch_size

        guided_ap = self.sim_matrix(anchor_guide, positive_guide)  # (B, N)
        guided_pos = guided_ap.diagonal(offset=offset).view(-1, 1)  # (B, 1): guide sim of each true pair
        rows = torch.arange(batch_size, device=anchor.device)
        is_positive = torch.zeros_like(guided_ap, dtype=torch.bool)
        is_positive[rows, offset + rows] = True

        scores = [self._mask(guided_ap, self.sim_matrix(anchor, positive), guided_pos, protect=is_positive)]
        if self.contrast_anchors:
            scores.append(self._mask(self.sim_matrix(anchor_guide, anchor_guide), self.sim_matrix(anchor, anchor),
                                     guided_pos))
        if self.contrast_positives:
            local = slice(offset, offset + batch_size)
            local_pos, local_pos_guide = positive[local], positive_guide[local]
            scores.append(self._mask(self.sim_matrix(local_pos_guide, positive_guide),
                                     self.sim_matrix(local_pos, positive), guided_pos))
        if negative is not None:
            scores.append(self._mask(self.sim_matrix(anchor_guide, negative_guide), self.sim_matrix(anchor, negative),
                                     guided_pos))
        logits = torch.cat(scores, dim=1) / self.temperature  # (B, N + B + N [+ N])
        targets = torch.arange(offset, offset + batch_size, device=anchor.device)
        return self.cross_entropy_loss(logits, targets)

    def _mask(self, guided: Tensor, sims: Tensor, guided_pos: Tensor, protect: Tensor | None = None) -> Tensor:
        return mask_false_negatives(sims, guided, guided_pos, self.margin_strategy, self.margin, protect)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "guide": self.guide,
            "temperature": self.temperature,
            "margin_strategy": self.margin_strategy,
            "margin": self.margin,
            "contrast_anchors": self.contrast_anchors,
            "contrast_positives": self.contrast_positives,
            "gather_across_devices": self.gather_across_devices,
        }

    @property
    def citation(self) -> str:
        return """
@misc{solatorio2024gistembed,
    title={GISTEmbed: Guided In-sample Selection of Training Negatives for Text Embedding Fine-tuning},
    author={Aivin V. Solatorio},
    year={2024},
    eprint={2402.16829},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""
