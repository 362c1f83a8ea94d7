"""Qwen3 (Qwen team 2025) as a text encoder: the decoder stack that Qwen3-Embedding pools at its last token.

Reference: HF ``transformers/models/qwen3/modeling_qwen3.py`` (Qwen3Model). Differences from BERT:
- causal attention: a token attends to itself and the tokens before it (layers listed as ``sliding_attention`` only
  to the last ``sliding_window`` of those); ``is_causal: false`` in config.json makes it bidirectional (every token,
  or within ``sliding_window`` on either side), as transformers 5.2+ reads that key;
- no position table and no token types: rotary positions (RoPE, ``rope_theta``) on queries and keys;
- pre-norm layers with RMSNorm, a final RMSNorm, and RMSNorm on each head's queries and keys before the rotation;
- grouped-query attention: ``num_key_value_heads`` key/value heads, each shared by ``H / Hkv`` query heads; the head
  size ``head_dim`` is its own field (not ``hidden_size / H``);
- a gated feed-forward ``down(silu(gate(x)) * up(x))`` (SwiGLU); no biases except the optional attention ones, no
  dropout outside attention.

Gemma 3 (:mod:`.gemma3`) builds on this module's attention, feed-forward and masks.

Padding: positions are 0..T-1 for every row, as HF numbers them whatever the padding side; rotary attention depends
only on the distance between tokens, so a text gets the same outputs alone or in a batch padded on either side
(Qwen3-Embedding's tokenizer pads on the left). Padding keys are masked out; a padding query attends to itself only,
so no row of the attention is empty.

Legend: B batch, T tokens, D hidden size, H query heads, Hkv key/value heads, Dh head size, F intermediate size.
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
from embedkit.encoders.config import EncoderConfig, check_pad_token_row
from embedkit.encoders.layers import ACTIVATION_FUNCTIONS, ACTIVATIONS, EncoderOutput, ParameterPlacement
from embedkit.encoders.rotary import rotary_cos_sin, rotate_half
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

FULL, SLIDING = "full_attention", "sliding_attention"  # HF's ``layer_types`` names


@dataclass
class Qwen3Config(EncoderConfig):
    """Shape of a Qwen3 stack: :class:`EncoderConfig`'s sizes plus Qwen3's own fields.

    ``layer_norm_eps`` takes ``rms_norm_eps``; ``attention_probs_dropout_prob`` takes ``attention_dropout``;
    ``max_position_embeddings`` is the longest input (no table: rotary positions).

    Example:
        >>> cfg = Qwen3Config(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        ...                   num_key_value_heads=2, head_dim=16, intermediate_size=48, sliding_window=4,
        ...                   max_window_layers=1)
        >>> cfg.layer_types, cfg.parameter_count()
        (('full_attention', 'sliding_attention', 'sliding_attention'), 35776)
    """

    model_type: str = "qwen3"
    vocab_size: int = 151936
    hidden_size: int = 4096
    intermediate_size: int = 22016
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    hidden_act: str = "silu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 32768
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-6
    pad_token_id: int | None = None
    relative_attention_num_buckets: int = 0
    num_key_value_heads: int = 32
    """Key/value heads; each serves ``num_attention_heads / num_key_value_heads`` query heads."""
    head_dim: int = 128
    """Size of each attention head (queries are ``H * head_dim`` wide, which need not equal ``hidden_size``)."""
    rope_theta: float = 10_000.0
    attention_bias: bool = False
    """q, k, v and o projections have biases."""
    sliding_window: int | None = None
    """Keys a ``sliding_attention`` layer sees: the query and the ``sliding_window - 1`` tokens before it."""
    max_window_layers: int = 28
    """Without ``layer_types``: layers from this index on use the sliding window (when ``sliding_window`` is set)."""
    layer_types: tuple[str, ...] = ()
    """``full_attention`` or ``sliding_attention`` per layer; empty = derived as transformers derives it."""
    is_causal: bool = True
    """False: bidirectional attention (config.json ``is_causal: false``, read by transformers 5.2+)."""
    qk_norm: bool = True
    """RMSNorm on each head's queries and keys (Qwen3, Gemma 3; not Llama, Mistral, Qwen2)."""
    attention_output_bias: bool | None = None
    """The output projection's bias (None: as ``attention_bias``; Qwen2 has q/k/v biases and none on o)."""
    mlp_bias: bool = False
    """Biases on the gated feed-forward's three projections (Llama's ``mlp_bias``)."""
    rope_scaling: dict[str, Any] | None = None
    """Scaled rotary frequencies (:data:`~embedkit.encoders.rotary.SCALED_ROPE_TYPES`; Llama 3's ``llama3``), or
    None for plain ones (Qwen3 refuses scaled variants)."""

    def __post_init__(self) -> None:
        if not self.layer_types:
            sliding = self.sliding_window is not None
            self.layer_types = tuple(SLIDING if sliding and i >= self.max_window_layers else FULL
                                     for i in range(self.num_hidden_layers))
        self.layer_types = tuple(self.layer_types)
        super().__post_init__()
        if len(self.layer_types) != self.num_hidden_layers or set(self.layer_types) - {FULL, SLIDING}:
            raise ValueError(f"config layer_types={list(self.layer_types)} must name {FULL!r} or {SLIDING!r} for each "
                             f"of the {self.num_hidden_layers} layers")
        if SLIDING in self.layer_types and (not isinstance(self.sliding_window, int) or self.sliding_window < 1):
            raise ValueError(f"config sliding_window={self.sliding_window!r}: sliding_attention layers need a window "
                             "of at least 1 token")

    def _check_head_size(self) -> None:
        """Query heads split evenly into key/value groups, and heads have an even size (rotary halves)."""
        for name in ("num_key_value_heads", "head_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 16_384:
                raise ValueError(f"config {name}={value!r} is outside the supported range [1, 16384]")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")
        if self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size, got head_dim={self.head_dim}")

    def _check_embedding_ids(self) -> None:
        """Refuse a ``pad_token_id`` that is not a row of the token embedding (``None``: no padding row)."""
        check_pad_token_row(self.pad_token_id, self.vocab_size)

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the stack built from this config (no pooler: ``add_pooler`` is ignored).

        Example:
            >>> Qwen3Config(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
            ...             num_key_value_heads=1, head_dim=2, intermediate_size=6).parameter_count()
            176
        """
        del add_pooler
        D, F, Dh = self.hidden_size, self.intermediate_size, self.head_dim
        q_width, kv_width = self.num_attention_heads * Dh, self.num_key_value_heads * Dh
        attention = D * q_width + 2 * D * kv_width + q_width * D  # q, k, v, o
        if self.qk_norm:
            attention += 2 * Dh
        if self.attention_bias:
            attention += q_width + 2 * kv_width
        if self.output_bias:
            attention += D
        layer = attention + 3 * D * F + 2 * D  # + gate, up, down; two RMSNorms
        if self.mlp_bias:
            layer += 2 * F + D
        return self.vocab_size * D + self.num_hidden_layers * layer + D  # tokens, layers, final norm

    @classmethod
    def from_qwen3_config(cls, hf: dict[str, Any]) -> Qwen3Config:
        """Build from a Qwen3 ``config.json``: transformers 5 (``rope_parameters``) or 4.x (``rope_theta``,
        ``rope_scaling``). Scaled rotary variants (YaRN, dynamic, ...) are refused by name."""
        for key in ("rope_parameters", "rope_scaling"):  # either may describe a scaled variant: both are checked
            settings = hf.get(key) or {}
            rope_type = settings.get("rope_type", settings.get("type", "default"))
            if rope_type != "default":
                raise ValueError(f"config.json asks for rope_type={rope_type!r} ({key}); only 'default' rotary "
                                 "positions are supported for qwen3")
        rope = hf.get("rope_parameters") or {}
        heads = hf.get("num_attention_heads", 32)
        use_window = bool(hf.get("use_sliding_window", False))
        return cls(
            vocab_size=hf["vocab_size"],
            hidden_size=hf.get("hidden_size", 4096),
            intermediate_size=hf.get("intermediate_size", 22016),
            num_hidden_layers=hf.get("num_hidden_layers", 32),
            num_attention_heads=heads,
            num_key_value_heads=hf.get("num_key_value_heads") or heads,
            head_dim=hf.get("head_dim") or hf.get("hidden_size", 4096) // heads,
            hidden_act=hf.get("hidden_act", "silu"),
            attention_probs_dropout_prob=hf.get("attention_dropout", 0.0),
            max_position_embeddings=hf.get("max_position_embeddings", 32768),
            layer_norm_eps=hf.get("rms_norm_eps", 1e-6),
            pad_token_id=hf.get("pad_token_id"),
            rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10_000.0))),
            attention_bias=bool(hf.get("attention_bias", False)),
            sliding_window=hf.get("sliding_window", 4096) if use_window else None,
            max_window_layers=hf.get("max_window_layers", 28),
            layer_types=tuple(hf.get("layer_types") or ()),
            is_causal=bool(hf.get("is_causal", True)),
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: the original keys with Qwen3's fields written over, the rotary base both as
        transformers 5 reads it (``rope_parameters``) and as 4.x does (``rope_theta``)."""
        out = copy.deepcopy(self.hf_config)
        out.update(
            model_type="qwen3",
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            hidden_act=self.hidden_act,
            attention_dropout=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            rope_theta=self.rope_theta,
            attention_bias=self.attention_bias,
            use_sliding_window=self.sliding_window is not None,
            sliding_window=self.sliding_window,
            max_window_layers=self.max_window_layers,
            layer_types=list(self.layer_types),
        )
        out.pop("rope_scaling", None)  # only 'default' is read, and rope_parameters says it
        if not self.is_causal or "is_causal" in out:
            out["is_causal"] = self.is_causal
        return out

    @property
    def output_bias(self) -> bool:
        """Whether the attention's output projection has a bias."""
        return self.attention_bias if self.attention_output_bias is None else self.attention_output_bias

    def sliding_reach(self) -> int | None:
        """The farthest key a ``sliding_attention`` query sees, in tokens: ``sliding_window - 1`` back when causal,
        ``sliding_window`` either side when bidirectional (transformers' two masks)."""
        if self.sliding_window is None:
            return None
        return self.sliding_window - 1 if self.is_causal else self.sliding_window


def rms_normalize(x: Tensor, eps: float) -> Tensor:
    """``x / sqrt(mean(x^2) + eps)`` over the last dimension, computed in float32 (returned in float32)."""
    x32 = x.float()
    return x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)


