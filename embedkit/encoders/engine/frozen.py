"""An encoder layer whose weights oneDNN has prepared once: the opt-in frozen fast path.

oneDNN multiplies by weights in its own blocked layout. Given a plain (out, in) weight it reorders it on every call,
which for a single query (a dozen token rows) costs about as much as the GEMM. :class:`FrozenEncoderLayer` holds
the layer's weights already reordered, with the query, key and value projections stacked into one (3 D, D) GEMM.
They replace the original weights (the layer is swapped out of the model), so memory does not grow. On CPUs without
AVX-512, where MKL multiplies big calls faster than oneDNN (see :mod:`.onednn`), calls of more than
``FROZEN_BLAS_ROWS`` rows go through ``F.linear`` on a dense copy of each weight made for the call and freed after it.

The price is that the layer is inference-only: ``train()`` raises, moving or casting it raises, loading weights into
it raises, and autograd cannot pass through it. ``state_dict()`` writes the weights back in the standard layout under
the original names, so saving gives a folder that any embedkit or sentence-transformers model loads.

Example:
    >>> import torch
    >>> from embedkit.encoders.config import EncoderConfig
    >>> from embedkit.encoders.engine.onednn import onednn_available
    >>> from embedkit.encoders.layers import EncoderLayer
    >>> layer = EncoderLayer(EncoderConfig(hidden_size=16, num_attention_heads=2, intermediate_size=32)).eval()
    >>> x = torch.randn(1, 4, 16)
    >>> with torch.inference_mode():
    ...     frozen = FrozenEncoderLayer(layer) if onednn_available() else layer  # x86 CPUs only
    ...     bool((frozen(x, None) - layer(x, None)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.encoders.engine.attention import attention, layer_norm
from embedkit.encoders.engine.onednn import (
    FROZEN_BLAS_ROWS,
    blas_linear,
    fused_linear,
    onednn_applies,
    onednn_preferred,
)
from embedkit.encoders.engine.packing import Packing
from embedkit.encoders.layers import EncoderLayer, FeedForward, SelfAttention

FROZEN_MESSAGE = ("this model was optimized for inference (optimize_for_inference()); its encoder weights are in "
                  "oneDNN's layout and cannot be {what}. Load the model again to {why}.")
_PROJECTIONS = ("attn.q", "attn.k", "attn.v", "attn.o", "ffn.up", "ffn.down")


def refuse_move(fn: Any) -> None:
    """Raise when ``fn`` (what ``Module._apply`` maps over tensors) would change a float tensor's dtype or device."""
    probe = torch.zeros(1)
    moved = fn(probe)
    if isinstance(moved, Tensor) and (moved.dtype != probe.dtype or moved.device != probe.device):
        raise RuntimeError(FROZEN_MESSAGE.format(what=f"moved to {moved.device} / {moved.dtype}",
                                                 why="move it first, then optimize it"))


def _dense_blas_linear(x: Tensor, weight: Tensor, bias: Tensor, activation: str | None = None,
                       residual: Tensor | None = None) -> Tensor:
    """:func:`blas_linear` with a oneDNN-layout ``weight``, through a dense copy made for this call."""
    return blas_linear(x, weight.to_dense(), bias, activation, residual)


