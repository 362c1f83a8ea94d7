"""Llama, Mistral and Qwen2 as text encoders (e5-mistral, SFR-Embedding, Linq-Embed-Mistral, bge-en-icl, KaLM,
Llama-based embedders) and EuroBERT: Qwen3's decoder stack (:mod:`.qwen3`) without the per-head query / key norm.

Reference: HF ``transformers/models/{llama,mistral,qwen2,eurobert}/modeling_*.py``. What differs between them is
only configuration, read by :meth:`LlamaConfig.from_llama_config`:

- Llama: biases on all four attention projections when ``attention_bias``, on the feed-forward when ``mlp_bias``;
  full causal attention; rotary scaling ``llama3`` (Llama 3.1+) or ``linear`` besides the default;
- Mistral: no biases; every layer sees the last ``sliding_window`` tokens when the config sets one;
- Qwen2: biases on the query, key and value projections (none on the output); sliding-window layers as Qwen3's
  (``layer_types``, or ``use_sliding_window`` + ``max_window_layers``);
- EuroBERT (``eurobert``): Llama's layers with bidirectional attention always (its attention is never causal,
  whatever the config says), biases as Llama's.

``is_causal: false`` makes the attention bidirectional, as for Qwen3. Weight names are Qwen3's without the norms
(:mod:`.llama_names`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from embedkit.encoders.qwen3 import FULL, SLIDING, Qwen3Config, Qwen3Model
from embedkit.encoders.rotary import ROPE_SCALING_KEYS, SCALED_ROPE_TYPES

LLAMA_TYPES = ("llama", "mistral", "qwen2", "eurobert")
# Per model type, the transformers defaults that differ.
_DEFAULTS = {
    "llama": dict(max_position_embeddings=2048, rms_norm_eps=1e-6),
    "mistral": dict(max_position_embeddings=32768, rms_norm_eps=1e-6),
    "qwen2": dict(max_position_embeddings=32768, rms_norm_eps=1e-6),
    "eurobert": dict(max_position_embeddings=8192, rms_norm_eps=1e-5),
}


@dataclass
class LlamaConfig(Qwen3Config):
    """Shape of a Llama / Mistral / Qwen2 stack: :class:`Qwen3Config` without query / key norms.

    Example:
        >>> cfg = LlamaConfig.from_llama_config({"model_type": "qwen2", "vocab_size": 100, "hidden_size": 32,
        ...     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 48})
        >>> cfg.head_dim, cfg.attention_bias, cfg.output_bias, cfg.qk_norm
        (8, True, False, False)
    """

    model_type: str = "llama"
    qk_norm: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model_type not in LLAMA_TYPES:
            raise ValueError(f"model_type must be one of {LLAMA_TYPES}, got {self.model_type!r}")

    @classmethod
    def from_llama_config(cls, hf: dict[str, Any]) -> LlamaConfig:
        """Build from a ``llama`` / ``mistral`` / ``qwen2`` config.json, transformers 5 (``rope_parameters``) or 4.x
        (``rope_theta``, ``rope_scaling``). Rotary types other than default, ``linear`` and ``llama3``, and a
        ``partial_rotary_factor`` below 1, are refused by name."""
        model_type = hf.get("model_type", "llama")
        defaults = _DEFAULTS.get(model_type, _DEFAULTS["llama"])
        rope = dict(hf.get("rope_parameters") or {})
        scaling = dict(hf.get("rope_scaling") or {})
        rope_type = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
        if rope_type not in ("default", *SCALED_ROPE_TYPES):
            raise ValueError(f"config.json asks for rope_type={rope_type!r}; only 'default', 'linear' and 'llama3' "
                             f"rotary positions are supported for {model_type}")
        if rope.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0)) != 1.0:
            raise ValueError("config partial_rotary_factor below 1 is not supported")
        rope_scaling = None
        if rope_type != "default":
            settings = {**scaling, **rope}
            missing = [key for key in ROPE_SCALING_KEYS[rope_type] if key not in settings]
            if missing:
                raise ValueError(f"config.json's {rope_type!r} rotary scaling lacks {missing}")
            rope_scaling = {"rope_type": rope_type, **{key: settings[key] for key in ROPE_SCALING_KEYS[rope_type]}}
        heads = hf.get("num_attention_heads", 32)
        hidden = hf.get("hidden_size", 4096)
        layers = hf.get("num_hidden_layers", 32)
        if model_type == "mistral":  # every layer slides when a window is set
            window = hf.get("sliding_window", 4096)
            layer_types = (SLIDING if window is not None else FULL,) * layers
        elif model_type == "qwen2":
            window = hf.get("sliding_window", 4096) if hf.get("use_sliding_window", False) else None
            layer_types = tuple(hf.get("layer_types") or ())
        else:
            window, layer_types = None, (FULL,) * layers
        llama_like = model_type in ("llama", "eurobert")  # biases as the config says
        bias = bool(hf.get("attention_bias", False)) if llama_like else model_type == "qwen2"
        return cls(
            model_type=model_type,
            vocab_size=hf["vocab_size"],
            hidden_size=hidden,
            intermediate_size=hf.get("intermediate_size", 11008),
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=hf.get("num_key_value_heads") or heads,
            head_dim=hf.get("head_dim") or hidden // heads,
            hidden_act=hf.get("hidden_act", "silu"),
            attention_probs_dropout_prob=hf.get("attention_dropout", 0.0),
            max_position_embeddings=hf.get("max_position_embeddings", defaults["max_position_embeddings"]),
            layer_norm_eps=hf.get("rms_norm_eps", defaults["rms_norm_eps"]),
            pad_token_id=hf.get("pad_token_id"),
            rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10_000.0))),
            rope_scaling=rope_scaling,
            attention_bias=bias,
            attention_output_bias=bias and llama_like,
            mlp_bias=bool(hf.get("mlp_bias", False)) and llama_like,
            sliding_window=window,
            max_window_layers=hf.get("max_window_layers", 28),
            layer_types=layer_types,
            is_causal=model_type != "eurobert" and bool(hf.get("is_causal", True)),
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: the original keys with the stack's fields written over, the rotary settings
        both as transformers 5 reads them (``rope_parameters``) and as 4.x does (``rope_theta``, ``rope_scaling``)."""
        out = copy.deepcopy(self.hf_config)
        rope = {"rope_type": "default", "rope_theta": self.rope_theta, **(self.rope_scaling or {})}
        out.update(
            model_type=self.model_type,
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
            rope_parameters=rope,
            rope_theta=self.rope_theta,
            rope_scaling=copy.deepcopy(self.rope_scaling),
            sliding_window=self.sliding_window,
        )
        if self.model_type in ("llama", "eurobert"):
            out.update(attention_bias=self.attention_bias, mlp_bias=self.mlp_bias)
        if self.model_type == "qwen2":
            out.update(use_sliding_window=self.sliding_window is not None, max_window_layers=self.max_window_layers,
                       layer_types=list(self.layer_types))
        if (not self.is_causal or "is_causal" in out) and self.model_type != "eurobert":  # EuroBERT: always
            out["is_causal"] = self.is_causal
        return out


class LlamaModel(Qwen3Model):
    """The Llama / Mistral / Qwen2 stack: Qwen3's, built from a :class:`LlamaConfig` (no query / key norms).

    Example:
        >>> import torch
        >>> cfg = LlamaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                   num_key_value_heads=2, head_dim=8, intermediate_size=48)
        >>> enc = LlamaModel(cfg).eval()
        >>> tuple(enc(torch.tensor([[5, 7, 9]])).last_hidden_state.shape), hasattr(enc.layers[0].attn.q_norm, "weight")
        ((1, 3, 32), False)
    """
