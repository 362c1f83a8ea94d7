"""NomicBERT (Nussbaum et al. 2024): the encoder of nomic-embed-text-v1 / v1.5, run from its weights, never from the
model folder's code.

Reference: HF ``transformers/models/nomic_bert/modeling_nomic_bert.py`` (NomicBertModel, native since transformers
5). BERT's post-LN layers with three changes:
- no position table: rotary positions (``rope_theta``, Nomic's ``rotary_emb_base``; the two halves of each head) on
  queries and keys;
- a SwiGLU feed-forward ``fc2(fc11(x) * silu(fc12(x)))``;
- no biases in attention or feed-forward (the LayerNorms keep theirs); one fused query / key / value projection
  (``Wqkv``), kept fused here as the checkpoints store it.

config.json comes in two dialects, both read: transformers' (``hidden_size``, ``num_hidden_layers``, ...,
``rope_parameters``) and Nomic's original one (``n_embd``, ``n_layer``, ``n_head``, ``n_inner``, ``n_positions``,
``rotary_emb_base``, ``activation_function: swiglu``, ``layer_norm_epsilon``). Original options these checkpoints
do not use (``prenorm``, partial or interleaved or scaled rotary, biases, RMSNorm, parallel blocks, causal
attention) and nomic-embed-text-v2-moe's mixture of experts are refused by name.

Legend: B batch, T tokens, D hidden size, H heads, Dh head size, F intermediate size.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing
from embedkit.encoders.config import EncoderConfig, check_pad_token_row
from embedkit.encoders.layers import EncoderLayer, EncoderOutput, ParameterPlacement, run_layers
from embedkit.encoders.qwen3 import GatedMLP
from embedkit.encoders.rotary import rotary_cos_sin, rotate_half
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

# Nomic's original config.json key -> transformers' key, for the sizes both dialects name
ORIGINAL_KEYS = {
    "n_embd": "hidden_size",
    "n_layer": "num_hidden_layers",
    "n_head": "num_attention_heads",
    "n_inner": "intermediate_size",
    "n_positions": "max_position_embeddings",
    "layer_norm_epsilon": "layer_norm_eps",
    "resid_pdrop": "hidden_dropout_prob",
    "attn_pdrop": "attention_probs_dropout_prob",
}
# Original options and the value under which a checkpoint runs as this module does
_ORIGINAL_DEFAULTS = {
    "prenorm": False, "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False, "rotary_scaling_factor": None,
    "rotary_emb_scale_base": None, "qkv_proj_bias": False, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
    "use_rms_norm": False, "parallel_block": False, "causal": False,
}
_ORIGINAL_ACTIVATIONS = {"swiglu": "silu"}


@dataclass
class NomicBertConfig(EncoderConfig):
    """BERT's sizes with Nomic's rotary base; ``head_dim`` is ``hidden_size / num_attention_heads``.

    Example:
        >>> cfg = NomicBertConfig.from_nomic_bert_config({"model_type": "nomic_bert", "vocab_size": 100,
        ...     "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 48, "rotary_emb_base": 1000,
        ...     "activation_function": "swiglu"})
        >>> cfg.hidden_size, cfg.intermediate_size, cfg.rope_theta, cfg.parameter_count()
        (32, 48, 1000.0, 20992)
    """

    model_type: str = "nomic_bert"
    vocab_size: int = 30528
    hidden_act: str = "silu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 2048
    rope_theta: float = 1000.0
    mlp_bias: bool = False
    """Always False: the feed-forward (:class:`~embedkit.encoders.qwen3.GatedMLP`) has no biases."""

    def _check_head_size(self) -> None:
        super()._check_head_size()
        if self.head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head size, got {self.head_dim}")

    def _check_embedding_ids(self) -> None:
        check_pad_token_row(self.pad_token_id, self.vocab_size)
        if self.type_vocab_size < 1:
            raise ValueError(f"config type_vocab_size={self.type_vocab_size}: NomicBERT adds a token-type row to "
                             "every token")

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the encoder built from this config (no pooler).

        Example:
            >>> NomicBertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
            ...                 intermediate_size=6).parameter_count()
            208
        """
        del add_pooler
        D, F_ = self.hidden_size, self.intermediate_size
        layer = 4 * D * D + 3 * D * F_ + 4 * D  # qkv, o; fc11, fc12, fc2; two LayerNorms
        return (self.vocab_size + self.type_vocab_size) * D + 2 * D + self.num_hidden_layers * layer

    @classmethod
    def from_nomic_bert_config(cls, hf: dict[str, Any]) -> NomicBertConfig:
        """Build from a ``nomic_bert`` config.json in either dialect (transformers' keys win where both appear)."""
        if hf.get("moe_every_n_layers", 0) or hf.get("num_experts", 0) > 1:
            raise ValueError("config moe_every_n_layers / num_experts: NomicBERT's mixture of experts "
                             "(nomic-embed-text-v2-moe) is not supported")
        for key, expected in _ORIGINAL_DEFAULTS.items():
            if hf.get(key, expected) != expected:
                raise ValueError(f"config {key}={hf[key]!r} is not supported for nomic_bert (only {expected!r})")
        rope = hf.get("rope_parameters") or {}
        if rope.get("rope_type", "default") != "default":
            raise ValueError(f"config.json asks for rope_type={rope['rope_type']!r}; only 'default' rotary positions "
                             "are supported for nomic_bert")
        native = dict(hf)
        for original, key in ORIGINAL_KEYS.items():
            if key not in native and hf.get(original) is not None:
                native[key] = hf[original]
        act = hf.get("hidden_act")
        if act is None:
            original_act = hf.get("activation_function", "swiglu")
            if original_act not in _ORIGINAL_ACTIVATIONS:
                raise ValueError(f"config activation_function={original_act!r} is not supported for nomic_bert (only "
                                 "'swiglu')")
            act = _ORIGINAL_ACTIVATIONS[original_act]
        hidden = native.get("hidden_size", 768)
        return cls(
            vocab_size=hf.get("vocab_size", 30528),
            hidden_size=hidden,
            num_hidden_layers=native.get("num_hidden_layers", 12),
            num_attention_heads=native.get("num_attention_heads", 12),
            intermediate_size=native.get("intermediate_size") or 4 * hidden,
            hidden_act=act,
            hidden_dropout_prob=native.get("hidden_dropout_prob", 0.0),
            attention_probs_dropout_prob=native.get("attention_probs_dropout_prob", 0.0),
            max_position_embeddings=native.get("max_position_embeddings", 2048),
            type_vocab_size=hf.get("type_vocab_size", 2),
            layer_norm_eps=native.get("layer_norm_eps", 1e-12),
            pad_token_id=hf.get("pad_token_id", 0),
            relative_attention_num_buckets=0,
            rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", hf.get("rotary_emb_base", 1000.0)))),
            hf_config=copy.deepcopy(hf),
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: transformers' keys (which ST 6 reads natively), and the original dialect's keys
        updated too where the source had them."""
        out = copy.deepcopy(self.hf_config)
        native = dict(
            model_type="nomic_bert", vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers, num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size, hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings, type_vocab_size=self.type_vocab_size,
            layer_norm_eps=self.layer_norm_eps, pad_token_id=self.pad_token_id,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
        )
        out.update(native)
        for original, key in ORIGINAL_KEYS.items():
            if original in out:
                out[original] = native[key]
        if "rotary_emb_base" in out:
            out["rotary_emb_base"] = self.rope_theta
        return out


class NomicBertEmbeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"word_embeddings": "tok", "token_type_embeddings": "seg"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: NomicBertConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.seg = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        return self.dropout(self.norm(self.tok(input_ids) + self.seg(types)))  # (B, T, D)


class NomicBertAttention(nn.Module):
    """Self-attention from one fused query / key / value projection, rotary positions on queries and keys; without
    biases (NomicBERT) or with them (``bias=True``: GTE, :mod:`.gte`)."""

    def __init__(self, cfg: EncoderConfig, bias: bool = False) -> None:
        super().__init__()
        self.n_heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size, bias=bias)
        self.o = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=bias)
        self.dropout_p = cfg.attention_probs_dropout_prob

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, attn_mask: Tensor | None) -> Tensor:
        """``x`` (B, T, D); ``cos``/``sin`` (T, Dh); ``attn_mask`` (B, 1, 1, T) bool, True = a real key, or None."""
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
                   for t in self.qkv(x).chunk(3, dim=-1))  # (B, H, T, Dh) each
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        dropout_p = self.dropout_p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)  # (B, H, T, Dh)
        return self.o(y.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class NomicBertModel(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                     TransformersAttributes, nn.Module):
    """Embeddings (words + token types, LayerNorm) -> L post-LN rotary layers.

    Example:
        >>> cfg = NomicBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                       intermediate_size=48)
        >>> enc = NomicBertModel(cfg).eval()
        >>> ids = torch.tensor([[1, 5, 7, 2], [1, 8, 2, 0]])  # the second text is padded
        >>> out = enc(ids, torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])).last_hidden_state
        >>> alone = enc(ids[1:, :3]).last_hidden_state
        >>> tuple(out.shape), bool((out[1, :3] - alone[0]).abs().max() < 1e-5)
        ((2, 4, 32), True)
    """

    transformers_attributes = {"embeddings": "embed", "emb_ln": "embed.norm", "encoder": {"layers": "layers"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: NomicBertConfig, add_pooler: bool = False) -> None:
        super().__init__()
        del add_pooler  # NomicBertModel has no pooler by default
        self.config = cfg
        self.embed = NomicBertEmbeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg, attn=NomicBertAttention(cfg), ffn=GatedMLP(cfg))  # BERT's
                                    for _ in range(cfg.num_hidden_layers))

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        T = input_ids.shape[1]
        x = self.embed(input_ids, token_type_ids)  # (B, T, D)
        cos, sin = rotary_cos_sin(torch.arange(T, device=input_ids.device), self.config.head_dim,
                                  self.config.rope_theta)  # (T, Dh) each
        attn_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            attn_mask = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T)
        return run_layers(self.layers, x, cos, sin, attn_mask, output_hidden_states=output_hidden_states)
