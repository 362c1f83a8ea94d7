"""SoftmaxLoss: a linear classifier on ``[u, v, |u - v|, u * v]`` trained with cross-entropy (NLI-style SBERT).

The classifier lives in the loss, so the trainer (which optimizes every parameter of the loss modules) trains it
together with the model; it is not saved with the model.

References:
    - Reimers & Gurevych, 2019, "Sentence-BERT", arXiv:1908.10084; Conneau et al., 2017, "InferSent",
      arXiv:1705.02364 (the feature concatenation).
    - sentence-transformers ``sentence_transformer/losses/softmax.py`` (v6.2).
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import embed_columns

logger = logging.getLogger(__name__)


def _renamed_kwarg(old: str, new: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Accept keyword ``old`` as a deprecated alias of ``new`` (sentence-transformers v5 spelling)."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise ValueError(f"pass only one of {old!r} (deprecated) and {new!r}")
                warnings.warn(f"{old!r} is deprecated, use {new!r}", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorator


class SoftmaxLoss(nn.Module):
    """``CrossEntropy(Linear(concat(u, v, |u - v|, u * v)), label)`` for sentence-pair classification.

    Args:
        model: The SentenceTransformer to train.
        embedding_dimension: Size of the model's sentence embeddings (v5 name ``sentence_embedding_dimension`` is
            accepted too).
        num_labels: Number of classes.
        concatenation_sent_rep: Include ``u`` and ``v``.
        concatenation_sent_difference: Include ``|u - v|``.
        concatenation_sent_multiplication: Include ``u * v``.
        loss_fct: Criterion on the logits (default ``nn.CrossEntropyLoss()``).

    Inputs:
        +--------------------------------+-------------+
        | Texts                          | Labels      |
        +================================+=============+
        | (sentence_A, sentence_B) pairs | class (int) |
        +--------------------------------+-------------+

    With ``labels=None`` the forward returns ``(embeddings, logits)`` instead of a loss.

    Example:
        >>> import torch
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = SoftmaxLoss(model, model.get_embedding_dimension(), num_labels=3)
        >>> feats = [model.preprocess(["a cat", "a dog"]), model.preprocess(["a kitten", "a car"])]
        >>> loss(feats, torch.tensor([0, 2])).ndim
        0
    """

    @_renamed_kwarg("sentence_embedding_dimension", "embedding_dimension")
    def __init__(
        self,
        model: nn.Module,
        embedding_dimension: int,
        num_labels: int,
        concatenation_sent_rep: bool = True,
        concatenation_sent_difference: bool = True,
        concatenation_sent_multiplication: bool = False,
        loss_fct: Callable[[Tensor, Tensor], Tensor] = nn.CrossEntropyLoss(),
    ) -> None:
        super().__init__()
        self.model = model
        self.num_labels = num_labels
        self.concatenation_sent_rep = concatenation_sent_rep
        self.concatenation_sent_difference = concatenation_sent_difference
        self.concatenation_sent_multiplication = concatenation_sent_multiplication
        num_vectors = 2 * concatenation_sent_rep + concatenation_sent_difference + concatenation_sent_multiplication
        if num_vectors == 0:
            raise ValueError("at least one of concatenation_sent_rep, concatenation_sent_difference or "
                             "concatenation_sent_multiplication must be True")
        logger.info("SoftmaxLoss: %d vectors concatenated", num_vectors)
        self.classifier = nn.Linear(num_vectors * embedding_dimension, num_labels, device=model.device)
        self.loss_fct = loss_fct

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None
                ) -> Tensor | tuple[list[Tensor], Tensor]:
        reps = embed_columns(self.model, sentence_features)
        if len(reps) != 2:
            raise ValueError(f"SoftmaxLoss expects 2 input columns, got {len(reps)}")
        rep_a, rep_b = reps  # (B, D)
        parts = []
        if self.concatenation_sent_rep:
            parts += [rep_a, rep_b]
        if self.concatenation_sent_difference:
            parts.append(torch.abs(rep_a - rep_b))
        if self.concatenation_sent_multiplication:
            parts.append(rep_a * rep_b)
        logits = self.classifier(torch.cat(parts, 1).to(self.classifier.weight.dtype))  # (B, num_labels)
        if labels is None:
            return reps, logits
        if self.num_labels == 1 or labels.shape != logits.shape:  # class ids; (B, C) labels are soft targets
            labels = labels.view(-1)
        return self.loss_fct(logits, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "num_labels": self.num_labels,
            "concatenation_sent_rep": self.concatenation_sent_rep,
            "concatenation_sent_difference": self.concatenation_sent_difference,
            "concatenation_sent_multiplication": self.concatenation_sent_multiplication,
        }

    @property
    def citation(self) -> str:
        return """
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}
"""
