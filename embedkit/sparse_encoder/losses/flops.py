"""FlopsLoss: the FLOPS regulariser of SPLADE, ``sum_j (mean_i |w_ij|)^2`` (embeddings are non-negative).

Minimising it pushes the *average* activation of every vocabulary entry towards zero, which is a smooth proxy for
the number of floating point operations of an inverted-index lookup (Paria et al., 2020). With ``threshold``, rows
with at most ``threshold`` active entries are left out of the mean's numerator ("FLOPS with L0 masking").

References:
    - Paria et al., 2020, "Minimizing FLOPs to Learn Efficient Sparse Representations", arXiv:2004.05665.
    - Geng et al., 2025, "Towards Competitive Search Relevance For Inference-Free Learned Sparse Retrievers"
      (L0 masking), arXiv:2504.14839.
    - sentence-transformers ``sparse_encoder/losses/flops.py`` (v6.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn


class FlopsLoss(nn.Module):
    """FLOPS regulariser on a (N, V) batch of sparse embeddings; used inside :class:`SpladeLoss`.

    Args:
        model: the SparseEncoder (kept for sentence-transformers' API; unused).
        threshold: ignore rows with this many or fewer non-zero entries (they are zeroed, not dropped, so the
            mean still divides by N); None uses every row.

    Example:
        >>> loss = FlopsLoss(None)
        >>> loss.compute_loss_from_embeddings(torch.tensor([[1.0, 0.0], [1.0, 2.0]])).item()
        2.0
    """

    def __init__(self, model: nn.Module | None, threshold: float | None = None) -> None:
        super().__init__()
        self.model = model
        self.threshold = threshold

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        raise NotImplementedError(
            "FlopsLoss is not intended to be used directly. Use it as a regularizer within the SpladeLoss class."
        )

    def compute_loss_from_embeddings(self, embeddings: Tensor) -> Tensor:
        """Shapes: ``embeddings`` (N, V) -> scalar."""
        if self.threshold is not None:
            active = (embeddings != 0).sum(dim=1)  # (N,) L0 norm of each row
            embeddings = embeddings * (active > self.threshold).float().unsqueeze(1)
        return torch.sum(torch.mean(embeddings, dim=0) ** 2)

    def get_config_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @property
    def citation(self) -> str:
        return """
@article{paria2020minimizing,
    title={Minimizing flops to learn efficient sparse representations},
    author={Paria, Biswajit and Yeh, Chih-Kuan and Yen, Ian EH and Xu, Ning and Ravikumar, Pradeep and P{'o}czos, Barnab{'a}s},
    journal={arXiv preprint arXiv:2004.05665},
    year={2020}
}
"""  # noqa: E501
