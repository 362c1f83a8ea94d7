"""The encoder half of T5 (Raffel et al. 2020), mT5 and UMT5: what GTR and Sentence-T5 embed with.

Reference: HF ``transformers/models/t5/modeling_t5.py`` (T5EncoderModel; MT5EncoderModel is the same network).
sentence-transformers loads only the encoder of a T5 checkpoint, so a full ``T5ForConditionalGeneration`` folder
works too (its decoder and ``lm_head`` are left aside). Differences from BERT:
- no position table and no token types: one learned bias per head and *bucket of relative distance*
  (key - query; exact for short distances, logarithmic up to ``relative_attention_max_distance``), computed by
  the first layer and added to the scores of every layer;
- unscaled attention scores (T5 folds ``1 / sqrt(Dh)`` into its initialisation); the head size ``d_kv`` is its own
  field, so ``H * Dh`` need not equal the hidden size;
- pre-norm layers with RMSNorm (no mean, no bias), a final RMSNorm, no biases anywhere;
- feed-forward ``wo(act(wi(x)))`` (T5 1.0, ``relu``) or gated ``wo(act(wi_0(x)) * wi_1(x))`` (T5 1.1 / mT5,
  ``gated-gelu`` with tanh GELU); the weights keep T5's names.

UMT5 (``model_type: umt5``) is the same network with one relative position bias per layer (each layer computes its
own from the same buckets) instead of the first layer's shared by all.

Padding: the relative bias depends only on the distance between tokens and padding keys are masked out, so a
text gets the same outputs alone or in a padded batch. Padding queries see the real keys (nothing is empty).

Legend: B batch, T tokens, D hidden size (``d_model``), H heads, Dh head size (``d_kv``), F feed-forward size.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing, CheckpointedLayer
from embedkit.encoders.config import NO_POSITION_LIMIT, EncoderConfig, check_pad_token_row
from embedkit.encoders.layers import ACTIVATION_FUNCTIONS, ACTIVATIONS, EncoderOutput, ParameterPlacement, run_layers
from embedkit.encoders.qwen3 import RMSNorm
from embedkit.encoders.relative_position import mask_padding_keys, relative_position_bias
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

ENCODER_ARCHITECTURES = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}


@dataclass
class T5Config(EncoderConfig):
    """Shape of a T5 / mT5 encoder: :class:`EncoderConfig`'s sizes under T5's config.json keys, plus its own.

    ``hidden_size`` is ``d_model``, ``intermediate_size`` ``d_ff``, ``num_hidden_layers`` ``num_layers``,
    ``num_attention_heads`` ``num_heads``, ``head_dim`` ``d_kv``, ``layer_norm_eps`` ``layer_norm_epsilon``; both
    dropouts take ``dropout_rate``; ``hidden_act`` and ``is_gated_act`` come from ``feed_forward_proj``.

    Example:
        >>> cfg = T5Config.from_t5_config({"model_type": "t5", "vocab_size": 100, "d_model": 16, "d_kv": 8,
        ...                                "d_ff": 32, "num_layers": 2, "num_heads": 4,
        ...                                "feed_forward_proj": "gated-gelu"})
        >>> cfg.hidden_act, cfg.is_gated_act, cfg.parameter_count()
        ('gelu_new', True, 8976)
    """

    model_type: str = "t5"
    vocab_size: int = 32128
    hidden_size: int = 512
    intermediate_size: int = 2048
    num_hidden_layers: int = 6
    num_attention_heads: int = 8
    hidden_act: str = "relu"
    max_position_embeddings: int = NO_POSITION_LIMIT
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-6
    pad_token_id: int | None = 0
    relative_attention_num_buckets: int = 32
    head_dim: int = 64
    """Size of each attention head (``d_kv``)."""
    relative_attention_max_distance: int = 128
    """Distances from here on share the last bucket."""
    is_gated_act: bool = False
    """Gated feed-forward (``wi_0``, ``wi_1``), as ``feed_forward_proj: gated-*`` says."""

    def _check_head_size(self) -> None:
        """``d_kv`` is its own field: any positive head size."""
        if not isinstance(self.head_dim, int) or isinstance(self.head_dim, bool) or not 1 <= self.head_dim <= 16_384:
            raise ValueError(f"config d_kv={self.head_dim!r} is outside the supported range [1, 16384]")
        buckets, distance = self.relative_attention_num_buckets, self.relative_attention_max_distance
        if buckets < 4:  # half per direction, of which half exact: at least one exact and one logarithmic bucket
            raise ValueError(f"config relative_attention_num_buckets={buckets} must be at least 4")
        if not isinstance(distance, int) or isinstance(distance, bool) or distance <= buckets // 4:
            raise ValueError(f"config relative_attention_max_distance={distance!r} must be an integer above "
                             f"relative_attention_num_buckets // 4 ({buckets // 4})")

    def _check_embedding_ids(self) -> None:
        check_pad_token_row(self.pad_token_id, self.vocab_size)

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the encoder built from this config (no pooler: ``add_pooler`` is ignored).

        Example:
            >>> T5Config(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2, head_dim=2,
            ...          intermediate_size=6, relative_attention_num_buckets=4, relative_attention_max_distance=8
            ...          ).parameter_count()
            172
        """
        del add_pooler
        D, F, width = self.hidden_size, self.intermediate_size, self.num_attention_heads * self.head_dim
        feed_forward = (3 if self.is_gated_act else 2) * D * F
        layer = 4 * D * width + feed_forward + 2 * D  # q, k, v, o; feed-forward; two RMSNorms
        bias = self.relative_attention_num_buckets * self.num_attention_heads
        if self.per_layer_bias:
            return self.vocab_size * D + self.num_hidden_layers * (layer + bias) + D  # + final norm
        return self.vocab_size * D + bias + self.num_hidden_layers * layer + D  # + final norm

    @property
    def per_layer_bias(self) -> bool:
        """Each layer has its own relative position bias (UMT5) instead of sharing the first layer's."""
        return self.model_type == "umt5"

    @classmethod
    def from_t5_config(cls, hf: dict[str, Any]) -> T5Config:
        """Build from a T5 / mT5 ``config.json`` (transformers' T5Config defaults; mT5 defaults to
        ``gated-gelu``). ``feed_forward_proj`` is ``ACT`` or ``gated-ACT``; ``gated-gelu`` means tanh GELU."""
        model_type = hf.get("model_type", "t5")
        proj = hf.get("feed_forward_proj", "gated-gelu" if model_type in ("mt5", "umt5") else "relu")
        parts = str(proj).split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise ValueError(f"config feed_forward_proj={proj!r} is not 'ACT' or 'gated-ACT' (e.g. 'gated-gelu')")
        act = "gelu_new" if proj == "gated-gelu" else parts[-1]
        dropout = hf.get("dropout_rate", 0.1)
        return cls(
            model_type=model_type,
            vocab_size=hf["vocab_size"],
            hidden_size=hf.get("d_model", 512),
            intermediate_size=hf.get("d_ff", 2048),
            num_hidden_layers=hf.get("num_layers", 6),
            num_attention_heads=hf.get("num_heads", 8),
            head_dim=hf.get("d_kv", 64),
            hidden_act=act,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            layer_norm_eps=hf.get("layer_norm_epsilon", 1e-6),
            pad_token_id=hf.get("pad_token_id", 0),
            relative_attention_num_buckets=hf.get("relative_attention_num_buckets", 32),
            relative_attention_max_distance=hf.get("relative_attention_max_distance", 128),
            is_gated_act=len(parts) == 2,
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: the original keys with T5's fields written over; ``architectures`` names the
        encoder class sentence-transformers saves (``T5EncoderModel`` / ``MT5EncoderModel``)."""
        out = copy.deepcopy(self.hf_config)
        act = "gelu" if self.hidden_act == "gelu_new" and self.is_gated_act else self.hidden_act
        out.update(
            model_type=self.model_type,
            architectures=[ENCODER_ARCHITECTURES[self.model_type]],
            vocab_size=self.vocab_size,
            d_model=self.hidden_size,
            d_ff=self.intermediate_size,
            d_kv=self.head_dim,
            num_layers=self.num_hidden_layers,
            num_heads=self.num_attention_heads,
            feed_forward_proj=f"gated-{act}" if self.is_gated_act else act,
            dropout_rate=self.hidden_dropout_prob,
            layer_norm_epsilon=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
            relative_attention_num_buckets=self.relative_attention_num_buckets,
            relative_attention_max_distance=self.relative_attention_max_distance,
        )
        return out


class T5Attention(nn.Module):
    """Multi-head self-attention without scaling, the relative position bias added to the scores."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.n_heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        width = self.n_heads * self.head_dim
        self.q = nn.Linear(cfg.hidden_size, width, bias=False)
        self.k = nn.Linear(cfg.hidden_size, width, bias=False)
        self.v = nn.Linear(cfg.hidden_size, width, bias=False)
        self.o = nn.Linear(width, cfg.hidden_size, bias=False)
        self.dropout_p = cfg.attention_probs_dropout_prob  # on the attention probabilities, in training

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        """``x`` (B, T, D); ``bias`` the float scores' offset, position bias plus mask, (1 or B, H, T, T)."""
        B, T, _ = x.shape
        q, k, v = (proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
                   for proj in (self.q, self.k, self.v))  # (B, H, T, Dh) each
        dropout_p = self.dropout_p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout_p,
                                           scale=1.0)  # (B, H, T, Dh)
        return self.o(y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))  # (B, T, D)


