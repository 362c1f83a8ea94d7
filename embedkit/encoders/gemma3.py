"""Gemma 3's text stack (Gemma team 2025) as a text encoder: EmbeddingGemma's backbone, bidirectional, and the causal
Gemma 3 language models.

Reference: HF ``transformers/models/gemma3/modeling_gemma3.py`` (Gemma3TextModel). It is :mod:`.qwen3`'s stack
(grouped-query attention with per-head query/key norms, rotary positions, a gated feed-forward) with Gemma's changes:
- the token embedding is multiplied by ``sqrt(hidden_size)``;
- RMSNorm scales by ``1 + weight`` (weights start at 0), in float32;
- four norms per layer: before and after attention, before and after the feed-forward (each sub-block's output is
  normalised before it joins the residual);
- scores scaled by ``query_pre_attn_scalar ** -0.5``; the feed-forward gate is the tanh GELU (GeGLU);
- layers alternate ``sliding_attention`` (rotary base ``rope_local_base_freq``) and ``full_attention`` (``rope_theta``),
  by ``layer_types`` or every ``sliding_window_pattern``-th layer full;
- ``use_bidirectional_attention`` (EmbeddingGemma): full layers see every token and sliding layers the tokens within
  ``sliding_window // 2`` on either side, as transformers builds those masks; otherwise causal, with a window of
  ``sliding_window`` tokens ending at the query.

Legend: B batch, T tokens, D hidden size, Dh head size.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import CheckpointedLayer
from embedkit.encoders.qwen3 import (
    FULL,
    SLIDING,
    GatedMLP,
    Qwen3Attention,
    Qwen3Config,
    Qwen3Model,
    decoder_attention_masks,
    rms_normalize,
)
from embedkit.encoders.rotary import rotary_cos_sin


@dataclass
class Gemma3Config(Qwen3Config):
    """Shape of a Gemma 3 text stack: :class:`~embedkit.encoders.qwen3.Qwen3Config`'s fields (``rope_theta`` is the
    full layers' base) plus Gemma's own. ``hidden_act`` takes ``hidden_activation``; ``sliding_window`` is kept as
    config.json has it.

    Example:
        >>> cfg = Gemma3Config(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
        ...                    num_key_value_heads=1, head_dim=16, intermediate_size=48, sliding_window_pattern=2)
        >>> cfg.layer_types, cfg.sliding_reach()
        (('sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'), 4095)
    """

    model_type: str = "gemma3_text"
    vocab_size: int = 262_208
    hidden_size: int = 2304
    intermediate_size: int = 9216
    num_hidden_layers: int = 26
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    head_dim: int = 256
    hidden_act: str = "gelu_pytorch_tanh"
    max_position_embeddings: int = 131_072
    pad_token_id: int | None = 0
    rope_theta: float = 1_000_000.0
    local_rope_theta: float = 10_000.0
    """Rotary base of the sliding layers (``rope_local_base_freq``)."""
    sliding_window: int | None = 4096
    sliding_window_pattern: int = 6
    """Without ``layer_types``: every ``sliding_window_pattern``-th layer is full, the others sliding."""
    query_pre_attn_scalar: float = 256
    """Scores are scaled by ``query_pre_attn_scalar ** -0.5``."""
    use_bidirectional_attention: bool = False

    def __post_init__(self) -> None:
        if not self.layer_types:
            n = self.sliding_window_pattern
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"config sliding_window_pattern={n!r} must be an integer >= 1")
            self.layer_types = tuple(SLIDING if (i + 1) % n else FULL for i in range(self.num_hidden_layers))
        super().__post_init__()
        if not isinstance(self.query_pre_attn_scalar, (int, float)) or self.query_pre_attn_scalar <= 0:
            raise ValueError(f"config query_pre_attn_scalar={self.query_pre_attn_scalar!r} must be a number > 0")

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the stack built from this config: Qwen3's plus two norms per layer.

        Example:
            >>> Gemma3Config(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
            ...              num_key_value_heads=1, head_dim=2, intermediate_size=6).parameter_count()
            184
        """
        return super().parameter_count(add_pooler) + 2 * self.num_hidden_layers * self.hidden_size

    def sliding_reach(self) -> int | None:
        """The farthest key a sliding query sees: ``sliding_window // 2`` either side when bidirectional (as
        transformers halves the window for it), else ``sliding_window - 1`` back."""
        if self.sliding_window is None:
            return None
        return self.sliding_window // 2 if self.use_bidirectional_attention else self.sliding_window - 1

    @classmethod
    def from_gemma3_config(cls, hf: dict[str, Any]) -> Gemma3Config:
        """Build from a ``gemma3_text`` config.json: transformers 5 (``rope_parameters`` per layer type) or 4.x
        (``rope_theta``, ``rope_local_base_freq``, ``rope_scaling``). Scaled rotary variants are refused by name;
        an ``attn_logit_softcapping`` key (which transformers' Gemma 3 ignores) is ignored too."""
        rope = hf.get("rope_parameters") or {}
        for kind in (FULL, SLIDING):
            settings = (rope.get(kind) if isinstance(rope.get(kind), dict) else None) or {}
            rope_type = settings.get("rope_type", "default")
            if rope_type != "default":
                raise ValueError(f"config.json asks for rope_type={rope_type!r} ({kind}); only 'default' rotary "
                                 "positions are supported for gemma3_text")
        scaling = hf.get("rope_scaling") or {}
        if scaling.get("rope_type", scaling.get("type", "default")) != "default":
            raise ValueError(f"config.json asks for rope_scaling={scaling!r}; only 'default' rotary positions are "
                             "supported for gemma3_text")
        if hf.get("is_causal", True) is False:
            raise ValueError("config.json says is_causal=false, which embedkit's gemma3_text does not read; "
                             "use_bidirectional_attention=true is its bidirectional setting")
        heads = hf.get("num_attention_heads", 8)
        return cls(
            vocab_size=hf["vocab_size"],
            hidden_size=hf.get("hidden_size", 2304),
            intermediate_size=hf.get("intermediate_size", 9216),
            num_hidden_layers=hf.get("num_hidden_layers", 26),
            num_attention_heads=heads,
            num_key_value_heads=hf.get("num_key_value_heads") or heads,
            head_dim=hf.get("head_dim") or hf.get("hidden_size", 2304) // heads,
            hidden_act=hf.get("hidden_activation", "gelu_pytorch_tanh"),
            attention_probs_dropout_prob=hf.get("attention_dropout", 0.0) or 0.0,
            max_position_embeddings=hf.get("max_position_embeddings", 131_072),
            layer_norm_eps=hf.get("rms_norm_eps", 1e-6),
            pad_token_id=hf.get("pad_token_id", 0),
            rope_theta=float((rope.get(FULL) or {}).get("rope_theta", hf.get("rope_theta", 1_000_000.0))),
            local_rope_theta=float((rope.get(SLIDING) or {}).get("rope_theta",
                                                                  hf.get("rope_local_base_freq", 10_000.0))),
            attention_bias=bool(hf.get("attention_bias", False)),
            sliding_window=hf.get("sliding_window", 4096),
            sliding_window_pattern=hf.get("sliding_window_pattern", 6),
            layer_types=tuple(hf.get("layer_types") or ()),
            query_pre_attn_scalar=hf.get("query_pre_attn_scalar", 256),
            use_bidirectional_attention=bool(hf.get("use_bidirectional_attention", False)),
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: the original keys with Gemma's fields written over, rotary bases both as
        transformers 5 reads them (``rope_parameters``) and as 4.x does (``rope_theta``, ``rope_local_base_freq``)."""
        out = copy.deepcopy(self.hf_config)
        out.update(
            model_type="gemma3_text",
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            hidden_activation=self.hidden_act,
            attention_dropout=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
            rope_parameters={FULL: {"rope_type": "default", "rope_theta": self.rope_theta},
                             SLIDING: {"rope_type": "default", "rope_theta": self.local_rope_theta}},
            rope_theta=self.rope_theta,
            rope_local_base_freq=self.local_rope_theta,
            attention_bias=self.attention_bias,
            sliding_window=self.sliding_window,
            layer_types=list(self.layer_types),
            query_pre_attn_scalar=self.query_pre_attn_scalar,
            use_bidirectional_attention=self.use_bidirectional_attention,
        )
        out.pop("rope_scaling", None)  # only 'default' is read, and rope_parameters says it
        return out


class GemmaRMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * (1 + weight)``, all in float32, then cast back (Gemma's norm; weight starts at 0).

    Example:
        >>> [round(v, 4) for v in GemmaRMSNorm(2, eps=0.0)(torch.tensor([[3.0, 4.0]]))[0].tolist()]
        [0.8485, 1.1314]
    """

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(size))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return (rms_normalize(x, self.eps) * (1.0 + self.weight.float())).type_as(x)


