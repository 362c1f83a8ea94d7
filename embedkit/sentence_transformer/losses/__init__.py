"""Training losses for SentenceTransformer models, with sentence-transformers' names, arguments and defaults.

Every loss is an ``nn.Module`` that owns the model: ``loss(sentence_features, labels)`` takes one tokenized features
dict per dataset column and returns a scalar (or, for regularisers, a dict of named scalars that the trainer sums).
Most also offer ``compute_loss_from_embeddings(embeddings, labels)``, usable with ``model=None``.
``LOSSES`` maps each class name to its class (used to rebuild a loss from its name, e.g. from a model card).

Reference: sentence-transformers v6.2 ``sentence_transformer/losses/``.
"""

from __future__ import annotations

from torch import nn

from embedkit.sentence_transformer.losses.adaptive_layer import AdaptiveLayerLoss
from embedkit.sentence_transformer.losses.angle import AnglELoss
from embedkit.sentence_transformer.losses.batch_all_triplet import BatchAllTripletLoss
from embedkit.sentence_transformer.losses.batch_hard_soft_margin_triplet import BatchHardSoftMarginTripletLoss
from embedkit.sentence_transformer.losses.batch_hard_triplet import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
)
from embedkit.sentence_transformer.losses.batch_semi_hard_triplet import BatchSemiHardTripletLoss
from embedkit.sentence_transformer.losses.cached_gist_embed import CachedGISTEmbedLoss
from embedkit.sentence_transformer.losses.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from embedkit.sentence_transformer.losses.cached_multiple_negatives_symmetric_ranking import (
    CachedMultipleNegativesSymmetricRankingLoss,
)
from embedkit.sentence_transformer.losses.contrastive import ContrastiveLoss, SiameseDistanceMetric
from embedkit.sentence_transformer.losses.contrastive_tension import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionLoss,
    ContrastiveTensionLossInBatchNegatives,
)
from embedkit.sentence_transformer.losses.cosent import CoSENTLoss
from embedkit.sentence_transformer.losses.cosine_similarity import CosineSimilarityLoss
from embedkit.sentence_transformer.losses.denoising_auto_encoder import DenoisingAutoEncoderLoss
from embedkit.sentence_transformer.losses.distill_kl_div import DistillKLDivLoss
from embedkit.sentence_transformer.losses.embed_distill import EmbedDistillLoss
from embedkit.sentence_transformer.losses.gist_embed import GISTEmbedLoss
from embedkit.sentence_transformer.losses.global_orthogonal_regularization import GlobalOrthogonalRegularizationLoss
from embedkit.sentence_transformer.losses.margin_mse import MarginMSELoss
from embedkit.sentence_transformer.losses.matryoshka import MatryoshkaLoss
from embedkit.sentence_transformer.losses.matryoshka_2d import Matryoshka2dLoss
from embedkit.sentence_transformer.losses.mega_batch_margin import MegaBatchMarginLoss
from embedkit.sentence_transformer.losses.mse import MSELoss
from embedkit.sentence_transformer.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from embedkit.sentence_transformer.losses.multiple_negatives_symmetric_ranking import (
    MultipleNegativesSymmetricRankingLoss,
)
from embedkit.sentence_transformer.losses.online_contrastive import OnlineContrastiveLoss
from embedkit.sentence_transformer.losses.softmax import SoftmaxLoss
from embedkit.sentence_transformer.losses.triplet import TripletDistanceMetric, TripletLoss

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