class RMSNorm(nn.Module):
    """``weight * x / sqrt(mean(x^2) + eps)``, normalised in float32 and cast back before the weight (as HF).

    Example:
        >>> [round(v, 4) for v in RMSNorm(2, eps=0.0)(torch.tensor([[3.0, 4.0]]))[0].tolist()]  # rms sqrt(12.5)
        [0.8485, 1.1314]
    """

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return self.weight * rms_normalize(x, self.eps).to(x.dtype)


def decoder_attention_masks(attention_mask: Tensor | None, T: int, device: torch.device, causal: bool,
                            sliding_reach: int | None) -> dict[str, Tensor | None]:
    """Per layer type, the bool mask attention takes (True = may attend; None = everything).

    Full layers: causal (a key at or before the query) or everything. Sliding layers: the same within
    ``sliding_reach`` tokens (back only when causal, either side otherwise). With padding, padding keys are removed and
    each padding query sees itself, so that no row is empty: (B, 1, T, T); without, (T, T).

    Example:
        >>> decoder_attention_masks(None, 3, torch.device("cpu"), causal=True, sliding_reach=1)["sliding_attention"]
        tensor([[ True, False, False],
                [ True,  True, False],
                [False,  True,  True]])
    """
    index = torch.arange(T, device=device)
    distance = index[:, None] - index[None, :]  # (T, T) query - key
    masks: dict[str, Tensor | None] = {FULL: distance >= 0 if causal else None}
    if sliding_reach is not None:
        within = (distance >= 0) & (distance <= sliding_reach) if causal else distance.abs() <= sliding_reach
        masks[SLIDING] = within
    if attention_mask is not None and not bool(attention_mask.all()):
        real_keys = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T)
        itself = torch.eye(T, dtype=torch.bool, device=device)  # a real query always sees itself anyway
        masks = {kind: (real_keys if mask is None else mask & real_keys) | itself
                 for kind, mask in masks.items()}  # (B, 1, T, T)
    return masks


