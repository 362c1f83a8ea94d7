"""The encoder layers for small inference calls (one query, a few short texts), with little overhead per op.

For one 13-token query through all-MiniLM-L6-v2, the 24 GEMMs take about 1.4 ms. Run through the modules, the
same forward spent about 0.7 ms more on Python: module calls, per-layer checks and, for each of the 24 Linear
layers, checking that its oneDNN-reordered weight copy is still current. Here the copies of a whole layer stack
are made and checked together, once per forward, and each layer is a straight run of fused oneDNN calls.

The arithmetic is that of :class:`~embedkit.encoders.layers.EncoderLayer` in eval mode (dropout is the identity,
so the residual additions fold into the output projections), with the same oneDNN kernels the modules use for
small calls; outputs agree with the module path to float rounding. The path applies only when nothing could
tell the difference: every layer and sublayer in eval mode, of its stock type and without hooks, no gradient
wanted, at most ``PACK_MAX_ROWS`` token rows, and oneDNN usable for the weights' dtype. Anything else (training,
GradCache, int8 layers, hooks, big batches) runs the modules.

Example:
    >>> import torch
    >>> from embedkit.encoders import EncoderConfig, BertModel
    >>> cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    ...                     intermediate_size=64)
    >>> enc = BertModel(cfg).eval()
    >>> x = torch.randn(1, 5, 32)
    >>> with torch.inference_mode():
    ...     fast = stack_weights(enc.layers, x) or [None] * 2  # None where oneDNN is missing (non-x86 CPUs)
    ...     y = x
    ...     for layer, weights in zip(enc.layers, fast):
    ...         y = layer(y, None) if weights is None else run_layer(weights, y, None, None)
    ...     z = x
    ...     for layer in enc.layers:
    ...         z = layer(z, None)
    >>> torch.allclose(y, z, atol=1e-5)
    True
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders import dense_kernels
from embedkit.encoders.dense_kernels import PACK_MAX_ROWS, Fingerprint, fused_linear
from embedkit.encoders.layers import EncoderLayer, FeedForward, SelfAttention
from embedkit.encoders.packing import Packing


class LayerWeights(NamedTuple):
    """What one layer's small-call forward reads: reordered weight copies, biases, and the live LayerNorms."""

    n_heads: int
    qkv: Tensor
    """(3 D, D) query, key and value weights stacked and reordered by oneDNN."""
    qkv_bias: Tensor
    """(3 D,) their biases, stacked (a copy)."""
    o: Tensor
    o_bias: Tensor
    attn_norm: nn.LayerNorm
    up: Tensor
    up_bias: Tensor
    activation: str
    down: Tensor
    down_bias: Tensor
    ffn_norm: nn.LayerNorm


class _LayerModules(NamedTuple):
    layer: EncoderLayer
    attn: SelfAttention
    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    o: nn.Linear
    attn_norm: nn.LayerNorm
    ffn: FeedForward
    up: nn.Linear
    down: nn.Linear
    ffn_norm: nn.LayerNorm
    dropout: nn.Dropout


class _StackCopy(NamedTuple):
    modules: tuple[_LayerModules, ...]
    """The modules the copy was made from: a swapped sublayer shows as a different tuple."""
    fingerprint: Fingerprint
    """Of every Linear weight and bias of the stack; values sampled from the copied ones (the weights and the
    query/key/value biases: the other biases are read through views of the live tensors)."""
    layers: list[LayerWeights]


# id of the layer stack (nn.ModuleList) -> its copy; ids of the stacks whose end is watched
_copies: dict[int, _StackCopy] = {}
_watched: set[int] = set()
_STOCK_TYPES = (EncoderLayer, SelfAttention, nn.Linear, nn.Linear, nn.Linear, nn.Linear, nn.LayerNorm, FeedForward,
                nn.Linear, nn.Linear, nn.LayerNorm, nn.Dropout)  # the fields of _LayerModules


def _modules(layers: nn.ModuleList) -> tuple[_LayerModules, ...] | None:
    """The stack's modules, or None when a layer does not have the stock layout (a replaced sublayer, say)."""
    found = []
    try:  # through the _modules dicts: nn.Module.__getattr__ costs more than the rest of this check
        for layer in layers:
            sub = layer._modules
            attn, ffn = sub["attn"]._modules, sub["ffn"]._modules
            found.append(_LayerModules(layer, sub["attn"], attn["q"], attn["k"], attn["v"], attn["o"],
                                       sub["attn_norm"], sub["ffn"], ffn["up"], ffn["down"], sub["ffn_norm"],
                                       sub["dropout"]))
    except (KeyError, AttributeError):
        return None
    return tuple(found)


def _tensors(modules: tuple[_LayerModules, ...]) -> list[Tensor | None]:
    """Every Linear weight and bias of the stack (the path reads them all, as copies or live)."""
    return [t for m in modules for linear in (m.q, m.k, m.v, m.o, m.up, m.down) for t in linear._parameters.values()]


