"""Contrastive Tension (CT): unsupervised training with two copies of the model, plus its data loader.

``ContrastiveTensionLoss`` scores (sentence, sentence) pairs -- identical texts are positives, random pairs are
negatives -- with a dot product between the two model copies and a binary cross-entropy.
``ContrastiveTensionLossInBatchNegatives`` encodes each sentence with both copies and uses the other sentences of
the batch as negatives (symmetric InfoNCE with a learnable scale). The three classes are small siblings that share
this file.

References:
    - Carlsson et al., 2021, "Semantic Re-tuning with Contrastive Tension", ICLR,
      https://openreview.net/forum?id=Ov_sMNau-PF.
    - sentence-transformers ``sentence_transformer/losses/contrastive_tension.py`` (v6.2).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.util import cos_sim
from embedkit.util.misc import similarity_fct_name

_CITATION = """
@inproceedings{carlsson2021semantic,
    title={Semantic Re-tuning with Contrastive Tension},
    author={Fredrik Carlsson and Amaru Cuba Gyllensten and Evangelia Gogoulou and Erik Ylip{\"a}{\"a} Hellqvist and Magnus Sahlgren},
    booktitle={International Conference on Learning Representations},
    year={2021},
    url={https://openreview.net/forum?id=Ov_sMNau-PF}
}
"""  # noqa: E501


class ContrastiveTensionLoss(nn.Module):
    """Binary cross-entropy (summed) on ``<model1(a), model2(b)>`` with label 1 iff a and b are the same text.

    ``model1`` is a frozen-at-start deep copy of ``model`` that is also trained; ``model`` itself (``model2``) is
    the one to keep. Without labels, a pair is positive when its non-padding token ids are identical.

    Args:
        model: The SentenceTransformer to train (becomes ``model2``; ``model1`` is a copy of it).

    Inputs:
        +--------------------------------+----------------------------------+
        | Texts                          | Labels                           |
        +================================+==================================+
        | (sentence_A, sentence_B) pairs | 1 if identical, else 0 (or none) |
        +--------------------------------+----------------------------------+

    Use :class:`ContrastiveTensionDataLoader` to build such batches.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = ContrastiveTensionLoss(model)
        >>> a = model.preprocess(["same text", "one text"]); b = model.preprocess(["same text", "other text"])
        >>> loss([a, b], None).ndim
        0
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.model1 = copy.deepcopy(model)
        self.criterion = nn.BCEWithLogitsLoss(reduction="sum")

    @property
    def model2(self) -> nn.Module:
        return self.model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        features_a, features_b = tuple(sentence_features)
        reps_a = self.model1(features_a)["sentence_embedding"]  # (B, D)
        reps_b = self.model(features_b)["sentence_embedding"]  # (B, D)
        scores = (reps_a * reps_b).sum(dim=-1)  # (B,) row-wise dot products
        if labels is None:
            labels = self._identical_rows(features_a, features_b).to(scores)
        return self.criterion(scores, labels.view(-1).type_as(scores))

    @staticmethod
    def _identical_rows(features_a: dict[str, Tensor], features_b: dict[str, Tensor]) -> Tensor:
        ids_a, ids_b = features_a["input_ids"], features_b["input_ids"]
        mask_a, mask_b = features_a.get("attention_mask"), features_b.get("attention_mask")
        if mask_a is None or mask_b is None:
            return (ids_a == ids_b).all(dim=1)
        rows = zip(ids_a, mask_a.bool(), ids_b, mask_b.bool())
        return torch.tensor([torch.equal(a[ma], b[mb]) for a, ma, b, mb in rows], device=ids_a.device)

    def get_config_dict(self) -> dict[str, Any]:
        return {}

    @property
    def citation(self) -> str:
        return _CITATION


class ContrastiveTensionLossInBatchNegatives(nn.Module):
    """Symmetric cross-entropy between two model copies' embeddings of the same batch, with in-batch negatives.

    ``scores = similarity_fct(model1(x), model2(x)) * exp(logit_scale)``; the loss is the mean of the row-wise and
    column-wise cross-entropy with the diagonal as target. ``logit_scale`` starts at ``log(scale)`` and is trained.

    Args:
        model: The SentenceTransformer to train (becomes ``model2``; ``model1`` is a copy of it).
        scale: Initial value of the (learnable) inverse temperature.
        similarity_fct: ``(a (B, D), b (B, D)) -> (B, B)`` similarity.

    Inputs:
        +--------------------+--------+
        | Texts              | Labels |
        +====================+========+
        | single sentences   | none   |
        +--------------------+--------+

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = ContrastiveTensionLossInBatchNegatives(model)
        >>> loss([model.preprocess(["a cat", "a dog", "a car"])], None).ndim
        0
    """

    def __init__(self, model: nn.Module, scale: float = 20.0,
                 similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim) -> None:
        super().__init__()
        self.model = model
        self.model1 = copy.deepcopy(model)
        self.similarity_fct = similarity_fct
        self.cross_entropy_loss = nn.CrossEntropyLoss()
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(scale))

    @property
    def model2(self) -> nn.Module:
        return self.model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        features = list(sentence_features)[0]
        reps_a = self.model1(features)["sentence_embedding"]  # (B, D)
        reps_b = self.model(features)["sentence_embedding"]  # (B, D)
        scores = self.similarity_fct(reps_a, reps_b) * self.logit_scale.exp()  # (B, B)
        targets = torch.arange(len(scores), dtype=torch.long, device=scores.device)
        return (self.cross_entropy_loss(scores, targets) + self.cross_entropy_loss(scores.t(), targets)) / 2

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.logit_scale.exp().item(), "similarity_fct": similarity_fct_name(self.similarity_fct)}

    @property
    def citation(self) -> str:
        return _CITATION


class ContrastiveTensionDataLoader:
    """Yields batches of ``InputExample(texts=[s1, s2], label)``: every ``pos_neg_ratio``-th pair is (s, s) with
    label 1, the rest pair two different random sentences with label 0. Shuffles ``sentences`` in place each epoch.

    Args:
        sentences: The unlabeled corpus.
        batch_size: Pairs per batch; must be divisible by ``pos_neg_ratio``.
        pos_neg_ratio: One positive pair per this many pairs.

    Example:
        >>> loader = ContrastiveTensionDataLoader([f"s{i}" for i in range(30)], batch_size=4, pos_neg_ratio=4)
        >>> batch = next(iter(loader))
        >>> [example.label for example in batch]
        [1, 0, 0, 0]
    """

    def __init__(self, sentences: list[str], batch_size: int, pos_neg_ratio: int = 8) -> None:
        self.sentences = sentences
        self.batch_size = batch_size
        self.pos_neg_ratio = pos_neg_ratio
        self.collate_fn: Callable[[list[Any]], Any] | None = None
        if self.batch_size % self.pos_neg_ratio != 0:
            raise ValueError(f"batch_size must be divisible by pos_neg_ratio, got batch_size={batch_size!r} and "
                             f"pos_neg_ratio={pos_neg_ratio!r}")

    def __iter__(self) -> Iterator[Any]:
        from embedkit.data import InputExample

        random.shuffle(self.sentences)
        sentences = iter(self.sentences)
        for _ in range(len(self)):
            batch = []
            for pair_idx in range(self.batch_size):
                first = next(sentences)
                label = int(pair_idx % self.pos_neg_ratio == 0)
                second = first if label else next(sentences)
                batch.append(InputExample(texts=[first, second], label=label))
            yield self.collate_fn(batch) if self.collate_fn is not None else batch

    def __len__(self) -> int:
        sentences_per_batch = 2 * self.batch_size - self.batch_size // self.pos_neg_ratio
        return len(self.sentences) // sentences_per_batch
