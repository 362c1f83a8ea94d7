"""LambdaLoss (with its weighting schemes) and RankNetLoss: weighted pairwise logistic losses over ranked lists.

Documents are put in the order of the model's scores. For every pair (i, j) of positions whose labels satisfy
``y_i > y_j`` (NDCGLoss1: every pair of real documents) with i or j in the top k, the loss adds
``-w_ij * log sigmoid(sigma * (s_i - s_j))`` (base 2 by default) and averages over those pairs. The weighting
scheme chooses ``w_ij`` from the gains ``G = (2^y - 1) / maxDCG@k`` and the discounts ``D_r = log2(1 + r)``:

- NoWeightingScheme: 1 (this is RankNet);
- NDCGLoss1Scheme: ``G_i / D_i``;
- NDCGLoss2Scheme: ``|1/D_|i-j|| - 1/D_{|i-j|+1}|| * |G_i - G_j|``;
- LambdaRankScheme: ``|1/D_i - 1/D_j| * |G_i - G_j|``;
- NDCGLoss2PPScheme: ``mu * NDCGLoss2 + LambdaRank``.

References:
    - Wang et al., 2018, "The LambdaLoss Framework for Ranking Metric Optimization", CIKM.
    - Burges et al., 2005, "Learning to Rank using Gradient Descent", ICML (RankNet).
    - sentence-transformers ``cross_encoder/losses/{lambda_loss,rank_net}.py`` (v6.2).

Einstein legend: B queries, N the longest list (positions in score order).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn

from embedkit.cross_encoder.losses._common import check_cross_encoder, fullname, score_lists
from embedkit.cross_encoder.model import CrossEncoder


class BaseWeightingScheme(nn.Module):
    """``forward(gain (B, N), discount (1, N), true_sorted (B, N)) -> weights`` broadcastable to (B, N, N)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        raise NotImplementedError


class NoWeightingScheme(BaseWeightingScheme):
    """Every pair weighs 1 (RankNet)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        return torch.ones((), device=gain.device)


class NDCGLoss1Scheme(BaseWeightingScheme):
    """``w_ij = G_i / D_i`` (a bound on NDCG; used with every pair of real documents)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        return (gain / discount)[:, :, None]


