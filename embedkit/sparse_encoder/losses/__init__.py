"""Training losses for SparseEncoder models, with sentence-transformers' names, arguments and defaults.

:class:`SpladeLoss` (and its GradCache twin :class:`CachedSpladeLoss`) and :class:`CSRLoss` run the model and add
the sparsity or reconstruction terms; the Sparse* losses inside them supply the ranking/distillation objective
(they reuse the dense losses of :mod:`embedkit.sentence_transformer.losses` and raise if used on their own, except
SparseMSELoss). ``LOSSES`` maps each class name to its class.

Reference: sentence-transformers v6.2 ``sparse_encoder/losses/``.
"""

from __future__ import annotations

from torch import nn

from embedkit.sparse_encoder.losses.cached_splade import CachedSpladeLoss
from embedkit.sparse_encoder.losses.csr import CSRLoss, CSRReconstructionLoss
from embedkit.sparse_encoder.losses.flops import FlopsLoss
from embedkit.sparse_encoder.losses.sparse_angle import SparseAnglELoss
from embedkit.sparse_encoder.losses.sparse_cosent import SparseCoSENTLoss
from embedkit.sparse_encoder.losses.sparse_cosine_similarity import SparseCosineSimilarityLoss
from embedkit.sparse_encoder.losses.sparse_distill_kl_div import SparseDistillKLDivLoss
from embedkit.sparse_encoder.losses.sparse_margin_mse import SparseMarginMSELoss
from embedkit.sparse_encoder.losses.sparse_mse import SparseMSELoss
from embedkit.sparse_encoder.losses.sparse_multiple_negatives_ranking import SparseMultipleNegativesRankingLoss
from embedkit.sparse_encoder.losses.sparse_triplet import SparseTripletLoss
from embedkit.sparse_encoder.losses.splade import SpladeLoss

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
