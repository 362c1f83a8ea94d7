"""ListMLE and Position-aware ListMLE: the Plackett-Luce likelihood of the ideal ordering of each list.

For a list ordered best first with scores s_1..s_n, ``log P = sum_r (s_r - log sum_{k >= r} exp(s_k))``.
ListMLE maximises it; PListMLE weights position r by ``w_r / sum w`` so that the top positions count more (default
``w_r = 2^(n - r) - 1``).

References:
    - Xia et al., 2008, "Listwise Approach to Learning to Rank: Theory and Algorithm", ICML.
    - Lan et al., 2014, "Position-Aware ListMLE: A Sequential Learning Process for Ranking", UAI.
    - sentence-transformers ``cross_encoder/losses/{plist_mle,list_mle}.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, score_lists
from embedkit.cross_encoder.model import CrossEncoder

EPS = 1e-10


class PListMLELambdaWeight(nn.Module):
    """Position weights (B, N) of PListMLE from the validity mask (B, N) of left-aligned lists.

    Args:
        rank_discount_fn: ``mask -> weights``; default ``2^(n - r) - 1`` for ranks r = 1..n of a list of n
            documents (rows longer than 127 are rescaled by a power of two, which the normalisation cancels).

    Example:
        >>> PListMLELambdaWeight()(torch.tensor([[True, True, True], [True, True, False]])).tolist()
        [[3.0, 1.0, 0.0], [1.0, 0.0, -0.0]]
    """

    def __init__(self, rank_discount_fn: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__()
        self.rank_discount_fn = rank_discount_fn

    def forward(self, mask: Tensor) -> Tensor:
        if self.rank_discount_fn is not None:
            return self.rank_discount_fn(mask)
        n = mask.sum(dim=1, keepdim=True)  # (B, 1)
        ranks = torch.arange(1, mask.shape[1] + 1, device=mask.device).expand_as(mask)  # (B, N)
        shift = (n - 127).clamp_min(0)  # keeps 2^(n - 1) finite in fp32
        return (torch.pow(2.0, n - ranks - shift) - torch.pow(2.0, -shift)) * mask


def plist_mle_loss(logits: Tensor, labels: Tensor, mask: Tensor, lambda_weight: nn.Module | None,
                   respect_input_order: bool) -> Tensor:
    """Mean over queries of the (position-weighted) negative Plackett-Luce log-likelihood.

    Shapes: ``logits``, ``labels``, ``mask`` (B, N), lists left-aligned.
    """
    if respect_input_order:  # the documents are given best first
        scores, valid = logits, mask
    else:  # order by label, best first; padding sorts last
        order = labels.masked_fill(~mask, float("-inf")).sort(dim=1, descending=True, stable=True).indices
        scores, valid = logits.gather(1, order), mask.gather(1, order)
    lowest = torch.finfo(scores.dtype).min
    masked = scores.masked_fill(~valid, lowest)
    log_norm = masked.flip(1).logcumsumexp(dim=1).flip(1)  # (B, N): log sum_{k >= r} exp(s_k)
    log_probs = scores - log_norm
    if lambda_weight is not None:
        weights = lambda_weight(mask)  # (B, N)
        log_probs = log_probs * (weights / (weights.sum(dim=1, keepdim=True) + EPS))
    return -log_probs.masked_fill(~valid, 0.0).sum(dim=1).mean()


class PListMLELoss(nn.Module):
    """Position-aware ListMLE for a one-label CrossEncoder over ranked lists of any lengths.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        lambda_weight: position weights (default :class:`PListMLELambdaWeight`); None gives plain ListMLE.
        activation_fn: applied to the logits first (default Identity).
        mini_batch_size: pairs scored per forward pass (default: as many as there are queries).
        respect_input_order: the documents are already ordered best first (default); False sorts each list by its
            labels (ties keep the input order).

    Inputs:
        +----------------------------------------+--------------------------------+
        | Texts                                  | Labels                         |
        +========================================+================================+
        | (query, [doc_1, ..., doc_n])           | [score_1, ..., score_n]        |
        +----------------------------------------+--------------------------------+

    Relations:
        :class:`ListMLELoss` is this loss without position weights.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> loss = PListMLELoss(model)
        >>> loss([["q1", "q2"], [["d1", "d2", "d3"], ["e1", "e2"]]], [[3.0, 2.0, 0.0], [1.0, 0.0]]).backward()
    """

    def __init__(self, model: CrossEncoder, lambda_weight: PListMLELambdaWeight | None = PListMLELambdaWeight(),
                 activation_fn: nn.Module | None = nn.Identity(), mini_batch_size: int | None = None,
                 respect_input_order: bool = True) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        self.model = model
        self.lambda_weight = lambda_weight
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size
        self.respect_input_order = respect_input_order
        self.eps = EPS

    def forward(self, inputs: list[Any], labels: list[Tensor] | Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        logits, label_matrix, mask = score_lists(self.model, inputs, labels, self.mini_batch_size,
                                                 self.activation_fn, type(self).__name__, prompt=prompt, task=task)
        return plist_mle_loss(logits, label_matrix, mask, self.lambda_weight, self.respect_input_order)

    def get_config_dict(self) -> dict[str, Any]:
        return {"lambda_weight": None if self.lambda_weight is None else fullname(self.lambda_weight),
                "activation_fn": fullname(self.activation_fn), "mini_batch_size": self.mini_batch_size,
                "respect_input_order": self.respect_input_order}

    @property
    def citation(self) -> str:
        return """
@inproceedings{lan2014position,
  title={Position-Aware ListMLE: A Sequential Learning Process for Ranking},
  author={Lan, Yanyan and Zhu, Yadong and Guo, Jiafeng and Niu, Shuzi and Cheng, Xueqi},
  booktitle={UAI},
  volume={14},
  pages={449--458},
  year={2014}
}
"""


class ListMLELoss(PListMLELoss):
    """ListMLE: the Plackett-Luce negative log-likelihood of each list's ideal ordering, without position weights.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        activation_fn: applied to the logits first (default Identity).
        mini_batch_size: pairs scored per forward pass (default: as many as there are queries).
        respect_input_order: the documents are already ordered best first (default); False sorts by label.

    Inputs:
        +----------------------------------------+--------------------------------+
        | Texts                                  | Labels                         |
        +========================================+================================+
        | (query, [doc_1, ..., doc_n])           | [score_1, ..., score_n]        |
        +----------------------------------------+--------------------------------+

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> ListMLELoss(model)([["q"], [["best", "worse", "worst"]]], [[2.0, 1.0, 0.0]]).backward()
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module | None = nn.Identity(),
                 mini_batch_size: int | None = None, respect_input_order: bool = True) -> None:
        super().__init__(model, lambda_weight=None, activation_fn=activation_fn, mini_batch_size=mini_batch_size,
                         respect_input_order=respect_input_order)

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        del config["lambda_weight"]
        return config

    @property
    def citation(self) -> str:
        return """
@inproceedings{10.1145/1390156.1390306,
    title = {Listwise Approach to Learning to Rank - Theory and Algorithm},
    author = {Xia, Fen and Liu, Tie-Yan and Wang, Jue and Zhang, Wensheng and Li, Hang},
    booktitle = {Proceedings of the 25th International Conference on Machine Learning},
    pages = {1192-1199},
    year = {2008},
    url = {https://doi.org/10.1145/1390156.1390306},
}
"""