class FrozenEncoderLayer(nn.Module):
    """``EncoderLayer`` in eval mode with oneDNN-prepared weights (see the module docstring)."""

    def __init__(self, layer: EncoderLayer) -> None:
        reason = self.unsupported(layer)
        if reason is not None:
            raise ValueError(f"cannot freeze this layer: {reason}")
        super().__init__()
        attn, ffn = layer.attn, layer.ffn
        reorder = torch.ops.mkldnn._reorder_linear_weight
        self.n_heads = attn.n_heads
        self.act = ffn.act
        self.hidden_size = attn.q.in_features
        with torch.no_grad():
            self.qkv_weight = reorder(torch.cat([attn.q.weight, attn.k.weight, attn.v.weight]))  # (3 D, D)
            self.qkv_bias = torch.cat([attn.q.bias, attn.k.bias, attn.v.bias])  # (3 D,)
            self.o_weight, self.o_bias = reorder(attn.o.weight.detach()), attn.o.bias.detach()
            self.up_weight, self.up_bias = reorder(ffn.up.weight.detach()), ffn.up.bias.detach()
            self.down_weight, self.down_bias = reorder(ffn.down.weight.detach()), ffn.down.bias.detach()
        self.attn_norm = layer.attn_norm.requires_grad_(False)
        self.ffn_norm = layer.ffn_norm.requires_grad_(False)
        self.training = False

    @staticmethod
    def unsupported(layer: nn.Module) -> str | None:
        """Why ``layer`` cannot be frozen, or None when it can."""
        if type(layer) is not EncoderLayer or type(layer.attn) is not SelfAttention or type(layer.ffn) is not \
                FeedForward:
            return f"{type(layer).__name__} is not a stock EncoderLayer"
        for name in _PROJECTIONS:
            linear = layer.get_submodule(name)
            if type(linear) is not nn.Linear or linear.bias is None:
                bias = getattr(linear, "bias", None) is not None  # an int8 layer may have no such attribute
                return f"{name} is a {type(linear).__name__}{'' if bias else ' without bias'}"
            if linear._forward_hooks or linear._forward_pre_hooks:
                return f"{name} has hooks"
            if not onednn_applies(linear.weight.new_empty(1, linear.in_features), linear.weight):
                return f"{name} is {linear.weight.dtype} on {linear.weight.device} (oneDNN takes float32 on the CPU)"
        return None

    def run(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None, varlen: bool = True) -> Tensor:
        """The layer on (B, T, D) or packed (N, D) rows; same layout out."""
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError(FROZEN_MESSAGE.format(what="trained or differentiated", why="train it"))
        D = self.hidden_size
        linear = fused_linear
        if x.shape[:-1].numel() > FROZEN_BLAS_ROWS and not onednn_preferred():
            linear = _dense_blas_linear
        qkv = linear(x, self.qkv_weight, self.qkv_bias)  # (..., 3 D)
        q, k, v = qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:]
        y = attention(q, k, v, self.n_heads, attn_mask, packing, varlen)  # (..., D)
        x = layer_norm(linear(y, self.o_weight, self.o_bias, residual=x), self.attn_norm)
        hidden = linear(x, self.up_weight, self.up_bias, activation=self.act)  # (..., F)
        return layer_norm(linear(hidden, self.down_weight, self.down_bias, residual=x), self.ffn_norm)

    def forward(self, x: Tensor, attn_mask: Tensor | None) -> Tensor:
        return self.run(x, attn_mask, None)  # (B, T, D)

    def train(self, mode: bool = True) -> FrozenEncoderLayer:
        if mode:
            raise RuntimeError(FROZEN_MESSAGE.format(what="trained", why="train it"))
        return super().train(False)

    def _apply(self, fn: Any, recurse: bool = True) -> FrozenEncoderLayer:
        refuse_move(fn)
        return super()._apply(fn, recurse)

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        """The weights back in the standard layout, under the names an ``EncoderLayer`` saves."""
        D = self.hidden_size
        qkv = self.qkv_weight.to_dense()
        dense = {
            "attn.q": (qkv[:D], self.qkv_bias[:D]),
            "attn.k": (qkv[D:2 * D], self.qkv_bias[D:2 * D]),
            "attn.v": (qkv[2 * D:], self.qkv_bias[2 * D:]),
            "attn.o": (self.o_weight.to_dense(), self.o_bias),
            "ffn.up": (self.up_weight.to_dense(), self.up_bias),
            "ffn.down": (self.down_weight.to_dense(), self.down_bias),
        }
        for name, (weight, bias) in dense.items():
            destination[f"{prefix}{name}.weight"] = weight.clone()
            destination[f"{prefix}{name}.bias"] = bias.clone()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        if any(key.startswith(prefix) for key in state_dict):
            raise RuntimeError(FROZEN_MESSAGE.format(what="loaded into", why="load other weights"))

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenEncoderLayer:
        """A copy with its own prepared weights (oneDNN tensors have no storage that ``copy.deepcopy`` can read)."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if isinstance(value, Tensor) and value.is_mkldnn:
                new.__dict__[key] = torch.ops.mkldnn._reorder_linear_weight(value.to_dense())
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, n_heads={self.n_heads}, act={self.act!r}, weights=oneDNN"
