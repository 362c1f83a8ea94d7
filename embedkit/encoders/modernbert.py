"""ModernBERT encoder (Warner et al. 2024), written out for reading; weights load from HF checkpoints via convert.py.

Reference: HF ``transformers/models/modernbert/modeling_modernbert.py`` (ModernBertModel). Differences from BERT:
- no position table and no token types: positions enter as rotary embeddings (RoPE) on queries and keys;
- pre-LN layers (the first layer's attention norm is the identity: the embeddings are already normalised) and a
  final LayerNorm after the last layer;
- one fused ``Wqkv`` projection, a GeGLU feed-forward (``Wi`` gives input and gate, ``Wo`` projects back);
- every ``global_attn_every_n_layers``-th layer (0, n, 2n, ...) attends globally with ``global_rope_theta``; the
  others attend within ``local_attention // 2`` tokens on each side, with ``local_rope_theta``;
- biases and LayerNorm biases only where the config asks for them (``attention_bias``, ``mlp_bias``, ``norm_bias``).

Padding: positions are 0..T-1 for every row and the tokenizer pads on the right, so a text gets the same positions,
window and keys alone or in a padded batch; padding keys are masked out. :meth:`ModernBertModel.forward_unpadded`
runs the same layers on the concatenated real tokens only (what HF's unpadded path does) and gives the same outputs.

Legend: B batch, T tokens, N real tokens of a batch, D hidden size, H heads, Dh = D / H, F intermediate size.
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
from embedkit.encoders.rotary import apply_rotary, rotary_cos_sin
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

GLOBAL, LOCAL = "full_attention", "sliding_attention"  # HF's ``layer_types`` names


@dataclass
class ModernBertConfig(EncoderConfig):
    """Shape of a ModernBERT encoder: :class:`EncoderConfig`'s sizes plus ModernBERT's own fields.

    Inherited fields keep their meaning; three take ModernBERT's keys: ``hidden_act`` <- ``hidden_activation``,
    ``layer_norm_eps`` <- ``norm_eps``, ``hidden_dropout_prob`` <- ``mlp_dropout`` and ``attention_probs_dropout_prob``
    <- ``attention_dropout``. ``max_position_embeddings`` is the longest input (no table: rotary positions).

    Example:
        >>> cfg = ModernBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
        ...                        intermediate_size=48, pad_token_id=0, global_attn_every_n_layers=3)
        >>> cfg.layer_types
        ('full_attention', 'sliding_attention', 'sliding_attention', 'full_attention')
    """

    model_type: str = "modernbert"
    vocab_size: int = 50368
    intermediate_size: int = 1152
    num_hidden_layers: int = 22
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 8192
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-5
    pad_token_id: int | None = 50283
    relative_attention_num_buckets: int = 0
    norm_bias: bool = False
    """LayerNorms (embeddings, layers, final, heads) have a bias."""
    attention_bias: bool = False
    """``Wqkv`` and the attention's ``Wo`` have biases."""
    mlp_bias: bool = False
    """The feed-forward's ``Wi`` and ``Wo`` have biases."""
    embedding_dropout: float = 0.0
    global_attn_every_n_layers: int = 3
    """Layers 0, n, 2n, ... are global (used when ``layer_types`` is not given)."""
    layer_types: tuple[str, ...] = ()
    """``full_attention`` or ``sliding_attention`` per layer; empty = derived from ``global_attn_every_n_layers``."""
    global_rope_theta: float = 160_000.0
    local_rope_theta: float = 10_000.0
    local_attention: int = 128
    """Total width of the sliding window: a token sees ``local_attention // 2`` tokens on each side."""
    classifier_pooling: str = "cls"
    """Sequence classification pools the ``cls`` token or the ``mean`` of the real tokens."""
    classifier_dropout: float = 0.0
    classifier_bias: bool = False
    """The prediction head's dense layer (classification and MLM) has a bias."""
    classifier_activation: str = "gelu"
    decoder_bias: bool = True
    """The MLM decoder has a bias."""

    def __post_init__(self) -> None:
        if not self.layer_types:
            n = self.global_attn_every_n_layers
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"config global_attn_every_n_layers={n!r} must be an integer >= 1")
            self.layer_types = tuple(GLOBAL if i % n == 0 else LOCAL for i in range(self.num_hidden_layers))
        self.layer_types = tuple(self.layer_types)
        super().__post_init__()
        if len(self.layer_types) != self.num_hidden_layers or set(self.layer_types) - {GLOBAL, LOCAL}:
            raise ValueError(f"config layer_types={list(self.layer_types)} must name {GLOBAL!r} or {LOCAL!r} for each "
                             f"of the {self.num_hidden_layers} layers")
        if self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size, got {self.head_dim}")
        if not isinstance(self.local_attention, int) or self.local_attention < 0:
            raise ValueError(f"config local_attention={self.local_attention!r} must be an integer >= 0")
        if self.classifier_pooling not in ("cls", "mean"):
            raise ValueError(f"config classifier_pooling={self.classifier_pooling!r} must be 'cls' or 'mean'")
        if self.classifier_activation not in ACTIVATIONS:
            raise ValueError(f"config classifier_activation={self.classifier_activation!r} is not one of "
                             f"{tuple(ACTIVATIONS)}")

    def _check_embedding_ids(self) -> None:
        """Refuse a ``pad_token_id`` that is not a row of the token embedding (``None``: no padding row)."""
        check_pad_token_row(self.pad_token_id, self.vocab_size)

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the encoder built from this config (ModernBERT has no pooler: ``add_pooler`` is ignored).

        Example:
            >>> ModernBertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=2, num_attention_heads=2,
            ...                  intermediate_size=6, pad_token_id=0).parameter_count()
            332
        """
        del add_pooler
        h, f = self.hidden_size, self.intermediate_size
        norm = h * (2 if self.norm_bias else 1)
        attention = 3 * h * h + h * h + (4 * h if self.attention_bias else 0)  # Wqkv, Wo
        mlp = h * 2 * f + f * h + (2 * f + h if self.mlp_bias else 0)  # Wi, Wo
        layers = self.num_hidden_layers * (attention + mlp + 2 * norm) - norm  # layer 0 has no attention norm
        return self.vocab_size * h + norm + layers + norm  # tokens + LayerNorm, layers, final norm

    @classmethod
    def from_modernbert_config(cls, hf: dict[str, Any]) -> ModernBertConfig:
        """Build from a ModernBERT ``config.json``: transformers 5 (``rope_parameters``, ``layer_types``) or the
        older keys (``global_rope_theta``, ``local_rope_theta``, ``global_attn_every_n_layers``)."""
        rope = hf.get("rope_parameters") or {}
        for kind in (GLOBAL, LOCAL):
            rope_type = (rope.get(kind) or {}).get("rope_type", "default")
            if rope_type != "default":
                raise ValueError(f"rope_parameters[{kind!r}] has rope_type={rope_type!r}; only 'default' is supported")
        return cls(
            vocab_size=hf["vocab_size"],
            hidden_size=hf.get("hidden_size", 768),
            num_hidden_layers=hf.get("num_hidden_layers", 22),
            num_attention_heads=hf.get("num_attention_heads", 12),
            intermediate_size=hf.get("intermediate_size", 1152),
            hidden_act=hf.get("hidden_activation", "gelu"),
            hidden_dropout_prob=hf.get("mlp_dropout", 0.0),
            attention_probs_dropout_prob=hf.get("attention_dropout", 0.0),
            max_position_embeddings=hf.get("max_position_embeddings", 8192),
            layer_norm_eps=hf.get("norm_eps", 1e-5),
            pad_token_id=hf.get("pad_token_id", 50283),
            norm_bias=bool(hf.get("norm_bias", False)),
            attention_bias=bool(hf.get("attention_bias", False)),
            mlp_bias=bool(hf.get("mlp_bias", False)),
            embedding_dropout=hf.get("embedding_dropout", 0.0),
            global_attn_every_n_layers=hf.get("global_attn_every_n_layers", 3),
            layer_types=tuple(hf.get("layer_types") or ()),
            global_rope_theta=float((rope.get(GLOBAL) or {}).get("rope_theta", hf.get("global_rope_theta", 160_000.0))),
            local_rope_theta=float((rope.get(LOCAL) or {}).get("rope_theta", hf.get("local_rope_theta", 10_000.0))),
            local_attention=hf.get("local_attention", 128),
            classifier_pooling=hf.get("classifier_pooling", "cls"),
            classifier_dropout=hf.get("classifier_dropout", 0.0) or 0.0,
            classifier_bias=bool(hf.get("classifier_bias", False)),
            classifier_activation=hf.get("classifier_activation", "gelu"),
            decoder_bias=bool(hf.get("decoder_bias", True)),
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: the original keys with ModernBERT's fields written over, rotary settings both
        as transformers 5 reads them (``rope_parameters``, ``layer_types``) and as older versions do."""
        out = copy.deepcopy(self.hf_config)
        out.update(
            model_type="modernbert",
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_activation=self.hidden_act,
            mlp_dropout=self.hidden_dropout_prob,
            attention_dropout=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings,
            norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
            norm_bias=self.norm_bias,
            attention_bias=self.attention_bias,
            mlp_bias=self.mlp_bias,
            embedding_dropout=self.embedding_dropout,
            layer_types=list(self.layer_types),
            rope_parameters={GLOBAL: {"rope_type": "default", "rope_theta": self.global_rope_theta},
                             LOCAL: {"rope_type": "default", "rope_theta": self.local_rope_theta}},
            global_rope_theta=self.global_rope_theta,
            local_rope_theta=self.local_rope_theta,
            local_attention=self.local_attention,
            classifier_pooling=self.classifier_pooling,
            classifier_dropout=self.classifier_dropout,
            classifier_bias=self.classifier_bias,
            classifier_activation=self.classifier_activation,
            decoder_bias=self.decoder_bias,
        )
        n = self.global_attn_every_n_layers
        if self.layer_types == tuple(GLOBAL if i % n == 0 else LOCAL for i in range(self.num_hidden_layers)):
            out["global_attn_every_n_layers"] = n  # what transformers 4.x derives the layer types from
        return out


class ModernBertEmbeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"tok_embeddings": "tok"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: ModernBertConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps, bias=cfg.norm_bias)
        self.dropout = nn.Dropout(cfg.embedding_dropout)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.dropout(self.norm(self.tok(input_ids)))  # (B, T) -> (B, T, D)


class ModernBertAttention(nn.Module):
    """Self-attention with one fused q/k/v projection and rotary positions; global or sliding-window."""

    def __init__(self, cfg: ModernBertConfig, layer_type: str) -> None:
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.rope_theta = cfg.global_rope_theta if layer_type == GLOBAL else cfg.local_rope_theta
        self.window = None if layer_type == GLOBAL else cfg.local_attention // 2
        """Tokens seen on each side of a query (None: all)."""
        self.Wqkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size, bias=cfg.attention_bias)
        self.Wo = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=cfg.attention_bias)
        self.dropout = nn.Dropout(cfg.attention_probs_dropout_prob)  # on the attention probabilities and the output

    def forward(self, x: Tensor, positions: Tensor, attn_mask: Tensor | None) -> Tensor:
        """``x`` (B, T, D), ``positions`` (T,) or (B, T); ``attn_mask`` True = may attend, broadcast to (B, H, T, T)."""
        B, T, D = x.shape
        qkv = self.Wqkv(x).view(B, T, 3, self.n_heads, D // self.n_heads)  # (B, T, 3, H, Dh)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(dim=2))  # each (B, H, T, Dh)
        cos, sin = rotary_cos_sin(positions, D // self.n_heads, self.rope_theta)  # (T, Dh) or (B, T, Dh)
        if cos.dim() == 3:
            cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, Dh)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        dropout_p = self.dropout.p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)  # (B, H, T, Dh)
        return self.dropout(self.Wo(y.transpose(1, 2).reshape(B, T, D)))  # (B, T, D)