class T5FeedForward(nn.Module):
    """``wo(act(wi(x)))``, or gated ``wo(act(wi_0(x)) * wi_1(x))``: (B, T, D) -> (B, T, F) -> (B, T, D)."""

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        D, F_ = cfg.hidden_size, cfg.intermediate_size
        self.gated = cfg.is_gated_act
        if self.gated:
            self.wi_0 = nn.Linear(D, F_, bias=False)
            self.wi_1 = nn.Linear(D, F_, bias=False)
        else:
            self.wi = nn.Linear(D, F_, bias=False)
        self.wo = nn.Linear(F_, D, bias=False)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.act = ACTIVATIONS[cfg.hidden_act]  # a key of ACTIVATION_FUNCTIONS

    def forward(self, x: Tensor) -> Tensor:
        act = ACTIVATION_FUNCTIONS[self.act]
        h = act(self.wi_0(x)) * self.wi_1(x) if self.gated else act(self.wi(x))  # (B, T, F)
        return self.wo(self.dropout(h))


class T5Layer(CheckpointedLayer):
    """One pre-norm layer: ``x + Attention(RMSNorm(x))``, then ``x + FeedForward(RMSNorm(x))``.

    Example:
        >>> cfg = T5Config(vocab_size=10, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, head_dim=4,
        ...                intermediate_size=24)
        >>> tuple(T5Layer(cfg).eval()(torch.randn(2, 5, 16), torch.zeros(1, 2, 5, 5)).shape)
        (2, 5, 16)
    """

    def __init__(self, cfg: T5Config) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.layer_norm_eps)
        # UMT5: this layer's own relative position bias (T5 and mT5: None, the encoder's shared one is passed in)
        self.rel_bias = nn.Embedding(cfg.relative_attention_num_buckets, cfg.num_attention_heads) \
            if cfg.per_layer_bias else None
        self.max_distance = cfg.relative_attention_max_distance
        self.attn = T5Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.hidden_size, cfg.layer_norm_eps)
        self.ffn = T5FeedForward(cfg)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor, bias: Tensor | None, attention_mask: Tensor | None = None) -> Tensor:
        """``bias``: the shared position bias plus mask (1 or B, H, T, T); None when the layer has its own, which
        it combines with ``attention_mask`` (B, T)."""
        if self.rel_bias is not None:
            bias = mask_padding_keys(relative_position_bias(self.rel_bias, x.shape[1], self.max_distance, x.device),
                                     attention_mask)  # (1 or B, H, T, T)
        x = x + self.dropout(self.attn(self.attn_norm(x), bias))  # (B, T, D)
        return x + self.dropout(self.ffn(self.ffn_norm(x)))  # (B, T, D)


