"""Training losses for SentenceTransformer models, with sentence-transformers' names, arguments and defaults.

Every loss is an ``nn.Module`` that owns the model: ``loss(sentence_features, labels)`` takes one tokenized features
dict per dataset column and returns a scalar (or, for regularisers, a dict of named scalars that the trainer sums).
Most also offer ``compute_loss_from_embeddings(embeddings, labels)``, usable with ``model=None``.
``LOSSES`` maps each class name to its class (used to rebuild a loss from its name, e.g. from a model card).

Reference: sentence-transformers v6.2 ``sentence_transformer/losses/``.
"""

from __future__ import annotations

from torch import nn

from .adaptive_layer import AdaptiveLayerLoss
from .angle import AnglELoss
from .cached_gist_embed import CachedGISTEmbedLoss
from .cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from .cached_multiple_negatives_symmetric_ranking import CachedMultipleNegativesSymmetricRankingLoss
from .batch_all_triplet import BatchAllTripletLoss
from .batch_hard_soft_margin_triplet import BatchHardSoftMarginTripletLoss
from .batch_hard_triplet import BatchHardTripletLoss, BatchHardTripletLossDistanceFunction
from .batch_semi_hard_triplet import BatchSemiHardTripletLoss
from .contrastive import ContrastiveLoss, SiameseDistanceMetric
from .contrastive_tension import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionLoss,
    ContrastiveTensionLossInBatchNegatives,
)
from .cosent import CoSENTLoss
from .cosine_similarity import CosineSimilarityLoss
from .denoising_auto_encoder import DenoisingAutoEncoderLoss
from .distill_kl_div import DistillKLDivLoss
from .embed_distill import EmbedDistillLoss
from .gist_embed import GISTEmbedLoss
from .global_orthogonal_regularization import GlobalOrthogonalRegularizationLoss
from .margin_mse import MarginMSELoss
from .matryoshka import MatryoshkaLoss
from .matryoshka_2d import Matryoshka2dLoss
from .mega_batch_margin import MegaBatchMarginLoss
from .mse import MSELoss
from .multiple_negatives_ranking import MultipleNegativesRankingLoss
from .multiple_negatives_symmetric_ranking import MultipleNegativesSymmetricRankingLoss
from .online_contrastive import OnlineContrastiveLoss
from .softmax import SoftmaxLoss
from .triplet import TripletDistanceMetric, TripletLoss

LOSSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        MultipleNegativesRankingLoss,
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesSymmetricRankingLoss,
        CachedMultipleNegativesSymmetricRankingLoss,
        GISTEmbedLoss,
        CachedGISTEmbedLoss,
        CosineSimilarityLoss,
        CoSENTLoss,
        AnglELoss,
        ContrastiveLoss,
        OnlineContrastiveLoss,
        ContrastiveTensionLoss,
        ContrastiveTensionLossInBatchNegatives,
        TripletLoss,
        BatchAllTripletLoss,
        BatchHardTripletLoss,
        BatchSemiHardTripletLoss,
        BatchHardSoftMarginTripletLoss,
        MSELoss,
        MarginMSELoss,
        DistillKLDivLoss,
        EmbedDistillLoss,
        SoftmaxLoss,
        MegaBatchMarginLoss,
        GlobalOrthogonalRegularizationLoss,
        MatryoshkaLoss,
        Matryoshka2dLoss,
        AdaptiveLayerLoss,
        DenoisingAutoEncoderLoss,
    )
}

__all__ = [
    "LOSSES",
    "AdaptiveLayerLoss",
    "AnglELoss",
    "BatchAllTripletLoss",
    "BatchHardSoftMarginTripletLoss",
    "BatchHardTripletLoss",
    "BatchHardTripletLossDistanceFunction",
    "BatchSemiHardTripletLoss",
    "CachedGISTEmbedLoss",
    "CachedMultipleNegativesRankingLoss",
    "CachedMultipleNegativesSymmetricRankingLoss",
    "CoSENTLoss",
    "ContrastiveLoss",
    "ContrastiveTensionDataLoader",
    "ContrastiveTensionLoss",
    "ContrastiveTensionLossInBatchNegatives",
    "CosineSimilarityLoss",
    "DenoisingAutoEncoderLoss",
    "DistillKLDivLoss",
    "EmbedDistillLoss",
    "GISTEmbedLoss",
    "GlobalOrthogonalRegularizationLoss",
    "MSELoss",
    "MarginMSELoss",
    "Matryoshka2dLoss",
    "MatryoshkaLoss",
    "MegaBatchMarginLoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "SiameseDistanceMetric",
    "SoftmaxLoss",
    "TripletDistanceMetric",
    "TripletLoss",
]