class GeGLU(nn.Module):
    """ModernBERT's feed-forward: ``Wo(act(input) * gate)`` where ``Wi`` gives ``input`` and ``gate`` (F each)."""

    def __init__(self, cfg: ModernBertConfig) -> None:
        super().__init__()
        self.Wi = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=cfg.mlp_bias)
        self.Wo = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)
        self.act = ACTIVATIONS[cfg.hidden_act]  # a key of ACTIVATION_FUNCTIONS
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.Wi(x).chunk(2, dim=-1)  # (B, T, 2F) -> 2 x (B, T, F)
        return self.Wo(self.dropout(ACTIVATION_FUNCTIONS[self.act](value) * gate))  # (B, T, D)


class ModernBertLayer(CheckpointedLayer):
    """One pre-LN layer: ``x + Attention(LN(x))``, then ``x + GeGLU(LN(x))``.

    Example:
        >>> cfg = ModernBertConfig(vocab_size=10, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ...                        intermediate_size=24, pad_token_id=0)
        >>> layer = ModernBertLayer(cfg, 0).eval()
        >>> tuple(layer(torch.randn(2, 5, 16), torch.arange(5), None).shape)
        (2, 5, 16)
    """

    def __init__(self, cfg: ModernBertConfig, index: int) -> None:
        super().__init__()
        self.layer_type = cfg.layer_types[index]
        D = cfg.hidden_size
        # The first layer's input is the normalised embedding: HF has no attention norm there.
        self.attn_norm = nn.Identity() if index == 0 else nn.LayerNorm(D, eps=cfg.layer_norm_eps, bias=cfg.norm_bias)
        self.attn = ModernBertAttention(cfg, self.layer_type)
        self.mlp_norm = nn.LayerNorm(D, eps=cfg.layer_norm_eps, bias=cfg.norm_bias)
        self.mlp = GeGLU(cfg)

    def forward(self, x: Tensor, positions: Tensor, attn_mask: Tensor | None) -> Tensor:
        x = x + self.attn(self.attn_norm(x), positions, attn_mask)  # (B, T, D)
        return x + self.mlp(self.mlp_norm(x))  # (B, T, D)


