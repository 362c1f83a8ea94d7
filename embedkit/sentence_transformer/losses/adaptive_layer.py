"""AdaptiveLayerLoss: train the earlier layers' outputs to be usable embeddings too.

The inner loss runs on the normal model output (weighted by ``last_layer_weight``) and again with the pooled
output of earlier layers in place of the last one (a random sample of ``n_layers_per_step`` of them, averaged and
weighted by ``prior_layers_weight``). With ``kl_temperature > 0`` each earlier layer's embeddings are also pulled
towards the last layer's with ``T * KL(softmax(last / T) || softmax(layer / T))`` (batchmean, last layer detached).
"Earlier layers" are hidden states 0..L-1 of the encoder: the embedding output and layers 1..L-1.

The encoder runs once per batch. While the loss runs, two forwards are replaced: the Transformer module's (the
first pass keeps every layer's hidden states, later passes hand the chosen layer to the rest of the pipeline in
place of ``token_embeddings``) and the model's (to record the final embeddings of each pass for the KL term).

References:
    - Li et al., 2024, "2D Matryoshka Sentence Embeddings", arXiv:2402.14776 (also the "log" weighting, v2).
    - sentence-transformers ``sentence_transformer/losses/adaptive_layer.py`` (v6.2), whose constructor, defaults
      and config dict this file follows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.base.losses.gradcache import uses_gradient_cache
from embedkit.sentence_transformer.losses.matryoshka import (
    replaced_method,
    sample_indices,
)

VALID_LAYER_WEIGHTINGS = ("uniform", "log", "linear")

_CITATION = """
@misc{li20242d,
    title={2D Matryoshka Sentence Embeddings},
    author={Xianming Li and Zongxi Li and Jing Li and Haoran Xie and Qing Li},
    year={2024},
    eprint={2402.14776},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}