class NDCGLoss2Scheme(BaseWeightingScheme):
    """``w_ij = |1/D_d - 1/D_{d+1}| * |G_i - G_j|`` with ``d = |i - j|`` (a tighter NDCG bound)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        n = gain.shape[1]
        positions = torch.arange(n, device=gain.device)
        distance = (positions[:, None] - positions[None, :]).abs()  # (N, N)
        inverse = 1.0 / discount[0]  # (N,): 1 / D_r for r = 1..N
        # |1/D_d - 1/D_{d+1}| for d = 1..N-1 (index d - 1 and d); d = 0 (the diagonal) weighs 0.
        step = torch.cat([torch.zeros(1, device=gain.device, dtype=inverse.dtype), (inverse[:-1] - inverse[1:]).abs()])
        return step[distance][None] * (gain[:, :, None] - gain[:, None, :]).abs()


class LambdaRankScheme(BaseWeightingScheme):
    """``w_ij = |1/D_i - 1/D_j| * |G_i - G_j|`` (LambdaRank's delta-NDCG)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        inverse = 1.0 / discount  # (1, N)
        return (inverse[:, :, None] - inverse[:, None, :]).abs() * (gain[:, :, None] - gain[:, None, :]).abs()


class NDCGLoss2PPScheme(BaseWeightingScheme):
    """``mu * NDCGLoss2 + LambdaRank`` (NDCG-Loss2++, the paper's best).

    Args:
        mu: weight of the NDCGLoss2 term.
    """

    def __init__(self, mu: float = 10.0) -> None:
        super().__init__()
        self.mu = mu
        self.ndcg_loss2 = NDCGLoss2Scheme()
        self.lambda_rank = LambdaRankScheme()

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        return self.mu * self.ndcg_loss2(gain, discount, true_sorted) + self.lambda_rank(gain, discount, true_sorted)


def lambda_loss(logits: Tensor, labels: Tensor, mask: Tensor, weighting_scheme: nn.Module, k: int | None = None,
                sigma: float = 1.0, eps: float = 1e-10, reduction_log: str = "binary") -> Tensor:
    """Mean weighted pairwise logistic loss over the selected pairs (see the module docstring).

    Shapes: ``logits``, ``labels``, ``mask`` (B, N).
    """
    n = logits.shape[1]
    k = k or n
    # Padding sorts last: its score is below every real one and its label is -inf (never in a pair).
    order = logits.masked_fill(~mask, float("-inf")).sort(dim=1, descending=True).indices  # (B, N)
    scores = logits.gather(1, order)  # (B, N), best first
    valid = mask.gather(1, order)
    true = labels.gather(1, order).masked_fill(~valid, float("-inf"))  # labels in score order
    ideal = labels.masked_fill(~mask, float("-inf")).sort(dim=1, descending=True).values  # labels best first

    diffs = true[:, :, None] - true[:, None, :]  # (B, N, N), NaN where both are padding
    pairs = valid[:, :, None] & valid[:, None, :]
    if not isinstance(weighting_scheme, NDCGLoss1Scheme):
        pairs = pairs & (diffs > 0)
    positions = torch.arange(n, device=logits.device)
    pairs = pairs & ((positions[:, None] < k) | (positions[None, :] < k))  # either document in the top k

    discount = torch.log2(2.0 + positions.float())[None, :]  # (1, N): log2(1 + r), r = 1..N
    true, ideal = true.clamp(min=0.0), ideal.clamp(min=0.0)  # padding -> gain 0
    max_dcg = ((torch.pow(2.0, ideal) - 1.0) / discount)[:, :k].sum(dim=1).clamp(min=eps)  # (B,)
    gain = (torch.pow(2.0, true) - 1.0) / max_dcg[:, None]  # (B, N)
    weights = weighting_scheme(gain, discount, true)

    score_diffs = (scores[:, :, None] - scores[:, None, :]).masked_fill(~pairs, 0.0)  # (B, N, N)
    losses = weights * nn.functional.logsigmoid(sigma * score_diffs.clamp(min=-1e8, max=1e8))
    if reduction_log == "binary":
        losses = losses / math.log(2)
    selected = losses[pairs]
    return -selected.sum() / max(selected.numel(), 1)


class LambdaLoss(nn.Module):
    """LambdaLoss for a one-label CrossEncoder over ranked lists of any lengths.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        weighting_scheme: pair weights (default ``NDCGLoss2PPScheme(mu=10)``); None means NoWeightingScheme.
        k: only pairs with a document in the top k positions (by score) count, and maxDCG is cut at k
            (default: all).
        sigma: slope of the logistic.
        eps: floor of maxDCG (lists with only zero labels).
        reduction_log: ``"binary"`` (log2) or ``"natural"`` logarithm.
        activation_fn: applied to the logits first (default Identity).
        mini_batch_size: pairs scored per forward pass (default: as many as there are queries).

    Inputs:
        +----------------------------------------+--------------------------------+
        | Texts                                  | Labels                         |
        +========================================+================================+
        | (query, [doc_1, ..., doc_n])           | [score_1, ..., score_n]        |
        +----------------------------------------+--------------------------------+

    Relations:
        :class:`RankNetLoss` is LambdaLoss with NoWeightingScheme.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> loss = LambdaLoss(model, weighting_scheme=LambdaRankScheme())
        >>> loss([["q1", "q2"], [["d1", "d2", "d3"], ["e1", "e2"]]], [[2.0, 0.0, 1.0], [0.0, 1.0]]).backward()
    """

    def __init__(self, model: CrossEncoder, weighting_scheme: BaseWeightingScheme | None = NDCGLoss2PPScheme(),
                 k: int | None = None, sigma: float = 1.0, eps: float = 1e-10,
                 reduction_log: Literal["natural", "binary"] = "binary",
                 activation_fn: nn.Module | None = nn.Identity(), mini_batch_size: int | None = None) -> None:
        super().__init__()
        check_cross_encoder(self, model)
        if reduction_log not in ("natural", "binary"):
            raise ValueError(f"reduction_log must be 'natural' or 'binary', got {reduction_log!r}")
        self.model = model
        self.weighting_scheme = weighting_scheme or NoWeightingScheme()
        self.k = k
        self.sigma = sigma
        self.eps = eps
        self.reduction_log = reduction_log
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size

    def forward(self, inputs: list[Any], labels: list[Tensor] | Tensor, prompt: str | None = None,
                task: str | None = None) -> Tensor:
        logits, label_matrix, mask = score_lists(self.model, inputs, labels, self.mini_batch_size,
                                                 self.activation_fn, type(self).__name__, prompt=prompt, task=task)
        return lambda_loss(logits, label_matrix, mask, self.weighting_scheme, self.k, self.sigma, self.eps,
                           self.reduction_log)

    def get_config_dict(self) -> dict[str, Any]:
        return {"weighting_scheme": fullname(self.weighting_scheme), "k": self.k, "sigma": self.sigma,
                "eps": self.eps, "reduction_log": self.reduction_log, "activation_fn": fullname(self.activation_fn),
                "mini_batch_size": self.mini_batch_size}

    @property
    def citation(self) -> str:
        return """
@inproceedings{wang2018lambdaloss,
  title={The LambdaLoss Framework for Ranking Metric Optimization},
  author={Wang, Xuanhui and Li, Cheng and Golbandi, Nadav and Bendersky, Michael and Najork, Marc},
  booktitle={Proceedings of the 27th ACM international conference on information and knowledge management},
  pages={1313--1322},
  year={2018}
}
"""


class RankNetLoss(LambdaLoss):
    """RankNet: ``-log sigmoid(sigma * (s_i - s_j))`` over every pair with ``y_i > y_j``, averaged.

    Args:
        model: the CrossEncoder to train (``num_labels == 1``).
        k / sigma / eps / reduction_log / activation_fn / mini_batch_size: as in :class:`LambdaLoss`.

    Inputs:
        +----------------------------------------+--------------------------------+
        | Texts                                  | Labels                         |
        +========================================+================================+
        | (query, [doc_1, ..., doc_n])           | [score_1, ..., score_n]        |
        +----------------------------------------+--------------------------------+

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> model = CrossEncoder(default_model_path(), device="cpu")  # a new, untrained 1-label head
        >>> RankNetLoss(model)([["q"], [["good", "bad"]]], [[1.0, 0.0]]).backward()
    """

    def __init__(self, model: CrossEncoder, k: int | None = None, sigma: float = 1.0, eps: float = 1e-10,
                 reduction_log: Literal["natural", "binary"] = "binary",
                 activation_fn: nn.Module | None = nn.Identity(), mini_batch_size: int | None = None) -> None:
        super().__init__(model, weighting_scheme=NoWeightingScheme(), k=k, sigma=sigma, eps=eps,
                         reduction_log=reduction_log, activation_fn=activation_fn, mini_batch_size=mini_batch_size)

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        del config["weighting_scheme"]
        return config

    @property
    def citation(self) -> str:
        return """
@inproceedings{burges2005learning,
  title={Learning to Rank using Gradient Descent},
  author={Burges, Chris and Shaked, Tal and Renshaw, Erin and Lazier, Ari and Deeds, Matt and Hamilton, Nicole and Hullender, Greg},
  booktitle={Proceedings of the 22nd international conference on Machine learning},
  pages={89--96},
  year={2005}
}
"""  # noqa: E501
