"""Training losses for CrossEncoder models, with sentence-transformers' names, arguments and defaults.

A CrossEncoder loss owns the model and takes the batch's **raw texts**: ``loss(inputs, labels)`` where ``inputs``
holds one list per dataset column. The loss builds the (text, text) pairs, tokenizes them with
``model.preprocess`` and scores them with ``model(features)["scores"]``. Families:

- pointwise (one label per pair): BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss;
- margins and in-batch negatives: MarginMSELoss, MultipleNegativesRankingLoss, CachedMultipleNegativesRankingLoss;
- listwise, ``(query, [doc_1, ..., doc_n])`` with one label per document and lists of any lengths: ListNetLoss,
  ListMLELoss, PListMLELoss, LambdaLoss (and its weighting schemes), RankNetLoss, ADRMSELoss.

``LOSSES`` maps each loss class name to its class.

Reference: sentence-transformers v6.2 ``cross_encoder/losses/``.
"""

from __future__ import annotations

from torch import nn

from embedkit.cross_encoder.losses.adr_mse import ADRMSELoss
from embedkit.cross_encoder.losses.cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss
from embedkit.cross_encoder.losses.lambda_loss import (
    BaseWeightingScheme,
    LambdaLoss,
    LambdaRankScheme,
    NDCGLoss1Scheme,
    NDCGLoss2PPScheme,
    NDCGLoss2Scheme,
    NoWeightingScheme,
    RankNetLoss,
)
from embedkit.cross_encoder.losses.list_net import ListNetLoss
from embedkit.cross_encoder.losses.margin_mse import MarginMSELoss
from embedkit.cross_encoder.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from embedkit.cross_encoder.losses.plist_mle import ListMLELoss, PListMLELambdaWeight, PListMLELoss
from embedkit.cross_encoder.losses.pointwise import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss

LOSSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        BinaryCrossEntropyLoss,
        CrossEntropyLoss,
        MSELoss,
        MarginMSELoss,
        MultipleNegativesRankingLoss,
        CachedMultipleNegativesRankingLoss,
        ListNetLoss,
        ListMLELoss,
        PListMLELoss,
        LambdaLoss,
        RankNetLoss,
        ADRMSELoss,
    )
}

__all__ = [
    "LOSSES",
    "ADRMSELoss",
    "BaseWeightingScheme",
    "BinaryCrossEntropyLoss",
    "CachedMultipleNegativesRankingLoss",
    "CrossEntropyLoss",
    "LambdaLoss",
    "LambdaRankScheme",
    "ListMLELoss",
    "ListNetLoss",
    "MSELoss",
    "MarginMSELoss",
    "MultipleNegativesRankingLoss",
    "NDCGLoss1Scheme",
    "NDCGLoss2PPScheme",
    "NDCGLoss2Scheme",
    "NoWeightingScheme",
    "PListMLELambdaWeight",
    "PListMLELoss",
    "RankNetLoss",
]
