"""DeBERTa (He et al. 2021), v1 and v2 / v3: the encoder of mxbai-rerank-v1, the nli-deberta(-v3) cross-encoders and
DeBERTa fine-tunes.

Reference: HF ``transformers/models/deberta_v2/modeling_deberta_v2.py`` (DebertaV2Model) and, for ``model_type:
deberta``, ``transformers/models/deberta/modeling_deberta.py`` (DebertaModel). BERT's post-LN layers with
*disentangled* attention: besides content-to-content scores ``q_i . k_j``, each head scores the content of one token
against the relative position of the other,

- c2p: ``q_i . Kr[idx(i, j)]`` and p2c: ``k_j . Qr[idx(i, j)]``, where ``Kr`` / ``Qr`` are projections of a learned
  table of relative-position embeddings (2S rows, optionally LayerNorm'ed: ``norm_rel_ebd``; projected by the
  key / query projections themselves when ``share_att_key``, else by their own ``pos_key_proj`` /
  ``pos_query_proj``), and ``idx(i, j) = clamp(bucket(i - j) + S, 0, 2S - 1)``;
- every term is divided by ``sqrt(Dh * (1 + number of position terms))``;
- ``bucket`` is the identity for distances within ``position_buckets // 2`` and logarithmic beyond, up to
  ``max_relative_positions`` (S = ``position_buckets``; without buckets, S = ``max_relative_positions`` and
  distances are clamped).

Embeddings: words, absolute positions only when ``position_biased_input`` (DeBERTa-v3 has none), token types when
``type_vocab_size > 0``, a bias-free projection when ``embedding_size`` differs, LayerNorm; padding positions are
zeroed. The convolution of deberta-v2-xlarge (``conv_kernel_size``) is refused by name.

DeBERTa v1 (``deberta``) is the same attention with v2's options fixed (no buckets: distances clamped at
``max_relative_positions``; its own position projections; no LayerNorm on the table) and other projections: one
bias-free ``in_proj`` whose rows are grouped per head as (query, key, value), separate query and value biases, and
a bias-free key-side position projection. ``talking_head`` is refused by name. (transformers' v1 slices the table to
the input length; the rows it reads are the same.)

Padding: keys are masked out of every row; padding positions' outputs are not the reference's (transformers masks
their whole rows) and every pooling ignores them.

Legend: B batch, T tokens, D hidden size, H heads, Dh head size, S attention span (2S relative-position rows).
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing
from embedkit.encoders.config import SUPPORTED_ACTIVATIONS, EncoderConfig, check_pad_token_row
from embedkit.encoders.layers import EncoderLayer, EncoderOutput, ParameterPlacement, run_layers
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

POSITION_TERMS = ("c2p", "p2c")


@dataclass
class DebertaV2Config(EncoderConfig):
    """:class:`EncoderConfig`'s BERT-style sizes plus DeBERTa-v2's relative attention settings.

    Example:
        >>> cfg = DebertaV2Config.from_deberta_v2_config({"model_type": "deberta-v2", "vocab_size": 100,
        ...     "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
        ...     "relative_attention": True, "position_buckets": 8, "pos_att_type": "p2c|c2p",
        ...     "share_att_key": True, "norm_rel_ebd": "layer_norm", "position_biased_input": False})
        >>> cfg.attention_span, cfg.pos_att_type, cfg.parameter_count()
        (8, ('p2c', 'c2p'), 20928)
    """

    model_type: str = "deberta-v2"
    """``deberta-v2`` (v2 and v3) or ``deberta`` (v1: fused per-head ``in_proj``, see the module docstring)."""
    vocab_size: int = 128100
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-7
    relative_attention: bool = False
    max_relative_positions: int = -1
    """Reach of the relative positions (-1 or less: ``max_position_embeddings``)."""
    position_buckets: int = -1
    """Relative distances are bucketed logarithmically beyond ``position_buckets // 2`` (-1: no buckets)."""
    pos_att_type: tuple[str, ...] = ()
    """Position terms of the attention scores: ``c2p``, ``p2c``, both or none."""
    share_att_key: bool = False
    """The relative embeddings go through the query / key projections (else their own ``pos_*_proj``)."""
    norm_rel_ebd: bool = False
    """LayerNorm on the relative-position table (config.json ``norm_rel_ebd: layer_norm``)."""
    position_biased_input: bool = True
    """Absolute position embeddings are added to the word embeddings."""
    pooler_hidden_act: str = "gelu"
    pooler_dropout: float = 0.0

    def __post_init__(self) -> None:
        self.pos_att_type = tuple(self.pos_att_type)
        super().__post_init__()
        if self.pooler_hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"config pooler_hidden_act={self.pooler_hidden_act!r} must be one of "
                             f"{SUPPORTED_ACTIVATIONS}")
        unknown = set(self.pos_att_type) - set(POSITION_TERMS)
        if unknown:
            raise ValueError(f"config pos_att_type={list(self.pos_att_type)}: only {POSITION_TERMS} are supported")
        if self.relative_attention and self.attention_span < 1:
            raise ValueError(f"config position_buckets={self.position_buckets} / max_relative_positions="
                             f"{self.max_relative_positions} leave no relative positions")
        if self.position_buckets > 0 and self.relative_reach <= self.position_buckets // 2:
            raise ValueError(f"config max_relative_positions={self.relative_reach} must exceed position_buckets // 2 "
                             f"({self.position_buckets // 2}) for logarithmic buckets")

    def _check_embedding_ids(self) -> None:
        check_pad_token_row(self.pad_token_id, self.vocab_size)

    @property
    def v1(self) -> bool:
        """DeBERTa v1 (``model_type: deberta``): the fused per-head ``in_proj`` layout."""
        return self.model_type == "deberta"

    @property
    def relative_reach(self) -> int:
        """``max_relative_positions``, or ``max_position_embeddings`` when it is below 1 (as transformers)."""
        return self.max_relative_positions if self.max_relative_positions >= 1 else self.max_position_embeddings

    @property
    def attention_span(self) -> int:
        """S: ``position_buckets`` when bucketing, else the relative reach; the table has 2S rows."""
        return self.position_buckets if self.position_buckets > 0 else self.relative_reach

    def parameter_count(self, add_pooler: bool = True) -> int:
        """Numbers in the encoder built from this config (no pooler: it belongs to the classification head).

        Example:
            >>> DebertaV2Config(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
            ...                 intermediate_size=8, max_position_embeddings=6).parameter_count()
            244
        """
        del add_pooler
        D, F, e = self.hidden_size, self.intermediate_size, self.embedding_size or self.hidden_size
        embeddings = self.vocab_size * e + self.type_vocab_size * e + 2 * D  # words, types, LayerNorm
        if self.position_biased_input:
            embeddings += self.max_position_embeddings * e
        if e != D:
            embeddings += e * D
        layer = 4 * (D * D + D) + (D * F + F) + (F * D + D) + 4 * D  # q, k, v, o; up; down; two LayerNorms
        if self.v1:
            layer -= D  # in_proj: three bias-free projections, then biases for the query and value only
        if self.relative_attention:
            embeddings += 2 * self.attention_span * D + (2 * D if self.norm_rel_ebd else 0)
            if not self.share_att_key:
                layer += len(self.pos_att_type) * (D * D + D) - (D if self.v1 and "c2p" in self.pos_att_type else 0)
        return embeddings + self.num_hidden_layers * layer

    @classmethod
    def from_deberta_v2_config(cls, hf: dict[str, Any]) -> DebertaV2Config:
        """Build from a ``deberta-v2`` or ``deberta`` (v1) config.json (transformers' defaults of each;
        ``pos_att_type`` as a list or a ``"p2c|c2p"`` string). The convolution layer, v1's talking heads, another
        ``pooler_hidden_size`` or ``attention_head_size``, and unknown ``norm_rel_ebd`` values are refused by name."""
        if hf.get("model_type", "deberta-v2") == "deberta":
            return cls._from_v1_config(hf)
        if hf.get("conv_kernel_size", 0) > 0:
            raise ValueError(f"config conv_kernel_size={hf['conv_kernel_size']}: the convolution layer of "
                             "deberta-v2-xlarge / xxlarge is not supported")
        hidden = hf.get("hidden_size", 1536)
        heads = hf.get("num_attention_heads", 24)
        for key, expected in (("pooler_hidden_size", hidden), ("attention_head_size", hidden // max(heads, 1))):
            if hf.get(key, expected) != expected:
                raise ValueError(f"config {key}={hf[key]} is not supported (only {expected}, from hidden_size)")
        terms = hf.get("pos_att_type") or []
        if isinstance(terms, str):
            terms = [t.strip() for t in terms.lower().split("|")]
        norms = [t.strip() for t in str(hf.get("norm_rel_ebd", "none")).lower().split("|")]
        if set(norms) - {"none", "layer_norm"}:
            raise ValueError(f"config norm_rel_ebd={hf['norm_rel_ebd']!r}: only 'layer_norm' or 'none' is supported")
        return cls(
            vocab_size=hf.get("vocab_size", 128100),
            hidden_size=hidden,
            num_hidden_layers=hf.get("num_hidden_layers", 24),
            num_attention_heads=heads,
            intermediate_size=hf.get("intermediate_size", 6144),
            hidden_act=hf.get("hidden_act", "gelu"),
            hidden_dropout_prob=hf.get("hidden_dropout_prob", 0.1),
            attention_probs_dropout_prob=hf.get("attention_probs_dropout_prob", 0.1),
            max_position_embeddings=hf.get("max_position_embeddings", 512),
            type_vocab_size=hf.get("type_vocab_size", 0),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-7),
            pad_token_id=hf.get("pad_token_id", 0),
            relative_attention_num_buckets=0,
            embedding_size=hf.get("embedding_size"),
            relative_attention=bool(hf.get("relative_attention", False)),
            max_relative_positions=hf.get("max_relative_positions", -1),
            position_buckets=hf.get("position_buckets", -1),
            pos_att_type=tuple(terms),
            share_att_key=bool(hf.get("share_att_key", False)),
            norm_rel_ebd="layer_norm" in norms,
            position_biased_input=bool(hf.get("position_biased_input", True)),
            pooler_hidden_act=hf.get("pooler_hidden_act", "gelu"),
            pooler_dropout=hf.get("pooler_dropout", 0.0),
            hf_config=copy.deepcopy(hf),
        )

    @classmethod
    def _from_v1_config(cls, hf: dict[str, Any]) -> DebertaV2Config:
        """A ``deberta`` (v1) config.json: v2's reading with v1's defaults, v2-only options off (v1 never reads
        them)."""
        if hf.get("talking_head", False):
            raise ValueError("config talking_head=true: DeBERTa's talking-head attention is not supported")
        v1_defaults = {"vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                       "intermediate_size": 3072}
        v2_only = {"position_buckets": -1, "share_att_key": False, "norm_rel_ebd": "none", "conv_kernel_size": 0}
        cfg = cls.from_deberta_v2_config({**v1_defaults, **hf, **v2_only, "model_type": "deberta-v2"})
        cfg.model_type, cfg.hf_config = "deberta", copy.deepcopy(hf)
        return cfg

    def to_hf_config(self) -> dict[str, Any]:
        """The ``config.json`` dict: the original keys with the interpreted fields written over."""
        out = copy.deepcopy(self.hf_config)
        out.update(
            model_type=self.model_type,
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attention_probs_dropout_prob=self.attention_probs_dropout_prob,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            layer_norm_eps=self.layer_norm_eps,
            pad_token_id=self.pad_token_id,
            relative_attention=self.relative_attention,
            max_relative_positions=self.max_relative_positions,
            position_buckets=self.position_buckets,
            pos_att_type=list(self.pos_att_type),
            share_att_key=self.share_att_key,
            norm_rel_ebd="layer_norm" if self.norm_rel_ebd else "none",
            position_biased_input=self.position_biased_input,
            pooler_hidden_act=self.pooler_hidden_act,
            pooler_dropout=self.pooler_dropout,
        )
        if self.embedding_size is not None:
            out["embedding_size"] = self.embedding_size
        if self.v1:  # v2's keys, which v1 never reads: written back as the original had them (or not at all)
            for key in ("position_buckets", "share_att_key", "norm_rel_ebd"):
                if key in self.hf_config:
                    out[key] = copy.deepcopy(self.hf_config[key])
                else:
                    out.pop(key)
        return out


def log_bucket_position(relative: Tensor, bucket_size: int, max_position: int) -> Tensor:
    """DeBERTa's buckets of signed distances: exact within ``bucket_size // 2``, then ``sign * ceil(...)`` growing
    logarithmically to ``bucket_size // 2 * 2 - 1`` at ``max_position - 1`` (computed in float32, as transformers).

    Example:
        >>> log_bucket_position(torch.tensor([0, 3, -4, 5, 40, -511]), bucket_size=8, max_position=512).tolist()
        [0, 3, -4, 5, 6, -7]
    """
    sign = torch.sign(relative)
    mid = bucket_size // 2
    near = (relative < mid) & (relative > -mid)
    distance = torch.where(near, torch.tensor(mid - 1).type_as(relative), relative.abs())
    log_pos = torch.ceil(torch.log(distance / mid) / torch.log(torch.tensor((max_position - 1) / mid))
                         * (mid - 1)) + mid
    return torch.where(distance <= mid, relative.type_as(log_pos), log_pos * sign).long()


def relative_position_index(T: int, cfg: DebertaV2Config, device: torch.device) -> Tensor:
    """(T, T) row of the relative-position table each (query i, key j) pair reads: ``clamp(bucket(i - j) + S)``."""
    positions = torch.arange(T, device=device)
    relative = positions[:, None] - positions[None, :]  # (T, T): query - key
    if cfg.position_buckets > 0:
        relative = log_bucket_position(relative, cfg.position_buckets, cfg.relative_reach)
    S = cfg.attention_span
    return (relative + S).clamp(0, 2 * S - 1)


class DebertaV2Embeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"word_embeddings": "tok", "position_embeddings": "pos", "token_type_embeddings": "seg",
                               "LayerNorm": "norm", "embed_proj": "project"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: DebertaV2Config) -> None:
        super().__init__()
        e = cfg.embedding_size or cfg.hidden_size
        self.tok = nn.Embedding(cfg.vocab_size, e, padding_idx=cfg.pad_token_id)
        self.pos = nn.Embedding(cfg.max_position_embeddings, e) if cfg.position_biased_input else None
        self.seg = nn.Embedding(cfg.type_vocab_size, e) if cfg.type_vocab_size > 0 else None
        self.project = nn.Linear(e, cfg.hidden_size, bias=False) if e != cfg.hidden_size else None
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None, attention_mask: Tensor | None) -> Tensor:
        x = self.tok(input_ids)  # (B, T, e)
        if self.pos is not None:
            x = x + self.pos(torch.arange(input_ids.shape[1], device=input_ids.device))
        if self.seg is not None:
            x = x + self.seg(torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids)
        if self.project is not None:
            x = self.project(x)  # (B, T, D)
        x = self.norm(x)
        if attention_mask is not None:
            x = x * attention_mask[..., None].to(x.dtype)  # padding positions zeroed
        return self.dropout(x)


