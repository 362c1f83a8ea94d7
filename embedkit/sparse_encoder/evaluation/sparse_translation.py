"""SparseTranslationEvaluator: TranslationEvaluator on sparse embeddings, plus sparsity keys."""

from __future__ import annotations

from typing import Any

from embedkit.sentence_transformer.evaluation.translation import TranslationEvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin


class SparseTranslationEvaluator(SparsityStatsMixin, TranslationEvaluator):
    """Share of sources whose most cosine-similar target is their own translation (and vice versa), on sparse
    embeddings, plus ``active_dims`` / ``sparsity_ratio`` (mean over both sides); primary ``mean_accuracy``.

    Args:
        source_sentences / target_sentences / show_progress_bar / batch_size / name / print_wrong_matches /
            write_csv: as :class:`embedkit.sentence_transformer.evaluation.TranslationEvaluator`.
        max_active_dims: keep at most this many non-zero values per embedding (None: the model's setting).
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        print_wrong_matches: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
    ) -> None:
        self._init_sparse(max_active_dims)
        super().__init__(source_sentences, target_sentences, show_progress_bar=show_progress_bar,
                         batch_size=batch_size, name=name, print_wrong_matches=print_wrong_matches,
                         write_csv=write_csv)
        self.csv_headers += ["active_dims", "sparsity_ratio"]

    def embed_inputs(self, model: Any, sentences: list[str], **kwargs: Any) -> Any:
        embeddings = self._encode_sparse(model, sentences, **kwargs)
        self._record_sparsity(model, embeddings)
        return embeddings

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        self._init_sparse(self.max_active_dims)
        metrics = super().__call__(model, output_path=output_path, epoch=epoch, steps=steps)
        return self._add_sparsity_metrics(model, metrics, output_path, epoch, steps)

    def get_config_dict(self) -> dict[str, Any]:
        return self._sparse_config(super().get_config_dict())
