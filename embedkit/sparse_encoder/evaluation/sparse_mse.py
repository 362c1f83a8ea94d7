"""SparseMSEEvaluator: MSEEvaluator between a sparse teacher's and the model's embeddings, plus sparsity keys."""

from __future__ import annotations

import logging
from typing import Any

from embedkit.sentence_transformer.evaluation.mse import MSEEvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin

logger = logging.getLogger(__name__)


class SparseMSEEvaluator(SparsityStatsMixin, MSEEvaluator):
    """``-100 * mean((teacher(source) - model(target))**2)`` over the vocabulary-sized embeddings (computed densely,
    as sentence-transformers does), plus ``active_dims`` / ``sparsity_ratio`` of the model's target embeddings;
    primary ``negative_mse``.

    Args:
        source_sentences / target_sentences / teacher_model / show_progress_bar / batch_size / name / write_csv:
            as :class:`embedkit.sentence_transformer.evaluation.MSEEvaluator` (the teacher is a SparseEncoder,
            embedded once here).
        max_active_dims: keep at most this many non-zero values per embedding, teacher's included.
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        teacher_model: Any = None,
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        max_active_dims: int | None = None,
    ) -> None:
        self._init_sparse(max_active_dims)
        super().__init__(source_sentences, target_sentences, teacher_model=teacher_model,
                         show_progress_bar=show_progress_bar, batch_size=batch_size, name=name, write_csv=write_csv)
        self.csv_headers += ["active_dims", "sparsity_ratio"]
        logger.debug("SparseMSEEvaluator computes the MSE on dense (N, vocabulary) tensors.")

    def embed_inputs(self, model: Any, sentences: list[str], **kwargs: Any) -> Any:
        embeddings = self._encode_sparse(model, sentences, convert_to_sparse_tensor=False, **kwargs)
        self._record_sparsity(model, embeddings)
        return embeddings

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        self._init_sparse(self.max_active_dims)
        metrics = super().__call__(model, output_path=output_path, epoch=epoch, steps=steps)
        return self._add_sparsity_metrics(model, metrics, output_path, epoch, steps)

    def get_config_dict(self) -> dict[str, Any]:
        return self._sparse_config(super().get_config_dict())
