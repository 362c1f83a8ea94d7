"""Blocks shared by the BERT and MPNet encoders: self-attention, feed-forward, the post-LN layer, the pooler.

Both families use the same post-LayerNorm layer (Vaswani et al. 2017; Devlin et al. 2019)::

    x = LN(x + Dropout(Attention(x)))
    x = LN(x + Dropout(W_down · act(W_up · x)))

They differ only in their embeddings and in the additive attention bias (MPNet adds a relative position bias),
which the caller folds into ``attn_mask``.

Legend: B batch, T tokens, D hidden size, H heads, Dh = D / H head size, F intermediate size.
Attention-mask convention: ``attn_mask`` is either ``None`` (attend everywhere), a boolean tensor broadcastable to
(B, H, T, T) where True means "may attend", or an additive float tensor of that shape (0 or a large negative number).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.dense_kernels import ROW_BLOCK, linear
from embedkit.encoders.packing import Packing
from embedkit.encoders.varlen import varlen_attention

# HF's activation names -> the names dense_kernels.linear fuses. "gelu" is the exact erf GELU, the one BERT and MPNet
# checkpoints use.
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
}


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

    def forward(
        self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None, residual: Tensor | None = None,
    ) -> Tensor:
        """Attention output, plus ``residual`` when given (added inside the output projection's GEMM)."""
        if packing is None:
            B, T, D = x.shape
            heads = [linear(proj, x).view(B, T, self.n_heads, -1).transpose(1, 2) for proj in (self.q, self.k, self.v)]
        else:  # x holds only the real tokens (N, D): project them, then lay them out padded for attention
            B, T, D = packing.batch, packing.tokens, x.shape[-1]
            N = x.shape[0]
            packed = [linear(proj, x).view(N, self.n_heads, -1) for proj in (self.q, self.k, self.v)]  # (N, H, Dh)
            y = varlen_attention(*packed, packing, attn_mask, self.dropout_p if self.training else 0.0)
            if y is not None:  # CUDA: attention within each sequence, no padding
                return linear(self.o, y.reshape(N, D), residual=residual)
            heads = [packing.pad(t.view(N, D)).view(B, T, self.n_heads, -1).transpose(1, 2) for t in packed]
        q, k, v = heads  # each (B, H, T, Dh)
        dropout_p = self.dropout_p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)  # (B, H, T, Dh)
        del q, k, v, heads  # without autograd nothing else holds them: free them before the output projection
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        if packing is not None:
            y = packing.unpad(y)  # (N, D)
        return linear(self.o, y, residual=residual)


# Without autograd, the feed-forward runs on blocks of token rows so that its (rows, F) intermediates stay under
# this many elements (16 MiB in fp32) instead of growing with the batch; rows are independent, the result is the same.
FFN_BLOCK_ELEMENTS = 1 << 22


class FeedForward(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.down = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.act = ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        """Feed-forward output, plus ``residual`` when given (added inside the down projection's GEMM)."""
        rows = x.shape[:-1].numel()
        block = max(1, FFN_BLOCK_ELEMENTS // self.up.out_features)
        if block >= ROW_BLOCK:  # whole oneDNN row blocks: rows split exactly as in one full-batch call (bitwise equal)
            block -= block % ROW_BLOCK
        if torch.is_grad_enabled() or rows <= block:
            # (B, T, D) -> (B, T, F) -> (B, T, D)
            return linear(self.down, linear(self.up, x, activation=self.act), residual=residual)
        flat = x.reshape(rows, x.shape[-1])  # (N, D), N = B*T
        flat_residual = None if residual is None else residual.reshape(rows, -1)
        out = flat.new_empty(rows, self.down.out_features)  # (N, D)
        for start in range(0, rows, block):
            stop = start + block
            hidden = linear(self.up, flat[start:stop], activation=self.act)  # (rows, F)
            out[start:stop] = linear(self.down, hidden, residual=None if residual is None else flat_residual[start:stop])
        return out.view(*x.shape[:-1], -1)


class EncoderLayer(nn.Module):
    """One post-LN transformer layer (attention, then feed-forward, each with residual + LayerNorm)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.attn = SelfAttention(cfg)
        self.attn_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.ffn = FeedForward(cfg)
        self.ffn_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor, attn_mask: Tensor | None, packing: Packing | None = None) -> Tensor:
        if self.training and self.dropout.p > 0:
            x = self.attn_norm(x + self.dropout(self.attn(x, attn_mask, packing)))  # (B, T, D) or packed (N, D)
            return self.ffn_norm(x + self.dropout(self.ffn(x)))
        # dropout is the identity: the residual additions fold into the output projections
        x = self.attn_norm(self.attn(x, attn_mask, packing, residual=x))
        return self.ffn_norm(self.ffn(x, residual=x))


class Pooler(nn.Module):
    """tanh(W · h_first_token): BERT's pooler, kept because classification heads read it."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, hidden: Tensor) -> Tensor:
        return linear(self.dense, hidden[:, 0], activation="tanh")  # (B, T, D) -> (B, D)