class Gemma3Layer(CheckpointedLayer):
    """``h = x + norm(Attention(norm(x)))``, then ``h + norm(GeGLU(norm(h)))``.

    Example:
        >>> cfg = Gemma3Config(vocab_size=10, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ...                    num_key_value_heads=1, head_dim=8, intermediate_size=24)
        >>> cos, sin = rotary_cos_sin(torch.arange(5), 8, cfg.rope_theta)
        >>> tuple(Gemma3Layer(cfg, 0).eval()(torch.randn(2, 5, 16), cos, sin, None).shape)
        (2, 5, 16)
    """

    def __init__(self, cfg: Gemma3Config, index: int) -> None:
        super().__init__()
        self.layer_type = cfg.layer_types[index]
        D, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.attn_norm = GemmaRMSNorm(D, eps)
        self.attn = Qwen3Attention(cfg, norm=GemmaRMSNorm, scale=cfg.query_pre_attn_scalar ** -0.5,
                                   softcap=getattr(cfg, "attn_logit_softcapping", None))  # Gemma 2's cap
        self.attn_out_norm = GemmaRMSNorm(D, eps)
        self.mlp_norm = GemmaRMSNorm(D, eps)
        self.mlp = GatedMLP(cfg)
        self.mlp_out_norm = GemmaRMSNorm(D, eps)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, attn_mask: Tensor | None) -> Tensor:
        x = x + self.attn_out_norm(self.attn(self.attn_norm(x), cos, sin, attn_mask))  # (B, T, D)
        return x + self.mlp_out_norm(self.mlp(self.mlp_norm(x)))  # (B, T, D)