def _applies(modules: tuple[_LayerModules, ...], x: Tensor) -> bool:
    """Whether the small-call path gives what the modules would (see the module docstring); the weights' dtype and
    biases are checked when the copy is made."""
    hooks = nn.modules.module
    if (
        not modules
        or not x.is_cpu
        or not dense_kernels._pack
        or hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
    ):
        return False
    for layer in modules:
        for module, stock in zip(layer, _STOCK_TYPES):
            if module.training or type(module) is not stock or module._forward_hooks or module._forward_pre_hooks:
                return False
    if torch.is_grad_enabled() and (x.requires_grad or any(
            p.requires_grad for layer in modules for m in layer[2:] for p in m._parameters.values())):
        return False
    return dense_kernels._onednn_applies(x, modules[0].q.weight)  # dtype, autocast, oneDNN present


def _make_copy(
    modules: tuple[_LayerModules, ...], tensors: list[Tensor | None], dtype: torch.dtype
) -> _StackCopy | None:
    """The copy, or None when some Linear has no bias, another dtype than the input or a non-contiguous tensor (the
    modules handle those)."""
    if any(t is None or t.dtype != dtype or not t.is_contiguous() for t in tensors):
        return None
    reorder = torch.ops.mkldnn._reorder_linear_weight
    layers = []
    for m in modules:
        q, k, v = (linear.weight.detach() for linear in (m.q, m.k, m.v))
        layers.append(LayerWeights(
            m.attn.n_heads,
            reorder(torch.cat([q, k, v])), torch.cat([m.q.bias.detach(), m.k.bias.detach(), m.v.bias.detach()]),
            reorder(m.o.weight.detach()), m.o.bias.detach(), m.attn_norm,
            reorder(m.up.weight.detach()), m.up.bias.detach(), m.ffn.act,
            reorder(m.down.weight.detach()), m.down.bias.detach(), m.ffn_norm,
        ))
    copied = [t for m in modules for t in (m.q.weight, m.k.weight, m.v.weight, m.o.weight, m.up.weight,
                                           m.down.weight, m.q.bias, m.k.bias, m.v.bias)]
    return _StackCopy(modules, Fingerprint.of(tensors, copied), layers)


def stack_weights(layers: nn.ModuleList, x: Tensor) -> list[LayerWeights] | None:
    """The small-call weights of the encoder ``layers`` for input ``x`` ((B, T, D), or packed (N, D)), or None when
    the modules must run (see the module docstring for when).

    The copy is checked on every call and remade whenever the stack changed: a sublayer swapped, or a weight or
    bias changed (see :class:`~embedkit.encoders.dense_kernels.Fingerprint`). A forward too big for this path
    leaves the copy for the next small one; any other forward that cannot take it (training, gradients, hooks,
    another dtype or device, int8 layers) drops the copy, so that it is not kept through a training run or beside a
    changed model.
    """
    if torch.compiler.is_compiling():
        return None
    if x.shape[:-1].numel() > PACK_MAX_ROWS:  # a big call: the copy stays for the next small one
        return None
    key = id(layers)
    modules = _modules(layers)
    if modules is None or not _applies(modules, x):
        _copies.pop(key, None)
        return None
    entry = _copies.get(key)
    tensors = _tensors(modules)
    if entry is not None and entry.modules == modules and entry.fingerprint.matches(tensors):
        return entry.layers
    copy = _make_copy(modules, tensors, x.dtype)
    if copy is None:
        _copies.pop(key, None)
        return None
    if key not in _watched:  # forget the copy with the stack
        _watched.add(key)
        weakref.finalize(layers, _forget, key)
    _copies[key] = copy
    return copy.layers


def _forget(key: int) -> None:
    _copies.pop(key, None)
    _watched.discard(key)


def run_layer(w: LayerWeights, x: Tensor, attn_mask: Tensor | None, packing: Packing | None) -> Tensor:
    """One encoder layer in eval mode: ``EncoderLayer.forward`` written as fused oneDNN calls.

    ``x`` is (B, T, D), or (N, D) real tokens when ``packing`` is given; the output has the same shape.
    """
    qkv = fused_linear(x, w.qkv, w.qkv_bias)  # (B, T, 3 D) or (N, 3 D)
    if packing is None:
        B, T, D = x.shape
    else:
        B, T, D = packing.batch, packing.tokens, x.shape[-1]
        qkv = packing.pad(qkv)  # (B T, 3 D)
    q, k, v = qkv.view(B, T, 3, w.n_heads, -1).permute(2, 0, 3, 1, 4)  # each (B, H, T, Dh)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, T, Dh)
    y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
    if packing is not None:
        y = packing.unpad(y)  # (N, D)
    # residual added after the GEMM: for a few rows this beats oneDNN's fused binary add, with the same values
    x = _layer_norm(fused_linear(y, w.o, w.o_bias).add_(x), w.attn_norm)
    hidden = fused_linear(x, w.up, w.up_bias, activation=w.activation)  # (..., F)
    return _layer_norm(fused_linear(hidden, w.down, w.down_bias).add_(x), w.ffn_norm)


def _layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
