"""Pointwise CrossEncoder losses: one score per (text, text) pair against one label per pair.

- :class:`BinaryCrossEntropyLoss`: relevance 0/1 (or a soft target in [0, 1]), ``BCEWithLogitsLoss``.
- :class:`CrossEntropyLoss`: a class per pair (``num_labels`` > 1 models, e.g. NLI).
- :class:`MSELoss`: regression onto a score, e.g. a teacher CrossEncoder's (distillation).

Reference: sentence-transformers ``cross_encoder/losses/{binary_cross_entropy,cross_entropy,mse}.py`` (v6.2),
whose constructors, defaults and config dicts these follow.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, score_pairs
from embedkit.cross_encoder.model import CrossEncoder


def _pair_logits(loss: nn.Module, inputs: list[list[str]], prompt: str | None = None, task: str | None = None
                 ) -> Tensor:
    if len(inputs) != 2:
        raise ValueError(f"{type(loss).__name__} expects a dataset with two non-label columns, but got a dataset "
                         f"with {len(inputs)} columns.")
    return score_pairs(loss.model, list(zip(inputs[0], inputs[1])), prompt, task)  # (B, num_labels)


def _one_label_per_pair(loss: nn.Module, labels: Tensor, batch_size: int) -> Tensor:
    if labels.numel() != batch_size:
        raise ValueError(f"{type(loss).__name__} expects {batch_size} labels (one per example), but got "
                         f"{labels.numel()} labels with shape {tuple(labels.shape)}.")
    return labels.view(-1)


class BinaryCrossEntropyLoss(nn.Module):
    """``BCEWithLogits(activation(s(a, b)), label)`` for a one-label CrossEncoder: the standard reranker loss.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        activation_fn: applied to the logits before the loss (default Identity: the loss sees raw logits).
        pos_weight: weight of the positive class, a tensor such as ``torch.tensor(4.0)``.
        **kwargs: passed to :class:`torch.nn.BCEWithLogitsLoss` (e.g. ``reduction``).

    Inputs:
        +-------------------------------------------+-----------------------------------------+
        | Texts                                     | Labels                                  |
        +===========================================+=========================================+
        | (anchor, positive/negative) pairs         | 1 if positive, 0 if negative            |
        +-------------------------------------------+-----------------------------------------+
        | (text_A, text_B) pairs                    | float similarity score in [0, 1]        |
        +-------------------------------------------+-----------------------------------------+

    Example:
        >>> import torch
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> loss = BinaryCrossEntropyLoss(model)
        >>> value = loss([["What are pandas?"] * 2, ["A kind of bear.", "A kind of fish."]], torch.tensor([1, 0]))
        >>> value.backward()
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = nn.Identity(), pos_weight: Tensor | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn
        self.pos_weight = pos_weight
        self.bce_with_logits_loss = nn.BCEWithLogitsLoss(pos_weight=pos_weight, **kwargs)

    def forward(self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        logits = self.activation_fn(_pair_logits(self, inputs, prompt, task).view(-1))  # (B,)
        labels = _one_label_per_pair(self, labels, logits.shape[0])
        return self.bce_with_logits_loss(logits, labels.to(logits.device).float())

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": fullname(self.activation_fn),
                "pos_weight": None if self.pos_weight is None else self.pos_weight.item()}


class CrossEntropyLoss(nn.Module):
    """``CrossEntropy(activation(logits (B, C)), class)`` for a CrossEncoder with ``num_labels = C`` classes.

    Args:
        model: the CrossEncoder to train; its ``num_labels`` is the number of classes.
        activation_fn: applied to the logits before the loss (default Identity).
        **kwargs: passed to :class:`torch.nn.CrossEntropyLoss` (e.g. ``label_smoothing``).

    Inputs:
        +-------------------------------------------+-----------------------------------------+
        | Texts                                     | Labels                                  |
        +===========================================+=========================================+
        | (text_A, text_B) pairs                    | class index (or class probabilities)    |
        +-------------------------------------------+-----------------------------------------+

    Example:
        >>> import torch
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), num_labels=3, device="cpu")  # a new, untrained 3-label head
        >>> loss = CrossEntropyLoss(model)
        >>> loss([["A man eats.", "A man eats."], ["Someone eats.", "Nobody eats."]], torch.tensor([0, 2])).backward()
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = nn.Identity(), **kwargs: Any) -> None:
        super().__init__()
        check_cross_encoder(self, model, single_label=False)
        self.model = model
        self.activation_fn = activation_fn
        self.ce_loss = nn.CrossEntropyLoss(**kwargs)

    def forward(self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        logits = self.activation_fn(_pair_logits(self, inputs, prompt, task))  # (B, C)
        labels = labels.to(logits.device)
        if not labels.is_floating_point() and labels.shape == (logits.shape[0], 1):
            labels = labels.view(-1)
        return self.ce_loss(logits, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return {}


class MSELoss(nn.Module):
    """``MSE(activation(s(a, b)), label)``: regress a one-label CrossEncoder's score onto a target score.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        activation_fn: applied to the logits before the loss (e.g. Sigmoid when the targets are in [0, 1]).
        **kwargs: passed to :class:`torch.nn.MSELoss`.

    Inputs:
        +-------------------------------------------+-----------------------------------------+
        | Texts                                     | Labels                                  |
        +===========================================+=========================================+
        | (text_A, text_B) pairs                    | target score (e.g. a teacher's logit)   |
        +-------------------------------------------+-----------------------------------------+

    Relations:
        :class:`~embedkit.cross_encoder.losses.MarginMSELoss` regresses score margins to negatives instead.

    Example:
        >>> import torch
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> MSELoss(model)([["q", "q"], ["doc a", "doc b"]], torch.tensor([2.5, -1.0])).backward()
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = nn.Identity(), **kwargs: Any) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.activation_fn = activation_fn
        self.loss_fct = nn.MSELoss(**kwargs)

    def forward(self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        logits = self.activation_fn(_pair_logits(self, inputs, prompt, task).view(-1))  # (B,)
        labels = _one_label_per_pair(self, labels, logits.shape[0])
        return self.loss_fct(logits, labels.detach().to(logits.device).float())

    def get_config_dict(self) -> dict[str, Any]:
        return {"activation_fn": fullname(self.activation_fn)}
