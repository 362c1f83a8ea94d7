"""The shell shared by the Sparse* losses: a dense embedkit loss used on sparse embeddings.

A SPLADE/CSR model's ``sentence_embedding`` is a dense (B, V) tensor during training, so the dense losses' math
applies unchanged. What differs is how the embeddings are produced: :class:`SpladeLoss` and :class:`CSRLoss` run the
model (and add the sparsity or reconstruction terms) and call ``compute_loss_from_embeddings`` of the wrapped loss.
Called directly, a Sparse* loss raises the same error as sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn


class _WrappedDenseLoss(nn.Module):
    """Holds ``model`` (sentence-transformers' attribute) and ``inner``, the dense loss that does the math.

    Attributes of ``inner`` (``scale``, ``similarity_fct``, ...) are readable on the wrapper.
    """

    def __init__(self, model: nn.Module | None, inner: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get("inner")
            if inner is None or name.startswith("_"):
                raise
            return getattr(inner, name)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        raise AttributeError(f"{type(self).__name__} should not be used alone. Use it with SpladeLoss or CSRLoss.")

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The wrapped loss on precomputed (B, V) embeddings, one per input column."""
        return self.inner.compute_loss_from_embeddings(embeddings, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return self.inner.get_config_dict()

    @property
    def citation(self) -> str | None:
        return getattr(self.inner, "citation", None)
