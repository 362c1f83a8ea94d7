"""SpladeLoss: a ranking/distillation loss on SPLADE embeddings plus FLOPS sparsity regularisers.

    loss = base_loss(embeddings) + w_d * R_d(cat(document columns)) + w_q * R_q(query column)

returned as a dict ``{"base_loss", "document_regularizer_loss", "query_regularizer_loss"}`` (the trainer sums it and
logs each part). Column 0 holds the queries, columns 1.. the documents (positives and negatives). The weights are
usually warmed up from 0 by :class:`~embedkit.sparse_encoder.callbacks.SpladeRegularizerWeightSchedulerCallback`,
which SparseEncoderTrainer adds automatically.

References:
    - Formal et al., 2021, "SPLADE v2: Sparse Lexical and Expansion Model for Information Retrieval",
      arXiv:2109.10086.
    - Formal et al., 2022, "From Distillation to Hard Negative Sampling: Making Sparse Neural IR Models More
      Effective", arXiv:2205.04733.
    - sentence-transformers ``sparse_encoder/losses/splade.py`` (v6.2).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.sentence_transformer.losses._columns import embed_columns, merge_columns
from embedkit.sparse_encoder.losses.flops import FlopsLoss

logger = logging.getLogger(__name__)

_CITATION = """
@misc{formal2022distillationhardnegativesampling,
      title={From Distillation to Hard Negative Sampling: Making Sparse Neural IR Models More Effective},
      author={Thibault Formal and Carlos Lassance and Benjamin Piwowarski and Stéphane Clinchant},
      year={2022},
      eprint={2205.04733},
      archivePrefix={arXiv},
      primaryClass={cs.IR},
      url={https://arxiv.org/abs/2205.04733},
}
"""


class SpladeLoss(nn.Module):
    """A base loss on sparse embeddings plus weighted query and document regularisers (FLOPS by default).

    Args:
        model: the SparseEncoder to train.
        loss: the base loss; anything with ``compute_loss_from_embeddings(embeddings, labels)`` (the Sparse*
            losses, or a dense embedkit loss).
        document_regularizer_weight: weight of the document regulariser (lambda_d), applied to all columns but the
            first (positives and negatives).
        query_regularizer_weight: weight of the query regulariser (lambda_q) on column 0; None disables it (fine
            for inference-free models, whose query side has no trainable expansion).
        document_regularizer / query_regularizer: replace the default :class:`FlopsLoss` (any module with
            ``compute_loss_from_embeddings(embeddings (N, V)) -> scalar``).
        document_regularizer_threshold / query_regularizer_threshold: ``threshold`` of the default FlopsLoss.
        use_document_regularizer_only: treat every column as documents (symmetric data): the document
            regulariser covers all columns and there is no query regulariser.

    Inputs:
        Those of ``loss``.

    Example:
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sparse_encoder import SparseEncoder
        >>> from embedkit.sparse_encoder.losses import SparseMultipleNegativesRankingLoss
        >>> from embedkit.sparse_encoder.modules import SparseStaticEmbedding
        >>> model = SparseEncoder(modules=[SparseStaticEmbedding(default_model_path())], device="cpu")
        >>> loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), document_regularizer_weight=3e-5,
        ...                   query_regularizer_weight=5e-5)
        >>> out = loss([model.preprocess(["a cat", "rain"]), model.preprocess(["a kitten", "a storm"])], None)
        >>> sorted(out)
        ['base_loss', 'document_regularizer_loss', 'query_regularizer_loss']
    """

    def __init__(
        self,
        model: nn.Module | None,
        loss: nn.Module,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: int | None = None,
        query_regularizer_threshold: int | None = None,
        use_document_regularizer_only: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.document_regularizer_weight = document_regularizer_weight
        self.query_regularizer_weight = query_regularizer_weight
        self.use_document_regularizer_only = use_document_regularizer_only
        self.document_regularizer = (document_regularizer if document_regularizer is not None
                                     else FlopsLoss(model, threshold=document_regularizer_threshold))
        if query_regularizer is not None:
            self.query_regularizer = query_regularizer
        elif not use_document_regularizer_only:
            self.query_regularizer = FlopsLoss(model, threshold=query_regularizer_threshold)
        else:
            self.query_regularizer = None
        if query_regularizer_weight is None and not use_document_regularizer_only:
            logger.warning(
                "query_regularizer_weight is None. This means that the query regularization will not be applied. "
                "If you are in an inference free set up it's fine else you should have a query_regularizer_weight > 0."
            )
        if use_document_regularizer_only and query_regularizer_weight is not None:
            logger.warning(
                "query_regularizer_weight should be None when use_document_regularizer_only is True. "
                "use_document_regularizer_only mean we consider all the input to be of the same type and so under "
                "the same regularization. query_regularizer_weight will be ignored."
            )
            self.query_regularizer_weight = None
        if not hasattr(loss, "compute_loss_from_embeddings"):
            raise ValueError(
                "The provided loss does not have a 'compute_loss_from_embeddings' method, which is required for "
                "SpladeLoss. This method must have the signature "
                "`compute_loss_from_embeddings(embeddings: List[Tensor], labels: Tensor | None = None)`."
            )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
                ) -> dict[str, Tensor]:
        columns = list(sentence_features)
        if self.use_document_regularizer_only and len(columns) > 1:
            # Every column is a document: embed them all in one merged pass when their features stack.
            merged = merge_columns(columns)
            if merged is not None:
                stacked = self.model(merged)["sentence_embedding"]  # (K*B, V)
                embeddings = list(stacked.reshape(len(columns), -1, *stacked.shape[1:]).unbind(0))
                return self.compute_loss_from_embeddings(embeddings, labels)
        return self.compute_loss_from_embeddings(embed_columns(self.model, columns), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None
                                     ) -> dict[str, Tensor]:
        """The loss components from precomputed (B, V) embeddings, one per column (query first).

        A dict-valued base loss contributes its own keys instead of ``base_loss``.
        """
        losses: dict[str, Tensor] = {}
        base = self.loss.compute_loss_from_embeddings(embeddings, labels)
        if isinstance(base, dict):
            losses.update(base)
        else:
            losses["base_loss"] = base
        documents = torch.cat(embeddings if self.use_document_regularizer_only else embeddings[1:])  # (N_docs, V)
        losses["document_regularizer_loss"] = (
            self.document_regularizer.compute_loss_from_embeddings(documents) * self.document_regularizer_weight)
        if self.query_regularizer_weight is not None:
            losses["query_regularizer_loss"] = (
                self.query_regularizer.compute_loss_from_embeddings(embeddings[0]) * self.query_regularizer_weight)
        return losses

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {"loss": type(self.loss).__name__,
                                  "document_regularizer_weight": self.document_regularizer_weight}
        if self.query_regularizer_weight is not None:
            config["query_regularizer_weight"] = self.query_regularizer_weight
        if not isinstance(self.document_regularizer, FlopsLoss):
            config["document_regularizer"] = type(self.document_regularizer).__name__
        if getattr(self.document_regularizer, "threshold", None) is not None:
            config["document_regularizer_threshold"] = self.document_regularizer.threshold
        if self.query_regularizer is not None:
            if not isinstance(self.query_regularizer, FlopsLoss):
                config["query_regularizer"] = type(self.query_regularizer).__name__
            if getattr(self.query_regularizer, "threshold", None) is not None:
                config["query_regularizer_threshold"] = self.query_regularizer.threshold
        return config

    @property
    def citation(self) -> str:
        return _CITATION
