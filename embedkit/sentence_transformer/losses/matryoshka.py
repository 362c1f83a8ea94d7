"""MatryoshkaLoss: train embeddings whose leading dimensions are embeddings too.

The inner loss is evaluated on the embeddings truncated to each of ``matryoshka_dims`` (and L2-normalised again),
and the weighted sum is returned. The model runs once per batch: for a plain inner loss its forward is replaced,
for the duration of the call, by one that computes the embeddings at the first (largest) dimension and serves the
cached outputs, truncated, to the later dimensions. For a GradCache inner loss (``uses_gradient_cache``) the
truncation happens on the cached embeddings instead: its ``calculate_loss`` is wrapped so that one GradCache step
sums the loss over all dimensions, and the replay backpropagates the combined embedding gradients.

References:
    - Kusupati et al., 2022, "Matryoshka Representation Learning", arXiv:2205.13147.
    - sentence-transformers ``sentence_transformer/losses/matryoshka.py`` (v6.2), whose constructor, defaults and
      config dict this file follows.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

logger = logging.getLogger(__name__)

_CITATION = """
@misc{kusupati2024matryoshka,
    title={Matryoshka Representation Learning},
    author={Aditya Kusupati and Gantavya Bhatt and Aniket Rege and Matthew Wallingford and Aditya Sinha and Vivek Ramanujan and William Howard-Snyder and Kaifeng Chen and Sham Kakade and Prateek Jain and Ali Farhadi},
    year={2024},
    eprint={2205.13147},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""  # noqa: E501


def _embedding_dimension(model: Any) -> int | None:
    """The model's output dimension as an int, or None if unknown (either accessor name; ST 5 models and test
    doubles may only answer the older ``get_sentence_embedding_dimension``)."""
    for accessor in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, accessor, None)
        if callable(method):
            value = method()
            if isinstance(value, int):
                return value
    return None


def shrink(embeddings: Tensor, dim: int) -> Tensor:
    """The first ``dim`` components of each embedding, L2-normalised. Shapes: (..., D) -> (..., dim)."""
    if dim > embeddings.shape[-1]:
        raise ValueError(f"Dimension {dim} in matryoshka_dims cannot be greater than the model's embedding "
                         f"dimension: {embeddings.shape[-1]}")
    return F.normalize(embeddings[..., :dim], p=2, dim=-1)


@contextmanager
def replaced_method(obj: object, name: str, fn: Callable[..., Any]) -> Iterator[None]:
    """Inside the block, ``obj.<name>(...)`` calls ``fn`` (an instance attribute shadowing the method).

    Used with ``name="forward"`` to reroute ``module(...)``; the previous state is restored on exit.
    """
    previous = obj.__dict__.get(name)
    setattr(obj, name, fn)
    try:
        yield
    finally:
        if previous is None:
            delattr(obj, name)
        else:
            setattr(obj, name, previous)


def sample_indices(n: int, n_per_step: int) -> list[int]:
    """All of ``range(n)``, or ``n_per_step`` of them drawn with Python's ``random`` (as sentence-transformers),
    sorted."""
    if 0 < n_per_step < n:
        return sorted(random.sample(range(n), n_per_step))
    return list(range(n))