class T5EncoderModel(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                     TransformersAttributes, nn.Module):
    """The T5 encoder: token embeddings -> L pre-norm layers sharing one relative position bias -> final RMSNorm.

    Example:
        >>> cfg = T5Config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, head_dim=8,
        ...                intermediate_size=48)
        >>> enc = T5EncoderModel(cfg).eval()
        >>> ids = torch.tensor([[5, 7, 1], [8, 1, 0]])  # the second text is padded
        >>> out = enc(ids, torch.tensor([[1, 1, 1], [1, 1, 0]])).last_hidden_state
        >>> alone = enc(ids[1:, :2]).last_hidden_state
        >>> tuple(out.shape), bool((out[1, :2] - alone[0]).abs().max() < 1e-5)
        ((2, 3, 32), True)
    """

    transformers_attributes = {"shared": "embed", "encoder": {"block": "layers", "embed_tokens": "embed",
                                                              "final_layer_norm": "final_norm"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    input_embeddings_path = "embed"

    def __init__(self, cfg: T5Config, add_pooler: bool = False) -> None:
        super().__init__()
        del add_pooler  # no pooler; accepted for build_encoder's signature
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        if not cfg.per_layer_bias:  # UMT5's layers hold their own
            self.rel_bias = nn.Embedding(cfg.relative_attention_num_buckets, cfg.num_attention_heads)
        self.layers = nn.ModuleList(T5Layer(cfg) for _ in range(cfg.num_hidden_layers))
        self.final_norm = RMSNorm(cfg.hidden_size, cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def attention_bias(self, attention_mask: Tensor | None, T: int, device: torch.device) -> Tensor:
        """Position bias plus the padding mask, added to every layer's scores: (1 or B, H, T, T) float."""
        bias = relative_position_bias(self.rel_bias, T, self.config.relative_attention_max_distance, device)
        return mask_padding_keys(bias, attention_mask)  # (1 or B, H, T, T)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        del token_type_ids  # no token types
        x = self.dropout(self.embed(input_ids))  # (B, T, D)
        if self.config.per_layer_bias:  # each layer adds its own bias to the mask
            out = run_layers(self.layers, x, None, attention_mask, output_hidden_states=output_hidden_states)
        else:
            bias = self.attention_bias(attention_mask, input_ids.shape[1], input_ids.device)
            out = run_layers(self.layers, x, bias, output_hidden_states=output_hidden_states)
        x = self.dropout(self.final_norm(out.last_hidden_state))
        hidden_states = None
        if out.hidden_states is not None:  # as HF: the last hidden state is after the final norm
            hidden_states = (*out.hidden_states[:-1], x)
        return EncoderOutput(x, hidden_states)