class Qwen3Attention(nn.Module):
    """Grouped-query self-attention with per-head RMSNorm on queries and keys (when ``cfg.qk_norm``), then rotary
    positions.

    ``norm`` is the per-head norm's class and ``scale`` the factor on the scores (``1 / sqrt(head_dim)`` when None):
    Gemma 3 passes its own. ``softcap`` (Gemma 2's ``attn_logit_softcapping``) bounds the scaled scores as
    ``softcap * tanh(scores / softcap)`` before the mask and the softmax (computed without SDPA, which has no such
    step; the softmax in float32, as transformers' eager attention).
    """

    def __init__(self, cfg: Qwen3Config, norm: type[nn.Module] = RMSNorm, scale: float | None = None,
                 softcap: float | None = None) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        D, q_width, kv_width = cfg.hidden_size, self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        self.q = nn.Linear(D, q_width, bias=cfg.attention_bias)
        self.k = nn.Linear(D, kv_width, bias=cfg.attention_bias)
        self.v = nn.Linear(D, kv_width, bias=cfg.attention_bias)
        self.o = nn.Linear(q_width, D, bias=cfg.output_bias)
        self.q_norm = norm(cfg.head_dim, cfg.layer_norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = norm(cfg.head_dim, cfg.layer_norm_eps) if cfg.qk_norm else nn.Identity()
        self.scale = scale
        self.softcap = softcap
        self.dropout_p = cfg.attention_probs_dropout_prob  # on the attention probabilities, in training

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, attn_mask: Tensor | None) -> Tensor:
        """``x`` (B, T, D); ``cos``/``sin`` (T, Dh); ``attn_mask`` bool, True = may attend, (T, T) or (B, 1, T, T),
        or None (every key)."""
        B, T, _ = x.shape
        q = self.q_norm(self.q(x).view(B, T, self.n_heads, self.head_dim)).transpose(1, 2)  # (B, H, T, Dh)
        k = self.k_norm(self.k(x).view(B, T, self.n_kv_heads, self.head_dim)).transpose(1, 2)  # (B, Hkv, T, Dh)
        v = self.v(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, Dh)
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # HF rotates in the activations' dtype
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        group = self.n_heads // self.n_kv_heads  # query heads per key/value head
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (B, H, T, Dh)
        dropout_p = self.dropout_p if self.training else 0.0
        if self.softcap is None:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                               scale=self.scale)  # (B, H, T, Dh)
        else:
            scale = self.head_dim ** -0.5 if self.scale is None else self.scale
            scores = torch.tanh(q @ k.transpose(-1, -2) * scale / self.softcap) * self.softcap  # (B, H, T, T)
            if attn_mask is not None:
                scores = scores.masked_fill(~attn_mask, torch.finfo(scores.dtype).min)
            probs = F.dropout(scores.float().softmax(dim=-1).to(q.dtype), dropout_p)  # (B, H, T, T)
            y = probs @ v  # (B, H, T, Dh)
        return self.o(y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))  # (B, T, D)


