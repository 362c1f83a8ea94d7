"""SparseBinaryClassificationEvaluator: BinaryClassificationEvaluator on sparse embeddings, plus sparsity keys."""

from __future__ import annotations

from typing import Any, Literal

import torch

from embedkit.sentence_transformer.evaluation.binary_classification import BinaryClassificationEvaluator
from embedkit.sparse_encoder.evaluation._base import SparsityStatsMixin


class SparseBinaryClassificationEvaluator(SparsityStatsMixin, BinaryClassificationEvaluator):
    """Threshold classification of pairs from sparse-embedding similarities (default: the model's ``dot``), plus
    ``active_dims`` / ``sparsity_ratio`` of the distinct sentences; primary ``{fn}_ap`` (``max_ap`` for several).

    Args:
        sentences1 / sentences2 / labels / name / batch_size / show_progress_bar / write_csv /
            similarity_fn_names: as :class:`embedkit.sentence_transformer.evaluation.BinaryClassificationEvaluator`.
        max_active_dims: keep at most this many non-zero values per embedding (None: the model's setting).
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        labels: list[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
    ) -> None:
        self._init_sparse(max_active_dims)
        super().__init__(sentences1, sentences2, labels, name=name, batch_size=batch_size,
                         show_progress_bar=show_progress_bar, write_csv=write_csv,
                         similarity_fn_names=similarity_fn_names)

    def _append_csv_headers(self, fn_names: list[str]) -> None:
        super()._append_csv_headers(fn_names)
        if fn_names:
            self.csv_headers += ["active_dims", "sparsity_ratio"]

    def embed_inputs(self, model: Any, sentences: list[str], **kwargs: Any) -> Any:
        embeddings = self._encode_sparse(model, sentences, **kwargs)
        self._record_sparsity(model, embeddings)
        return embeddings

    def _embeddings(self, model: Any) -> tuple[Any, Any]:
        try:  # embed each distinct sentence once
            unique = list(dict.fromkeys([*self.sentences1, *self.sentences2]))
        except TypeError:  # unhashable inputs
            return self.embed_inputs(model, self.sentences1), self.embed_inputs(model, self.sentences2)
        embeddings = self.embed_inputs(model, unique).coalesce()
        row = {sentence: i for i, sentence in enumerate(unique)}
        pick = lambda sentences: embeddings.index_select(0, torch.tensor([row[s] for s in sentences]))  # noqa: E731
        return pick(self.sentences1), pick(self.sentences2)

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
                 ) -> dict[str, float]:
        self._init_sparse(self.max_active_dims)
        metrics = super().__call__(model, output_path=output_path, epoch=epoch, steps=steps)
        return self._add_sparsity_metrics(model, metrics, output_path, epoch, steps)

    def get_config_dict(self) -> dict[str, Any]:
        return self._sparse_config(super().get_config_dict())
