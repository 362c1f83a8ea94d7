"""Training losses for SparseEncoder models, with sentence-transformers' names, arguments and defaults.

:class:`SpladeLoss` (and its GradCache twin :class:`CachedSpladeLoss`) and :class:`CSRLoss` run the model and add
the sparsity or reconstruction terms; the Sparse* losses inside them supply the ranking/distillation objective
(they reuse the dense losses of :mod:`embedkit.losses` and raise if used on their own, except SparseMSELoss).
``LOSSES`` maps each class name to its class.

Reference: sentence-transformers v6.2 ``sparse_encoder/losses/``.
"""

from __future__ import annotations

from torch import nn

from .cached_splade import CachedSpladeLoss
from .csr import CSRLoss, CSRReconstructionLoss
from .flops import FlopsLoss
from .sparse_angle import SparseAnglELoss
from .sparse_cosent import SparseCoSENTLoss
from .sparse_cosine_similarity import SparseCosineSimilarityLoss
from .sparse_distill_kl_div import SparseDistillKLDivLoss
from .sparse_margin_mse import SparseMarginMSELoss
from .sparse_mse import SparseMSELoss
from .sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss
from .sparse_triplet import SparseTripletLoss
from .splade import SpladeLoss

LOSSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        SpladeLoss,
        CachedSpladeLoss,
        FlopsLoss,
        CSRLoss,
        CSRReconstructionLoss,
        SparseMultipleNegativesRankingLoss,
        SparseMarginMSELoss,
        SparseCoSENTLoss,
        SparseAnglELoss,
        SparseCosineSimilarityLoss,
        SparseTripletLoss,
        SparseDistillKLDivLoss,
        SparseMSELoss,
    )
}

__all__ = [
    "LOSSES",
    "CSRLoss",
    "CSRReconstructionLoss",
    "CachedSpladeLoss",
    "FlopsLoss",
    "SparseAnglELoss",
    "SparseCoSENTLoss",
    "SparseCosineSimilarityLoss",
    "SparseDistillKLDivLoss",
    "SparseMSELoss",
    "SparseMarginMSELoss",
    "SparseMultipleNegativesRankingLoss",
    "SparseTripletLoss",
    "SpladeLoss",
]