class GatedMLP(nn.Module):
    """The gated feed-forward ``down(act(gate(x)) * up(x))``, (B, T, D) -> (B, T, F) -> (B, T, D); ``act`` is the
    config's ``hidden_act`` (SiLU for Qwen3: SwiGLU; tanh GELU for Gemma 3: GeGLU)."""

    def __init__(self, cfg: Qwen3Config) -> None:
        super().__init__()
        self.gate = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.up = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.down = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)
        self.act = ACTIVATIONS[cfg.hidden_act]  # a key of ACTIVATION_FUNCTIONS

    def forward(self, x: Tensor) -> Tensor:
        return self.down(ACTIVATION_FUNCTIONS[self.act](self.gate(x)) * self.up(x))


class Qwen3Layer(CheckpointedLayer):
    """One pre-norm layer: ``x + Attention(RMSNorm(x))``, then ``x + GatedMLP(RMSNorm(x))``.

    Example:
        >>> cfg = Qwen3Config(vocab_size=10, hidden_size=16, num_hidden_layers=1, num_attention_heads=4,
        ...                   num_key_value_heads=2, head_dim=8, intermediate_size=24)
        >>> cos, sin = rotary_cos_sin(torch.arange(5), 8, cfg.rope_theta)
        >>> causal = torch.ones(5, 5, dtype=torch.bool).tril()
        >>> tuple(Qwen3Layer(cfg, 0).eval()(torch.randn(2, 5, 16), cos, sin, causal).shape)
        (2, 5, 16)
    """

    def __init__(self, cfg: Qwen3Config, index: int) -> None:
        super().__init__()
        self.layer_type = cfg.layer_types[index]
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.layer_norm_eps)
        self.attn = Qwen3Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.hidden_size, cfg.layer_norm_eps)
        self.mlp = GatedMLP(cfg)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, attn_mask: Tensor | None) -> Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin, attn_mask)  # (B, T, D)
        return x + self.mlp(self.mlp_norm(x))  # (B, T, D)


