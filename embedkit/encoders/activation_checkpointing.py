"""Activation (gradient) checkpointing: layers that keep only their inputs and recompute the rest in backward.

Training memory is dominated by what each layer keeps for its backward (attention probabilities, the feed-forward's
wide activations). With checkpointing on, a layer runs its forward without keeping them and runs it again in the
backward pass, so memory holds one layer's activations at a time plus every layer's input: about a third more compute
for a fraction of the memory. The results are the same: ``torch.utils.checkpoint`` restores the random state before the
second forward, so dropout draws the same masks.

The switch follows transformers' names, so ``model.gradient_checkpointing_enable()`` and the ``gradient_checkpointing``
/ ``activation_checkpointing`` training arguments work as they do with sentence-transformers. Only the repeated layers
of a stack are checkpointed (:class:`CheckpointedLayer`); ``every_n_layers=k`` checkpoints layers 0, k, 2k, ...

Example:
    >>> import torch
    >>> from embedkit.encoders import BertModel, EncoderConfig
    >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
    ...                               intermediate_size=32)).train()
    >>> enc.gradient_checkpointing_enable()
    >>> enc.is_gradient_checkpointing
    True
    >>> enc(torch.tensor([[1, 4, 2]])).last_hidden_state.sum().backward()
    >>> enc.gradient_checkpointing_disable()
    >>> enc.is_gradient_checkpointing
    False
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class CheckpointedLayer(nn.Module):
    """A layer of a stack that recomputes itself in backward while ``checkpoint_fn`` is set.

    The encoder sets ``checkpoint_fn`` (see :class:`ActivationCheckpointing`); the layer's own ``forward`` is
    unchanged. Checkpointing applies only while the layer is in training mode and autograd records, so inference and
    evaluation run as before.

    Example:
        >>> class Double(CheckpointedLayer):
        ...     def forward(self, x):
        ...         return 2 * x
        >>> layer = Double().train()
        >>> layer.checkpoint_fn = checkpoint_function()
        >>> x = torch.ones(2, requires_grad=True)
        >>> layer(x).sum().backward()
        >>> x.grad
        tensor([2., 2.])
    """

    checkpoint_fn: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.checkpoint_fn is None or not self.training or not torch.is_grad_enabled():
            return super().__call__(*args, **kwargs)
        return self.checkpoint_fn(super().__call__, *args, **kwargs)


def checkpoint_function(checkpoint_kwargs: dict[str, Any] | None = None, offload: bool = False) -> Callable[..., Any]:
    """``torch.utils.checkpoint.checkpoint`` with ``checkpoint_kwargs`` bound (``use_reentrant=False`` unless given).

    ``offload=True`` keeps the saved layer inputs in pinned host memory while the layer runs on a GPU (they already
    live on the host for a CPU model, where it changes nothing). With ``use_reentrant=True`` a layer input that does not
    require grad (frozen embeddings, an adapter) is made to require it, as transformers does for such models, so that
    the layer's own parameters still get their gradients.

    Example:
        >>> fn = checkpoint_function({"use_reentrant": False})
        >>> x = torch.ones(3, requires_grad=True)
        >>> fn(torch.sin, x).shape
        torch.Size([3])
    """
    kwargs = {"use_reentrant": False, **(checkpoint_kwargs or {})}
    unknown = set(kwargs) - {"use_reentrant", "preserve_rng_state", "determinism_check", "debug", "context_fn"}
    if unknown:
        raise TypeError(f"unexpected checkpoint arguments {sorted(unknown)}; torch.utils.checkpoint.checkpoint takes "
                        "use_reentrant, preserve_rng_state, determinism_check, debug and context_fn")
    return _Checkpoint(kwargs, offload)


class _Checkpoint:
    """The bound checkpoint call (a class rather than a closure, so a model with checkpointing on still pickles)."""

    def __init__(self, kwargs: dict[str, Any], offload: bool) -> None:
        self.kwargs, self.offload = kwargs, offload

    def __call__(self, function: Callable[..., Any], *args: Any, **call_kwargs: Any) -> Any:
        if self.kwargs["use_reentrant"]:
            args = tuple(_requiring_grad(a) for a in args)
        first = next((a for a in args if isinstance(a, Tensor)), None)
        if self.offload and first is not None and first.device.type != "cpu":
            with torch.autograd.graph.save_on_cpu(pin_memory=True, device_type=first.device.type):
                return checkpoint(function, *args, **call_kwargs, **self.kwargs)
        return checkpoint(function, *args, **call_kwargs, **self.kwargs)


def _requiring_grad(value: Any) -> Any:
    """A floating tensor that autograd does not track, as a leaf that requires grad (reentrant checkpointing needs
    one input requiring grad to run the layer's backward at all); anything else unchanged."""
    if isinstance(value, Tensor) and value.is_floating_point() and not value.requires_grad:
        return value.detach().requires_grad_()
    return value


class ActivationCheckpointing:
    """transformers' checkpointing switches for an encoder whose stack is made of :class:`CheckpointedLayer` s.

    Mixed into the encoder classes (``class BertModel(ParameterPlacement, ActivationCheckpointing, nn.Module)``).

    Example:
        >>> from embedkit.encoders import BertModel, EncoderConfig
        >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
        ...                               intermediate_size=32))
        >>> enc.gradient_checkpointing_enable(every_n_layers=2)
        >>> [layer.checkpoint_fn is not None for layer in enc.layers]
        [True, False, True, False]
    """

    supports_gradient_checkpointing = True

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict[str, Any] | None = None,
                                      every_n_layers: int = 1, offload: bool = False) -> None:
        """Checkpoint every ``every_n_layers``-th layer; ``gradient_checkpointing_kwargs`` go to
        ``torch.utils.checkpoint.checkpoint`` (default ``{"use_reentrant": False}``)."""
        if not isinstance(every_n_layers, int) or every_n_layers < 1:
            raise ValueError(f"every_n_layers must be a positive integer, got {every_n_layers!r}")
        layers = self._checkpointed_layers()
        if not layers:
            raise ValueError(f"{type(self).__name__} is not compatible with gradient checkpointing: it has no "
                             "checkpointable layers.")
        fn = checkpoint_function(gradient_checkpointing_kwargs, offload)
        for index, layer in enumerate(layers):
            layer.checkpoint_fn = fn if index % every_n_layers == 0 else None

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs: dict[str, Any] | None = None,
                                        every_n_layers: int = 1, offload: bool = False) -> None:
        """transformers 5's name for :meth:`gradient_checkpointing_enable`."""
        self.gradient_checkpointing_enable(activation_checkpointing_kwargs, every_n_layers, offload)

    def gradient_checkpointing_disable(self) -> None:
        """Every layer keeps its activations again."""
        for layer in self._checkpointed_layers():
            layer.checkpoint_fn = None

    def activation_checkpointing_disable(self) -> None:
        """transformers 5's name for :meth:`gradient_checkpointing_disable`."""
        self.gradient_checkpointing_disable()

    @property
    def is_gradient_checkpointing(self) -> bool:
        """Whether any layer is checkpointed."""
        return any(layer.checkpoint_fn is not None for layer in self._checkpointed_layers())

    def _checkpointed_layers(self) -> list[CheckpointedLayer]:
        modules = self.modules()  # type: ignore[attr-defined]
        return [m for m in modules if isinstance(m, CheckpointedLayer)]
