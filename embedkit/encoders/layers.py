"""Blocks shared by the BERT and MPNet encoders: self-attention, feed-forward, the post-LN layer, the pooler.

This is the reference arithmetic: plain modules, padded batches, one path. Training, GradCache and the parity tests
run it; the inference engine (:mod:`embedkit.encoders.engine`) computes the same layer faster and falls back to it.

Both families use the same post-LayerNorm layer (Vaswani et al. 2017; Devlin et al. 2019)::

    x = LN(x + Dropout(Attention(x)))
    x = LN(x + Dropout(W_down · act(W_up · x)))

They differ only in their embeddings and in the attention mask (MPNet adds a relative position bias).

Legend: B batch, T tokens, D hidden size, H heads, Dh = D / H head size, F intermediate size.
Attention-mask convention: ``attn_mask`` is either ``None`` (attend everywhere), a boolean tensor broadcastable to
(B, H, T, T) where True means "may attend", or an additive float tensor of that shape (0 or a large negative number).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import CheckpointedLayer
from embedkit.encoders.config import EncoderConfig

# HF's activation names -> embedkit's (``FeedForward.act``). "gelu" is the exact erf GELU that BERT and MPNet use.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
# embedkit's activation name -> the function
ACTIVATION_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
}


class ParameterPlacement:
    """``device`` and ``dtype`` of a module's parameters, as transformers models report them; mixed into the
    encoder classes (``class BertModel(ParameterPlacement, nn.Module)``).

    Example:
        >>> class Tiny(ParameterPlacement, nn.Module):
        ...     def __init__(self) -> None:
        ...         super().__init__()
        ...         self.linear = nn.Linear(2, 2)
        >>> Tiny().dtype
        torch.float32
    """

    @property
    def device(self) -> torch.device:
        """Device of the parameters (as transformers models report it)."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point dtype of the parameters."""
        return next(self.parameters()).dtype


class EncoderOutput(NamedTuple):
    last_hidden_state: Tensor
    """(B, T, D) output of the last layer."""
    hidden_states: tuple[Tensor, ...] | None
    """The embedding output followed by every layer's output (L + 1 tensors), when asked for."""


class SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        # The rate lives in an nn.Dropout (applied inside SDPA, not called) so that tools which switch dropout off
        # through nn.Dropout modules, as they do for transformers' attention, reach it too.
        self.dropout = nn.Dropout(cfg.attention_probs_dropout_prob)
        self.q = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.k = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.v = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.o = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    @property
    def dropout_p(self) -> float:
        """The attention-probability dropout rate (held by ``self.dropout``)."""
        return self.dropout.p

    @dropout_p.setter
    def dropout_p(self, value: float) -> None:
        self.dropout.p = value

    @property
    def attention_dropout(self) -> float:
        """The attention-probability dropout rate (``dropout_p``), under the name transformers' attention uses."""
        return self.dropout.p

    @attention_dropout.setter
    def attention_dropout(self, value: float) -> None:
        self.dropout.p = value

    def forward(self, x: Tensor, attn_mask: Tensor | None) -> Tensor:
        B, T, D = x.shape
        q, k, v = (proj(x).view(B, T, self.n_heads, -1).transpose(1, 2) for proj in (self.q, self.k, self.v))
        dropout_p = self.dropout.p if self.training else 0.0  # each of q, k, v: (B, H, T, Dh)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)  # (B, H, T, Dh)
        return self.o(y.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class FeedForward(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.down = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.act = ACTIVATIONS[cfg.hidden_act]  # a key of ACTIVATION_FUNCTIONS

    def forward(self, x: Tensor) -> Tensor:
        return self.down(ACTIVATION_FUNCTIONS[self.act](self.up(x)))  # (B, T, D) -> (B, T, F) -> (B, T, D)


class EncoderLayer(CheckpointedLayer):
    """One post-LN transformer layer (attention, then feed-forward, each with residual + LayerNorm).

    BERT's :class:`SelfAttention` and :class:`FeedForward` by default; families with BERT's layer around other parts
    pass their own (DeBERTa's disentangled attention, NomicBERT's rotary attention and SwiGLU). The attention takes
    ``x`` and whatever else the family's encoder hands each layer (the mask, positions).

    Example:
        >>> layer = EncoderLayer(EncoderConfig(hidden_size=16, num_attention_heads=2, intermediate_size=32)).eval()
        >>> tuple(layer(torch.randn(2, 5, 16), None).shape)
        (2, 5, 16)
    """

    def __init__(self, cfg: EncoderConfig, attn: nn.Module | None = None, ffn: nn.Module | None = None) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg) if attn is None else attn
        self.attn_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.ffn = FeedForward(cfg) if ffn is None else ffn
        self.ffn_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor, *attn_args: Tensor | None) -> Tensor:
        x = self.attn_norm(x + self.dropout(self.attn(x, *attn_args)))  # (B, T, D)
        return self.ffn_norm(x + self.dropout(self.ffn(x)))  # (B, T, D)


class Pooler(nn.Module):
    """tanh(W · h_first_token): BERT's pooler, kept because classification heads read it."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, hidden: Tensor) -> Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # (B, T, D) -> (B, D)


def run_layers(layers: nn.ModuleList, x: Tensor, *layer_args: Tensor | None,
               output_hidden_states: bool = False) -> EncoderOutput:
    """Apply ``layers`` to ``x`` (B, T, D) in order, each as ``layer(x, *layer_args)`` (the attention mask, and
    whatever else a family's layers take), optionally keeping every intermediate output as HF does."""
    hidden_states = [x] if output_hidden_states else None
    for layer in layers:
        x = layer(x, *layer_args)  # (B, T, D)
        if hidden_states is not None:
            hidden_states.append(x)
    return EncoderOutput(x, tuple(hidden_states) if hidden_states is not None else None)