class Qwen3Model(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                 TransformersAttributes, nn.Module):
    """The Qwen3 stack: token embeddings -> L causal pre-norm layers -> final RMSNorm.

    Gemma 3's stack is this one with other layer and norm classes (``layer_class``, ``norm_class``) and its own
    :meth:`embed_inputs`, :meth:`rotary` and :meth:`attention_masks`.

    Example:
        >>> from embedkit.encoders.qwen3 import Qwen3Config, Qwen3Model
        >>> cfg = Qwen3Config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                   num_key_value_heads=2, head_dim=16, intermediate_size=48)
        >>> enc = Qwen3Model(cfg).eval()
        >>> ids = torch.tensor([[5, 7, 9], [0, 8, 6]])  # the second text is left-padded
        >>> out = enc(ids, torch.tensor([[1, 1, 1], [0, 1, 1]])).last_hidden_state
        >>> alone = enc(ids[1:, 1:]).last_hidden_state
        >>> tuple(out.shape), bool((out[1, 1:] - alone[0]).abs().max() < 1e-5)
        ((2, 3, 32), True)
    """

    transformers_attributes = {"embed_tokens": "embed", "norm": "final_norm"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    input_embeddings_path = "embed"

    layer_class: type[nn.Module] = Qwen3Layer
    norm_class: type[nn.Module] = RMSNorm

    def __init__(self, cfg: Qwen3Config, add_pooler: bool = False) -> None:
        super().__init__()
        del add_pooler  # no pooler; accepted for build_encoder's signature
        self.config = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.layers = nn.ModuleList(self.layer_class(cfg, i) for i in range(cfg.num_hidden_layers))
        self.final_norm = self.norm_class(cfg.hidden_size, cfg.layer_norm_eps)

    def embed_inputs(self, input_ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, D) layer input."""
        return self.embed(input_ids)

    def rotary(self, T: int, device: torch.device) -> dict[str, tuple[Tensor, Tensor]]:
        """Per layer type, the rotary ``cos``/``sin`` of positions 0..T-1, (T, Dh) each (one base for all)."""
        cos_sin = rotary_cos_sin(torch.arange(T, device=device), self.config.head_dim, self.config.rope_theta,
                                 self.config.rope_scaling)
        return {FULL: cos_sin, SLIDING: cos_sin}

    def attention_masks(self, attention_mask: Tensor | None, T: int, device: torch.device
                        ) -> dict[str, Tensor | None]:
        """Per layer type, what attention takes (:func:`decoder_attention_masks`)."""
        return decoder_attention_masks(attention_mask, T, device, self.config.is_causal, self.config.sliding_reach())

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        del token_type_ids  # no token types
        x = self.embed_inputs(input_ids)  # (B, T, D)
        T = input_ids.shape[1]
        rotary = self.rotary(T, input_ids.device)
        masks = self.attention_masks(attention_mask, T, input_ids.device)
        hidden_states = [x] if output_hidden_states else None
        for layer in self.layers:
            cos, sin = rotary[layer.layer_type]  # (T, Dh) each
            x = layer(x, cos, sin, masks[layer.layer_type])  # (B, T, D)
            if hidden_states is not None:
                hidden_states.append(x)
        x = self.final_norm(x)
        if hidden_states is not None:
            hidden_states[-1] = x  # as HF: the last hidden state is after the final norm
        return EncoderOutput(x, tuple(hidden_states) if hidden_states is not None else None)