class DisentangledSelfAttention(nn.Module):
    """Content-to-content plus the configured content-to-position and position-to-content scores."""

    def __init__(self, cfg: DebertaV2Config) -> None:
        super().__init__()
        D = cfg.hidden_size
        self.n_heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.fused = cfg.v1
        if self.fused:  # v1: one bias-free projection, rows grouped per head as (query, key, value); two biases
            self.in_proj = nn.Linear(D, 3 * D, bias=False)
            self.q_bias = nn.Parameter(torch.zeros(D))
            self.v_bias = nn.Parameter(torch.zeros(D))
        else:
            self.q = nn.Linear(D, D)
            self.k = nn.Linear(D, D)
            self.v = nn.Linear(D, D)
        self.o = nn.Linear(D, D)
        self.terms = cfg.pos_att_type if cfg.relative_attention else ()
        self.share_att_key = cfg.share_att_key
        if not cfg.share_att_key:
            self.pos_k = nn.Linear(D, D, bias=not cfg.v1) if "c2p" in self.terms else None
            self.pos_q = nn.Linear(D, D) if "p2c" in self.terms else None
        self.dropout = nn.Dropout(cfg.attention_probs_dropout_prob)
        self.rel_dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def heads(self, x: Tensor) -> Tensor:
        """(..., N, D) -> (..., H, N, Dh)."""
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(-3, -2)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, D) -> query, key, value, each (B, H, T, Dh)."""
        if not self.fused:
            return self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        B, T, _ = x.shape
        qkv = self.in_proj(x).view(B, T, self.n_heads, 3, self.head_dim).transpose(1, 2)  # (B, H, T, 3, Dh)
        q, k, v = qkv.unbind(dim=3)
        per_head = (self.n_heads, 1, self.head_dim)
        return q + self.q_bias.view(per_head), k, v + self.v_bias.view(per_head)

    def forward(self, x: Tensor, key_mask: Tensor | None, rel: Tensor | None, index: Tensor | None) -> Tensor:
        """``x`` (B, T, D); ``key_mask`` (B, 1, 1, T) bool, True = a real key, or None; ``rel`` the (2S, D) relative
        table and ``index`` its (T, T) rows per pair (both None without relative attention)."""
        B, T, D = x.shape
        q, k, v = self.project(x)  # (B, H, T, Dh) each
        scale = math.sqrt(self.head_dim * (1 + len(self.terms)))
        scores = q @ k.transpose(-1, -2) / scale  # (B, H, T, T) content to content
        if self.terms:
            rel = self.rel_dropout(rel)
            rows = index.expand(B, self.n_heads, T, T)
            if "c2p" in self.terms:  # query content against the key's relative position
                pos_k = self.heads(self.k(rel) if self.share_att_key else self.pos_k(rel))  # (H, 2S, Dh)
                scores = scores + (q @ pos_k.transpose(-1, -2)).gather(-1, rows) / scale
            if "p2c" in self.terms:  # key content against the query's relative position
                pos_q = self.heads(self.q(rel) if self.share_att_key else self.pos_q(rel))  # (H, 2S, Dh)
                by_key = k @ pos_q.transpose(-1, -2)  # (B, H, T keys, 2S)
                scores = scores + by_key.gather(-1, rows.transpose(-1, -2)).transpose(-1, -2) / scale
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask, torch.finfo(scores.dtype).min)
        y = self.dropout(scores.softmax(dim=-1)) @ v  # (B, H, T, Dh)
        return self.o(y.transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class DebertaV2Model(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                     TransformersAttributes, nn.Module):
    """Embeddings -> L post-LN layers with disentangled attention over one shared relative-position table.

    Example:
        >>> cfg = DebertaV2Config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                       intermediate_size=64, relative_attention=True, position_buckets=8,
        ...                       pos_att_type=("p2c", "c2p"), position_biased_input=False)
        >>> enc = DebertaV2Model(cfg).eval()
        >>> ids = torch.tensor([[1, 5, 7, 2], [1, 8, 2, 0]])  # the second text is padded
        >>> out = enc(ids, torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])).last_hidden_state
        >>> alone = enc(ids[1:, :3]).last_hidden_state
        >>> tuple(out.shape), bool((out[1, :3] - alone[0]).abs().max() < 1e-5)
        ((2, 4, 32), True)
    """

    transformers_attributes = {"embeddings": "embed",
                               "encoder": {"layer": "layers", "rel_embeddings": "rel_embed", "LayerNorm": "rel_norm"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: DebertaV2Config, add_pooler: bool = False) -> None:
        super().__init__()
        del add_pooler  # the pooler belongs to the classification head
        self.config = cfg
        self.embed = DebertaV2Embeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg, attn=DisentangledSelfAttention(cfg))  # BERT's layer
                                    for _ in range(cfg.num_hidden_layers))
        if cfg.relative_attention:
            self.rel_embed = nn.Embedding(2 * cfg.attention_span, cfg.hidden_size)
            self.rel_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps) if cfg.norm_rel_ebd else None

    def relative_table(self) -> Tensor | None:
        """The (2S, D) relative-position embeddings every layer projects, or None without relative attention."""
        if not self.config.relative_attention:
            return None
        table = self.rel_embed.weight
        return table if self.rel_norm is None else self.rel_norm(table)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        T = input_ids.shape[1]
        x = self.embed(input_ids, token_type_ids, attention_mask)  # (B, T, D)
        key_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            key_mask = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T)
        rel = self.relative_table()
        index = relative_position_index(T, self.config, input_ids.device) if rel is not None else None
        return run_layers(self.layers, x, key_mask, rel, index, output_hidden_states=output_hidden_states)
