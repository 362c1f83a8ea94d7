"""GTE (Li et al. 2023; Zhang et al. 2024): the encoder of gte-multilingual-base, gte-base-en-v1.5 and
gte-multilingual-reranker-base, run from its weights, never from the model folder's code.

Reference: HF ``transformers/models/gte/modeling_gte.py`` (GteModel, native since transformers 5). BERT's post-LN
layers with three changes:
- no position table: rotary positions (``rope_theta``; the two halves of each head) on queries and keys;
- a gated feed-forward ``down(dropout(act(gate(x)) * up(x)))`` (GELU for the released models); ``up`` and ``gate``
  are one fused projection in the checkpoints (``up_gate_proj``, ``up`` first) and stay fused here;
- one fused query / key / value projection (``qkv_proj``), with biases, kept fused as the checkpoints store it.
The token-type table is optional (``type_vocab_size=0``: gte-base-en-v1.5 has none).

config.json comes in two dialects, both read: transformers' ``gte`` (``rope_parameters``) and Alibaba's original
``new`` (``rope_theta``, ``rope_scaling``, an ``auto_map`` to its own code, which is never run). transformers loads an
original checkpoint as ``gte`` by renaming only (its ``conversion_mapping.py``), which is what this module assumes of
``new``. Refused by name: the original dialect's ``rope_scaling`` (its NTK scaling has no reference in transformers
to test against), ``logn_attention_scale``, another ``layer_norm_type`` or ``position_embedding_type``, an unfused
``pack_qkv: false``.
Saving keeps the dialect, so that each library reads the folder back as it wrote it.

Legend: B batch, T tokens, D hidden size, F intermediate size.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing
from embedkit.encoders.config import EncoderConfig, check_pad_token_row
from embedkit.encoders.layers import (
    ACTIVATION_FUNCTIONS,
    ACTIVATIONS,
    EncoderLayer,
    EncoderOutput,
    ParameterPlacement,
    Pooler,
    run_layers,
)
from embedkit.encoders.nomic_bert import NomicBertAttention
from embedkit.encoders.rotary import ROPE_SCALING_KEYS, SCALED_ROPE_TYPES, rotary_cos_sin
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

GTE_TYPES = ("gte", "new")  # transformers' name, Alibaba's original one
# Alibaba's original options and the value under which a checkpoint runs as this module does
_ORIGINAL_DEFAULTS = {
    "position_embedding_type": "rope", "layer_norm_type": "layer_norm", "logn_attention_scale": False,
    "logn_attention_clip1": False, "rope_scaling": None, "pack_qkv": True,
}


@dataclass
class GteConfig(EncoderConfig):
    """BERT's sizes with GTE's rotary positions; ``head_dim`` is ``hidden_size / num_attention_heads``.

    Example:
        >>> cfg = GteConfig.from_gte_config({"model_type": "gte", "vocab_size": 100, "hidden_size": 32,
        ...     "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 48,
        ...     "rope_parameters": {"rope_type": "default", "rope_theta": 160000.0}})
        >>> cfg.type_vocab_size, cfg.rope_theta, cfg.parameter_count(add_pooler=False)
        (1, 160000.0, 21280)
    """

    model_type: str = "gte"
    vocab_size: int = 250048
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 8192
    type_vocab_size: int = 1
    pad_token_id: int | None = 1
    relative_attention_num_buckets: int = 0
    rope_theta: float = 160000.0
    rope_scaling: dict[str, Any] | None = None
    """transformers' ``rope_parameters`` beyond the base (``rope_type`` ``linear`` or ``llama3``), or None."""

    def _check_head_size(self) -> None:
        super()._check_head_size()
        if self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size, got {self.head_dim}")

    def _check_embedding_ids(self) -> None:
        check_pad_token_row(self.pad_token_id, self.vocab_size)  # type_vocab_size 0: no token-type table

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the encoder built from this config (with BERT's pooler if ``add_pooler``).

        Example:
            >>> GteConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
            ...           intermediate_size=6, type_vocab_size=0).parameter_count(add_pooler=False)
            220
        """
        D, F_ = self.hidden_size, self.intermediate_size
        layer = 4 * D * D + 4 * D + 3 * D * F_ + D + 4 * D  # qkv, o (+ biases); up_gate, down (+ bias); 2 norms
        pooler = D * D + D if add_pooler else 0
        return (self.vocab_size + self.type_vocab_size) * D + 2 * D + self.num_hidden_layers * layer + pooler

    @classmethod
    def from_gte_config(cls, hf: dict[str, Any]) -> GteConfig:
        """Build from a ``gte`` (transformers) or ``new`` (Alibaba's original) config.json."""
        model_type = hf.get("model_type", "gte")
        for key, expected in _ORIGINAL_DEFAULTS.items():  # also where a ``gte`` config carries the original keys
            if hf.get(key, expected) != expected:
                raise ValueError(f"config {key}={hf[key]!r} is not supported for GTE (only {expected!r})")
        if model_type == "new":
            theta, scaling = float(hf.get("rope_theta", 10000.0)), None
        else:
            rope = dict(hf.get("rope_parameters") or {})
            theta = float(rope.pop("rope_theta", hf.get("rope_theta", 160000.0)))
            kind = rope.get("rope_type", "default")
            if kind not in ("default", *SCALED_ROPE_TYPES):
                raise ValueError(f"config.json asks for rope_type={kind!r}; GTE supports 'default' and "
                                 f"{', '.join(repr(t) for t in SCALED_ROPE_TYPES)} rotary positions")
            missing = [key for key in ROPE_SCALING_KEYS.get(kind, ()) if key not in rope]
            if missing:
                raise ValueError(f"config.json's {kind!r} rotary scaling lacks {missing}")
            scaling = rope if kind != "default" else None
        return cls(
            model_type=model_type,
            vocab_size=hf.get("vocab_size", 250048),
            hidden_size=hf.get("hidden_size", 768),
            num_hidden_layers=hf.get("num_hidden_layers", 12),
            num_attention_heads=hf.get("num_attention_heads", 12),
            intermediate_size=hf.get("intermediate_size", 3072),
            hidden_act=hf.get("hidden_act", "gelu"),
            hidden_dropout_prob=hf.get("hidden_dropout_prob", 0.1),
            attention_probs_dropout_prob=hf.get("attention_probs_dropout_prob", 0.0),
            max_position_embeddings=hf.get("max_position_embeddings", 8192),
            type_vocab_size=hf.get("type_vocab_size", 1),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
            pad_token_id=hf.get("pad_token_id", 1),
            rope_theta=theta,
            rope_scaling=scaling,
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict in the dialect it came from (``new`` keeps ``rope_theta`` and its ``auto_map``)."""
        out = copy.deepcopy(self.hf_config)
        out.update(
            model_type=self.model_type, vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers, num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size, hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings, type_vocab_size=self.type_vocab_size,
            layer_norm_eps=self.layer_norm_eps, pad_token_id=self.pad_token_id,
        )
        if self.model_type == "new":
            out["rope_theta"] = self.rope_theta
        else:
            scaling = self.rope_scaling or {}
            out["rope_parameters"] = {"rope_type": "default", **scaling, "rope_theta": self.rope_theta}
        return out


class GteEmbeddings(TransformersAttributes, nn.Module):
    """Word embeddings (+ token types when the model has a table) -> LayerNorm -> dropout; no positions."""

    transformers_attributes = {"word_embeddings": "tok", "token_type_embeddings": "seg", "LayerNorm": "norm"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: GteConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.seg = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size) if cfg.type_vocab_size else None
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        x = self.tok(input_ids)  # (B, T, D)
        if self.seg is not None:
            x = x + self.seg(torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids)
        return self.dropout(self.norm(x))  # (B, T, D)


class GteMLP(nn.Module):
    """``down(dropout(act(gate(x)) * up(x)))``, (B, T, D) -> (B, T, F) -> (B, T, D); ``up`` and ``gate`` are one
    bias-free Linear of 2F outputs (``up`` first), ``down`` has a bias."""

    def __init__(self, cfg: GteConfig) -> None:
        super().__init__()
        self.up_gate = nn.Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.down = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.act = ACTIVATIONS[cfg.hidden_act]  # a key of ACTIVATION_FUNCTIONS
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor) -> Tensor:
        up, gate = self.up_gate(x).chunk(2, dim=-1)  # (B, T, F) each
        return self.down(self.dropout(ACTIVATION_FUNCTIONS[self.act](gate) * up))  # (B, T, D)


class GteModel(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
               TransformersAttributes, nn.Module):
    """Embeddings (words [+ token types], LayerNorm) -> L post-LN rotary layers (-> BERT's pooler for a classifier).

    Example:
        >>> cfg = GteConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                 intermediate_size=48)
        >>> enc = GteModel(cfg, add_pooler=False).eval()
        >>> ids = torch.tensor([[0, 5, 7, 2], [0, 8, 2, 1]])  # the second text is padded (pad id 1)
        >>> out = enc(ids, torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])).last_hidden_state
        >>> alone = enc(ids[1:, :3]).last_hidden_state
        >>> tuple(out.shape), bool((out[1, :3] - alone[0]).abs().max() < 1e-5)
        ((2, 4, 32), True)
    """

    transformers_attributes = {"embeddings": "embed", "encoder": {"layer": "layers"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: GteConfig, add_pooler: bool = False) -> None:
        super().__init__()
        self.config = cfg
        self.embed = GteEmbeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg, attn=NomicBertAttention(cfg, bias=True), ffn=GteMLP(cfg))
                                    for _ in range(cfg.num_hidden_layers))  # BERT's post-LN layer around them
        self.pooler = Pooler(cfg) if add_pooler else None

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        cfg, T = self.config, input_ids.shape[1]
        x = self.embed(input_ids, token_type_ids)  # (B, T, D)
        cos, sin = rotary_cos_sin(torch.arange(T, device=input_ids.device), cfg.head_dim, cfg.rope_theta,
                                  cfg.rope_scaling)  # (T, Dh) each
        attn_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            attn_mask = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T)
        return run_layers(self.layers, x, cos, sin, attn_mask, output_hidden_states=output_hidden_states)