class Gemma3Model(Qwen3Model):
    """The Gemma 3 text stack: scaled token embeddings -> L layers (full / sliding, each type with its rotary base)
    -> final norm; Qwen3's forward with Gemma's layers, norms, embedding scale and masks.

    Example:
        >>> from embedkit.encoders.gemma3 import Gemma3Config, Gemma3Model
        >>> cfg = Gemma3Config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        ...                    num_key_value_heads=1, head_dim=16, intermediate_size=48, sliding_window=4,
        ...                    sliding_window_pattern=2, use_bidirectional_attention=True)
        >>> enc = Gemma3Model(cfg).eval()
        >>> ids, mask = torch.tensor([[2, 5, 7, 1], [2, 8, 1, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
        >>> out = enc(ids, mask).last_hidden_state
        >>> alone = enc(ids[1:, :3]).last_hidden_state
        >>> tuple(out.shape), bool((out[1, :3] - alone[0]).abs().max() < 1e-5)
        ((2, 4, 32), True)
    """

    layer_class = Gemma3Layer
    norm_class = GemmaRMSNorm

    def embed_inputs(self, input_ids: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, D), multiplied by ``sqrt(hidden_size)`` rounded to the weights' dtype (as HF)."""
        scale = torch.tensor(self.config.hidden_size ** 0.5).to(self.embed.weight.dtype)
        return self.embed(input_ids) * scale

    def rotary(self, T: int, device: torch.device) -> dict[str, tuple[Tensor, Tensor]]:
        """Full layers rotate with ``rope_theta``, sliding ones with ``local_rope_theta``."""
        positions = torch.arange(T, device=device)
        return {FULL: rotary_cos_sin(positions, self.config.head_dim, self.config.rope_theta),
                SLIDING: rotary_cos_sin(positions, self.config.head_dim, self.config.local_rope_theta)}

    def attention_masks(self, attention_mask: Tensor | None, T: int, device: torch.device
                        ) -> dict[str, Tensor | None]:
        """Bidirectional with ``use_bidirectional_attention``, else causal (:func:`decoder_attention_masks`)."""
        return decoder_attention_masks(attention_mask, T, device, not self.config.use_bidirectional_attention,
                                       self.config.sliding_reach())