class _TruncatingForward:
    """Stands in for ``model.forward`` while the inner loss runs once per dimension.

    Calls are counted: at the first dimension every call runs the real forward and its output is kept; at every
    later dimension the i-th call returns the i-th kept output. The inner loss makes the same calls in the same
    order each time, so the model runs once per batch. ``sentence_embedding`` is truncated and renormalised.
    """

    def __init__(self, forward: Callable[..., dict[str, Any]]) -> None:
        self.forward = forward
        self.outputs: list[dict[str, Any]] = []
        self.dim = 0
        self.calls = 0
        self.filling = True

    def set_dim(self, dim: int, first: bool) -> None:
        self.dim, self.calls, self.filling = dim, 0, first

    def __call__(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self.filling:
            self.outputs.append(self.forward(features, **kwargs))
        output = self.outputs[self.calls]
        self.calls += 1
        return {**output, "sentence_embedding": shrink(output["sentence_embedding"], self.dim)}


class MatryoshkaLoss(nn.Module):
    """Apply ``loss`` at several embedding sizes: ``sum_d w_d * loss(normalize(emb[:, :d]))``.

    Args:
        model: The SentenceTransformer being trained (the same one ``loss`` holds).
        loss: The loss to apply at every dimension, e.g. MultipleNegativesRankingLoss, CoSENTLoss, or a cached
            (GradCache) loss such as CachedMultipleNegativesRankingLoss.
        matryoshka_dims: Embedding sizes to train, e.g. ``[768, 512, 256, 128, 64]``; each in (0, model dim].
        matryoshka_weights: One weight per dimension (default: all 1).
        n_dims_per_step: Use a random sample of this many dimensions per step (-1: all of them).

    Labels that look like per-column embeddings of the model's size ((B, D) or (B, K, D), e.g. MSELoss teacher
    embeddings) are truncated to each dimension too (plain inner losses only).

    Inputs:
        +--------+--------+
        | Texts  | Labels |
        +========+========+
        | any    | any    |
        +--------+--------+

    Relations:
        :class:`Matryoshka2dLoss` combines this loss with :class:`AdaptiveLayerLoss`.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), [384, 128, 32])
        >>> features = [model.preprocess(["a cat", "a car"]), model.preprocess(["kitten", "auto"])]
        >>> loss(features, None).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_dims_per_step: int = -1,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        if not matryoshka_dims:
            raise ValueError("You must provide at least one dimension in matryoshka_dims.")
        if any(int(d) <= 0 for d in matryoshka_dims):
            raise ValueError("All dimensions passed to a matryoshka loss must be > 0.")
        if matryoshka_weights is None:
            matryoshka_weights = [1] * len(matryoshka_dims)
        elif len(matryoshka_weights) != len(matryoshka_dims):
            raise ValueError("matryoshka_weights must be the same length as matryoshka_dims.")
        model_dim = _embedding_dimension(model)
        if model_dim is not None:
            if any(d > model_dim for d in matryoshka_dims):
                raise ValueError(
                    f"Dimensions in matryoshka_dims cannot exceed the model's embedding dimension of {model_dim}."
                )
            if model_dim not in matryoshka_dims:
                logger.warning(
                    f"The model's embedding dimension {model_dim} is not included in matryoshka_dims: "
                    f"{matryoshka_dims}. This means that the full model dimension won't be trained, which may lead "
                    "to degraded performance when using the model without specifying a lower truncation dimension. "
                    f"It is strongly recommended to include {model_dim} in matryoshka_dims."
                )
        # Largest dimension first (sentence-transformers sorts too; the first one fills the forward cache).
        pairs = sorted(zip(matryoshka_dims, matryoshka_weights), key=lambda pair: pair[0], reverse=True)
        self.matryoshka_dims: tuple[int, ...] = tuple(d for d, _ in pairs)
        self.matryoshka_weights: tuple[float, ...] = tuple(w for _, w in pairs)
        self.n_dims_per_step = n_dims_per_step
        self.uses_gradient_cache = bool(getattr(loss, "uses_gradient_cache", False))

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        sentence_features = list(sentence_features)
        indices = sample_indices(len(self.matryoshka_dims), self.n_dims_per_step)
        if self.uses_gradient_cache:
            return self._forward_cached(sentence_features, labels, indices)

        truncating = _TruncatingForward(self.model.forward)
        total: Tensor | float = 0.0
        with replaced_method(self.model, "forward", truncating):
            for step, idx in enumerate(indices):
                dim, weight = self.matryoshka_dims[idx], self.matryoshka_weights[idx]
                truncating.set_dim(dim, first=step == 0)
                total = total + weight * self.loss(sentence_features, self._truncate_labels(labels, dim))
        return total

    def _forward_cached(self, sentence_features: list[dict[str, Tensor]], labels: Tensor | None,
                        indices: list[int]) -> Tensor:
        # GradCache embeds once, then calls calculate_loss(reps, labels) on the full-batch embeddings and
        # backpropagates it to them; summing over dimensions there gives the combined embedding gradients.
        # Two calculate_loss protocols exist (see embedkit.base.losses.gradcache): sentence-transformers' one, on
        # reps[column][mini_batch] with `with_backward` (each dimension then backpropagates its own term and the
        # gradients accumulate on the cached embeddings), and the older one on full-batch tensors per column.
        # Only the first argument (the trained model's embeddings) is truncated, not e.g. a guide's.
        from embedkit.base.losses.gradcache import _takes_with_backward

        calculate_loss = self.loss.calculate_loss

        def truncate(reps: list[Any], dim: int) -> list[Any]:
            return [[shrink(r, dim) for r in column] if isinstance(column, (list, tuple)) else shrink(column, dim)
                    for column in reps]

        if _takes_with_backward(calculate_loss):
            def calculate_matryoshka_loss(reps: list[Any], *args: Any, with_backward: bool = False,
                                          **kwargs: Any) -> Tensor:
                total: Tensor | float = 0.0
                for idx in indices:
                    dim, weight = self.matryoshka_dims[idx], self.matryoshka_weights[idx]
                    term = calculate_loss(truncate(reps, dim), *args, with_backward=False, **kwargs) * weight
                    if with_backward:
                        term.backward()
                        term = term.detach()
                    total = total + term
                return total
        else:
            def calculate_matryoshka_loss(reps: list[Tensor], labels: Tensor | None) -> Tensor:
                total: Tensor | float = 0.0
                for idx in indices:
                    dim, weight = self.matryoshka_dims[idx], self.matryoshka_weights[idx]
                    total = total + weight * calculate_loss(truncate(reps, dim), labels)
                return total

        with replaced_method(self.loss, "calculate_loss", calculate_matryoshka_loss):
            return self.loss(sentence_features, labels)

    def _truncate_labels(self, labels: Tensor | None, dim: int) -> Tensor | None:
        if isinstance(labels, Tensor) and labels.ndim in (2, 3):
            if labels.shape[-1] == getattr(self.model, "get_embedding_dimension", lambda: None)():
                return labels[..., :dim]
        return labels

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "loss": type(self.loss).__name__,
            "matryoshka_dims": self.matryoshka_dims,
            "matryoshka_weights": self.matryoshka_weights,
            "n_dims_per_step": self.n_dims_per_step,
        }

    @property
    def citation(self) -> str:
        return _CITATION
