"""Gemma 2 (Gemma team 2024) as a text encoder: bge-multilingual-gemma2's backbone and the causal Gemma 2 models.

Reference: HF ``transformers/models/gemma2/modeling_gemma2.py`` (Gemma2Model). It is :mod:`.gemma3`'s stack
(scaled token embeddings, Gemma's ``1 + weight`` RMSNorm, four norms per layer, GeGLU, scores scaled by
``query_pre_attn_scalar ** -0.5``, sliding and full layers) with Gemma 2's differences, all in its config:

- no per-head query / key norms;
- one rotary base (``rope_theta``) for both layer types;
- attention scores soft-capped: ``cap * tanh(scores / cap)`` with ``attn_logit_softcapping`` (50 by default), so the
  attention runs without SDPA (transformers' Gemma 2 runs eagerly for the same reason);
- by default every other layer slides (layers 0, 2, ...), with a window of ``sliding_window`` tokens ending at the
  query; attention is causal.

The causal LM's ``final_logit_softcapping`` (30 by default) is applied by :mod:`.causal_lm`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from embedkit.encoders.gemma3 import Gemma3Config
from embedkit.encoders.qwen3 import FULL, SLIDING


@dataclass
class Gemma2Config(Gemma3Config):
    """Shape of a Gemma 2 stack: :class:`~embedkit.encoders.gemma3.Gemma3Config` without query / key norms, with one
    rotary base and the attention soft cap.

    Example:
        >>> cfg = Gemma2Config.from_gemma2_config({"model_type": "gemma2", "vocab_size": 100, "hidden_size": 32,
        ...                                        "num_hidden_layers": 3, "num_attention_heads": 2,
        ...                                        "head_dim": 16, "intermediate_size": 48})
        >>> cfg.layer_types, cfg.qk_norm, cfg.attn_logit_softcapping, cfg.rope_theta == cfg.local_rope_theta
        (('sliding_attention', 'full_attention', 'sliding_attention'), False, 50.0, True)
    """

    model_type: str = "gemma2"
    vocab_size: int = 256_000
    rope_theta: float = 10_000.0
    local_rope_theta: float = 10_000.0
    max_position_embeddings: int = 8192
    sliding_window_pattern: int = 2
    qk_norm: bool = False
    attn_logit_softcapping: float | None = 50.0
    """Bound on the attention scores (None: no cap)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cap = self.attn_logit_softcapping
        if cap is not None and (not isinstance(cap, (int, float)) or cap <= 0):
            raise ValueError(f"config attn_logit_softcapping={cap!r} must be a number > 0 or null")

    @classmethod
    def from_gemma2_config(cls, hf: dict[str, Any]) -> Gemma2Config:
        """Build from a ``gemma2`` config.json: transformers 5 (``rope_parameters``) or 4.x (``rope_theta``).
        Scaled rotary variants and ``use_bidirectional_attention`` are refused by name."""
        rope = hf.get("rope_parameters") or {}
        scaling = hf.get("rope_scaling") or {}
        for settings in (rope, scaling):
            rope_type = settings.get("rope_type", settings.get("type", "default"))
            if rope_type != "default":
                raise ValueError(f"config.json asks for rope_type={rope_type!r}; only 'default' rotary positions are "
                                 "supported for gemma2")
        if hf.get("use_bidirectional_attention"):
            raise ValueError("config.json asks for use_bidirectional_attention, which embedkit's gemma2 does not "
                             "implement (Gemma 2 runs causal)")
        heads = hf.get("num_attention_heads", 8)
        theta = float(rope.get("rope_theta", hf.get("rope_theta", 10_000.0)))
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
            max_position_embeddings=hf.get("max_position_embeddings", 8192),
            layer_norm_eps=hf.get("rms_norm_eps", 1e-6),
            pad_token_id=hf.get("pad_token_id", 0),
            rope_theta=theta,
            local_rope_theta=theta,
            attention_bias=bool(hf.get("attention_bias", False)),
            sliding_window=hf.get("sliding_window", 4096),
            layer_types=tuple(hf.get("layer_types") or ()),
            query_pre_attn_scalar=hf.get("query_pre_attn_scalar", 256),
            attn_logit_softcapping=hf.get("attn_logit_softcapping", 50.0),
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: Gemma 3's, with Gemma 2's model type, its one rotary base (``rope_parameters``
        for transformers 5, ``rope_theta`` for 4.x) and its attention cap; Gemma 3's own keys are not added."""
        out = super().to_hf_config()
        for key in ("rope_local_base_freq", "use_bidirectional_attention"):
            if key not in self.hf_config:
                out.pop(key, None)
        out.update(model_type="gemma2", rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
                   attn_logit_softcapping=self.attn_logit_softcapping)
        return out


__all__ = ["FULL", "SLIDING", "Gemma2Config"]
