"""Matryoshka2dLoss (2DMSE): AdaptiveLayerLoss around MatryoshkaLoss, so both depth and width can be cut.

References:
    - Li et al., 2024, "2D Matryoshka Sentence Embeddings", arXiv:2402.14776.
    - sentence-transformers ``sentence_transformer/losses/matryoshka_2d.py`` (v6.2), whose constructor, defaults
      and config dict this file follows (there it subclasses AdaptiveLayerLoss; here it holds one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from torch import Tensor, nn

from embedkit.sentence_transformer.losses.adaptive_layer import _CITATION, AdaptiveLayerLoss
from embedkit.sentence_transformer.losses.matryoshka import MatryoshkaLoss


class Matryoshka2dLoss(nn.Module):
    """``AdaptiveLayerLoss(model, MatryoshkaLoss(model, loss, matryoshka_dims, ...), ...)``.

    Every layer pass of :class:`AdaptiveLayerLoss` evaluates the inner loss at (a sample of) the Matryoshka
    dimensions; the KL term compares full-size embeddings. The defaults (one layer and one dimension per step)
    follow the 2DMSE paper.

    Args:
        model: The SentenceTransformer being trained.
        loss: The base loss, e.g. MultipleNegativesRankingLoss or CoSENTLoss (not a GradCache loss).
        matryoshka_dims / matryoshka_weights / n_dims_per_step: as in :class:`MatryoshkaLoss`.
        n_layers_per_step / last_layer_weight / prior_layers_weight / kl_div_weight / kl_temperature /
            layer_weighting: as in :class:`AdaptiveLayerLoss`.

    Inputs:
        +--------+--------+
        | Texts  | Labels |
        +========+========+
        | any    | any    |
        +--------+--------+

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = Matryoshka2dLoss(model, MultipleNegativesRankingLoss(model), [384, 128, 32])
        >>> features = [model.preprocess(["a cat", "a car"]), model.preprocess(["kitten", "auto"])]
        >>> loss(features, None).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_layers_per_step: int = 1,
        n_dims_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: Literal["uniform", "log", "linear"] | Callable[[int], float] = "uniform",
    ) -> None:
        super().__init__()
        self.model = model
        matryoshka = MatryoshkaLoss(model, loss, matryoshka_dims, matryoshka_weights=matryoshka_weights,
                                    n_dims_per_step=n_dims_per_step)
        self.adaptive = AdaptiveLayerLoss(
            model, matryoshka, n_layers_per_step=n_layers_per_step, last_layer_weight=last_layer_weight,
            prior_layers_weight=prior_layers_weight, kl_div_weight=kl_div_weight, kl_temperature=kl_temperature,
            layer_weighting=layer_weighting)

    @property
    def matryoshka(self) -> MatryoshkaLoss:
        return self.adaptive.loss

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        return self.adaptive(sentence_features, labels)

    def get_layer_weight(self, layer_idx: int) -> float:
        """The weight of hidden state ``layer_idx``'s loss (see :meth:`AdaptiveLayerLoss.get_layer_weight`)."""
        return self.adaptive.get_layer_weight(layer_idx)

    def get_config_dict(self) -> dict[str, Any]:
        # As in sentence-transformers: the adaptive keys, then the Matryoshka keys ("loss" names the base loss).
        return {**self.adaptive.get_config_dict(), **self.matryoshka.get_config_dict()}

    @property
    def citation(self) -> str:
        return _CITATION