"""


class _LayerSelectingForward:
    """Stands in for the Transformer module's forward.

    With ``layer=None`` every call runs the encoder with all hidden states and keeps the output; with a layer index
    the i-th call returns the i-th kept output with that layer's hidden states as ``token_embeddings``.
    """

    def __init__(self, transformer: nn.Module) -> None:
        self.transformer = transformer
        self.forward = transformer.forward
        self.outputs: list[dict[str, Any]] = []
        self.layer: int | None = None
        self.calls = 0

    def set_layer(self, layer: int) -> None:
        self.layer, self.calls = layer, 0

    @property
    def num_hidden_states(self) -> int:
        return len(self.outputs[0]["all_layer_embeddings"])

    def __call__(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self.layer is None:
            previous = self.transformer.output_hidden_states
            self.transformer.output_hidden_states = True
            try:
                output = self.forward(features, **kwargs)
            finally:
                self.transformer.output_hidden_states = previous
            self.outputs.append(output)
            return output
        output = self.outputs[self.calls]
        self.calls += 1
        return {**output, "token_embeddings": output["all_layer_embeddings"][self.layer]}  # (B, T, D)


class _RecordingForward:
    """Stands in for the model's forward and records each call's ``sentence_embedding``."""

    def __init__(self, forward: Callable[..., dict[str, Any]]) -> None:
        self.forward = forward
        self.embeddings: list[Tensor] = []

    def __call__(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        output = self.forward(features, **kwargs)
        self.embeddings.append(output["sentence_embedding"])
        return output

    def pop(self) -> Tensor:
        """All embeddings recorded since the last pop, in call order. (N, D)."""
        embeddings, self.embeddings = torch.cat(self.embeddings, dim=0), []
        return embeddings


class AdaptiveLayerLoss(nn.Module):
    """Apply ``loss`` to the last layer and to earlier layers, plus a KL pull of earlier layers to the last one.

    Args:
        model: The SentenceTransformer being trained; its first module must be the Transformer.
        loss: The loss to apply per layer, e.g. MultipleNegativesRankingLoss or CoSENTLoss. GradCache (cached)
            losses are not supported (a UserWarning says so): their backward runs after this loss has returned.
        n_layers_per_step: How many earlier layers to sample per step (-1: all of them); the last layer always
            counts.
        last_layer_weight: Weight of the last layer's loss.
        prior_layers_weight: Weight of the (averaged) earlier layers' losses.
        kl_div_weight: Weight of the KL term.
        kl_temperature: Softmax temperature of the KL term; 0 disables it.
        layer_weighting: Extra per-layer weight of the earlier layers' losses: ``"uniform"`` (1), ``"log"``
            (``1 / (1 + ln(1 + i))``), ``"linear"`` (``1 / (1 + i)``), or a callable of the hidden-state index ``i``
            (0 = embedding output).

    Inputs:
        +--------+--------+
        | Texts  | Labels |
        +========+========+
        | any    | any    |
        +--------+--------+

    Relations:
        :class:`Matryoshka2dLoss` combines this loss with :class:`MatryoshkaLoss`.

    Example:
        >>> from embedkit import SentenceTransformer
        >>> from embedkit.default_model import default_model_path
        >>> from embedkit.sentence_transformer.losses import MultipleNegativesRankingLoss
        >>> model = SentenceTransformer(default_model_path(), device="cpu")
        >>> loss = AdaptiveLayerLoss(model, MultipleNegativesRankingLoss(model))
        >>> features = [model.preprocess(["a cat", "a car"]), model.preprocess(["kitten", "auto"])]
        >>> loss(features, None).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        n_layers_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: Literal["uniform", "log", "linear"] | Callable[[int], float] = "uniform",
    ) -> None:
        super().__init__()
        if not callable(layer_weighting) and layer_weighting not in VALID_LAYER_WEIGHTINGS:
            raise ValueError(
                f'layer_weighting must be "uniform", "log", "linear", or a callable, but got {layer_weighting!r}.'
            )
        if not hasattr(model[0], "output_hidden_states"):
            raise ValueError(f"AdaptiveLayerLoss needs a Transformer as the model's first module, "
                             f"got {type(model[0]).__name__}")
        if uses_gradient_cache(loss):
            # A GradCache loss re-embeds in its backward pass, after the per-layer forwards are restored: warn (as
            # sentence-transformers does) rather than refuse.
            warnings.warn(f"AdaptiveLayerLoss is not compatible with {type(loss).__name__}.", stacklevel=2)
        self.model = model
        self.loss = loss
        self.n_layers_per_step = n_layers_per_step
        self.last_layer_weight = last_layer_weight
        self.prior_layers_weight = prior_layers_weight
        self.kl_div_weight = kl_div_weight
        self.kl_temperature = kl_temperature
        self.layer_weighting = layer_weighting

    def get_layer_weight(self, layer_idx: int) -> float:
        if callable(self.layer_weighting):
            return self.layer_weighting(layer_idx)
        if self.layer_weighting == "log":
            return 1.0 / (1.0 + math.log(1 + layer_idx))
        if self.layer_weighting == "linear":
            return 1.0 / (1 + layer_idx)
        return 1.0

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        sentence_features = list(sentence_features)
        model = self._unwrapped_model()
        layers = _LayerSelectingForward(model[0])
        recording = _RecordingForward(model.forward)
        with replaced_method(model[0], "forward", layers), replaced_method(model, "forward", recording):
            loss = self.loss(sentence_features, labels) * self.last_layer_weight
            temperature = self.kl_temperature
            if temperature > 0:
                teacher = F.softmax(recording.pop() / temperature, dim=-1).detach()  # (N, D), no gradient
            indices = sample_indices(layers.num_hidden_states - 1, self.n_layers_per_step)
            for layer_idx in indices:
                layers.set_layer(layer_idx)
                layer_loss = self.loss(sentence_features, labels)
                weight = self.get_layer_weight(layer_idx) / len(indices) * self.prior_layers_weight
                loss = loss + layer_loss * weight
                if temperature > 0:
                    student = F.log_softmax(recording.pop() / temperature, dim=-1)  # (N, D)
                    kl = F.kl_div(student, teacher, reduction="batchmean")
                    loss = loss + kl * temperature * self.kl_div_weight
        return loss

    def _unwrapped_model(self) -> nn.Module:
        """``self.model`` without DDP (``.module``) / torch.compile (``._orig_mod``) wrappers, which the trainer may
        have put in place; the layer replay needs the model's own modules."""
        model = self.model
        while not isinstance(model, nn.Sequential):
            if hasattr(model, "_orig_mod"):
                model = model._orig_mod
            elif hasattr(model, "module"):
                model = model.module
            else:
                raise TypeError(
                    f"AdaptiveLayerLoss could not unwrap {type(self.model).__name__} to a BaseModel (stopped at "
                    f"{type(model).__name__}). Expected DistributedDataParallel, torch.compile's OptimizedModule, "
                    "or a BaseModel."
                )
        return model

    def get_config_dict(self) -> dict[str, Any]:
        weighting = self.layer_weighting
        if callable(weighting):
            weighting = getattr(weighting, "__name__", "custom")
        return {
            "loss": type(self.loss).__name__,
            "n_layers_per_step": self.n_layers_per_step,
            "last_layer_weight": self.last_layer_weight,
            "prior_layers_weight": self.prior_layers_weight,
            "kl_div_weight": self.kl_div_weight,
            "kl_temperature": self.kl_temperature,
            "layer_weighting": weighting,
        }

    @property
    def citation(self) -> str:
        return _CITATION