def window_mask(positions: Tensor, window: int) -> Tensor:
    """True where query and key positions are at most ``window`` apart: (T, T) from (T,), (B, 1, T, T) from (B, T)."""
    distance = (positions[..., :, None] - positions[..., None, :]).abs()  # (..., T, T)
    return distance.le(window) if positions.dim() == 1 else distance.le(window)[:, None]


class ModernBertModel(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                      TransformersAttributes, nn.Module):
    """The ModernBERT encoder stack: embeddings -> L pre-LN layers (global / sliding window) -> final LayerNorm.

    Example:
        >>> from embedkit.encoders.modernbert import ModernBertConfig, ModernBertModel
        >>> cfg = ModernBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        ...                        intermediate_size=48, pad_token_id=0, local_attention=4)
        >>> enc = ModernBertModel(cfg).eval()
        >>> ids, mask = torch.tensor([[1, 5, 7, 9, 2], [1, 8, 2, 0, 0]]), torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])
        >>> padded = enc(ids, mask).last_hidden_state
        >>> tuple(padded.shape)
        (2, 5, 32)
        >>> unpadded = enc.forward_unpadded(ids, mask)  # (N, D): the 8 real tokens
        >>> bool((padded[mask.bool()] - unpadded).abs().max() < 1e-5)
        True
    """

    transformers_attributes = {"embeddings": "embed"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: ModernBertConfig, add_pooler: bool = False) -> None:
        super().__init__()
        del add_pooler  # ModernBERT has no pooler; accepted for build_encoder's signature
        self.config = cfg
        self.embed = ModernBertEmbeddings(cfg)
        self.layers = nn.ModuleList(ModernBertLayer(cfg, i) for i in range(cfg.num_hidden_layers))
        self.final_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps, bias=cfg.norm_bias)

    def embed_inputs(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        """(B, T) ids -> (B, T, D) layer input (no token types: ``token_type_ids`` is ignored)."""
        del token_type_ids
        return self.embed(input_ids)

    def attention_masks(self, attention_mask: Tensor | None, T: int, device: torch.device) -> dict[str, Tensor | None]:
        """Per layer type, what attention takes: None (attend everywhere) or bool, True = attend, broadcastable to
        (B, H, T, T). Global layers mask padding keys; local layers also keys beyond the window."""
        padding = None
        if attention_mask is not None and not bool(attention_mask.all()):
            padding = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T)
        local = None
        if T > self.config.local_attention // 2 + 1:  # otherwise every key is within the window
            local = window_mask(torch.arange(T, device=device), self.config.local_attention // 2)  # (T, T)
            local = local if padding is None else local & padding  # (B, 1, T, T)
        elif padding is not None:
            local = padding
        return {GLOBAL: padding, LOCAL: local}

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        x = self.embed_inputs(input_ids, token_type_ids)  # (B, T, D)
        T = input_ids.shape[1]
        positions = torch.arange(T, device=input_ids.device)  # (T,): right padding leaves real tokens at 0..len-1
        masks = self.attention_masks(attention_mask, T, input_ids.device)
        hidden_states = [x] if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, positions, masks[layer.layer_type])  # (B, T, D)
            if hidden_states is not None:
                hidden_states.append(x)
        x = self.final_norm(x)
        if hidden_states is not None:
            hidden_states[-1] = x  # as HF: the last hidden state is after the final norm
        return EncoderOutput(x, tuple(hidden_states) if hidden_states is not None else None)

    def forward_unpadded(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """The real tokens only, concatenated: (B, T) padded ids -> (N, D), in the order of ``attention_mask``.

        The token-wise work runs on N rows; attention sees one sequence of N tokens in which a token may attend
        only to tokens of its own text (and, in local layers, within the window), each text keeping positions
        0..len-1. This is HF's unpadded path; it gives the padded forward's outputs at the real tokens.
        """
        keep = attention_mask.bool()  # (B, T)
        ids = input_ids[keep][None]  # (1, N)
        text = torch.arange(input_ids.shape[0], device=input_ids.device)[:, None].expand_as(input_ids)[keep]  # (N,)
        positions = (torch.cumsum(keep.long(), dim=1) - 1)[keep]  # (N,)
        same_text = text[:, None] == text[None, :]  # (N, N)
        masks = {GLOBAL: same_text, LOCAL: same_text & window_mask(positions, self.config.local_attention // 2)}
        x = self.embed_inputs(ids, None)  # (1, N, D)
        for layer in self.layers:
            x = layer(x, positions, masks[layer.layer_type])  # (1, N, D)
        return self.final_norm(x)[0]  # (N, D)
