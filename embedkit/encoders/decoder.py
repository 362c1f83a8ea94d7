"""BERT as a decoder with cross-attention and an LM head: the TSDAE decoder (DenoisingAutoEncoderLoss).

Same computation as HF ``BertLMHeadModel`` with ``is_decoder=True, add_cross_attention=True``: BERT embeddings,
then per layer causal self-attention, cross-attention over the encoder states and the feed-forward block, each
post-LN with a residual; then the MLM transform (dense, activation, LayerNorm) and logits against the word
embeddings (tied) plus a bias. Self-attention is causal only (no padding mask), as HF with ``attention_mask=None``.

The decoder can share ("tie") its embeddings and every self-attention / feed-forward block with a :class:`BertModel`
encoder: it then holds the encoder's very modules, so the parameters are the same objects. Only the cross-attention
blocks and the LM-head transform and bias are its own.

References: HF ``transformers/models/bert/modeling_bert.py`` (BertLMHeadModel, BertLayer with crossattention);
Wang et al., 2021, "TSDAE" (arXiv:2104.06979).

Legend: B batch, T target tokens, S encoder positions, D hidden size, H heads, Dh = D / H, V vocabulary.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing, CheckpointedLayer
from embedkit.encoders.bert import BertEmbeddings, BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.convert import FROM_HF, HEADS_FROM_HF, get_mapped_key, normalize_hf_key
from embedkit.encoders.layers import ACTIVATION_FUNCTIONS, ACTIVATIONS, EncoderLayer, FeedForward, SelfAttention
from embedkit.model_files import read_model_text

logger = logging.getLogger(__name__)

# HF names of the decoder-only weights -> ours. The rest maps through convert.py's encoder and head tables.
_CROSS_FROM_HF = {
    "encoder.layer.{}.crossattention.self.query.weight": "layers.{}.cross_attn.q.weight",
    "encoder.layer.{}.crossattention.self.query.bias": "layers.{}.cross_attn.q.bias",
    "encoder.layer.{}.crossattention.self.key.weight": "layers.{}.cross_attn.k.weight",
    "encoder.layer.{}.crossattention.self.key.bias": "layers.{}.cross_attn.k.bias",
    "encoder.layer.{}.crossattention.self.value.weight": "layers.{}.cross_attn.v.weight",
    "encoder.layer.{}.crossattention.self.value.bias": "layers.{}.cross_attn.v.bias",
    "encoder.layer.{}.crossattention.output.dense.weight": "layers.{}.cross_attn.o.weight",
    "encoder.layer.{}.crossattention.output.dense.bias": "layers.{}.cross_attn.o.bias",
    "encoder.layer.{}.crossattention.output.LayerNorm.weight": "layers.{}.cross_norm.weight",
    "encoder.layer.{}.crossattention.output.LayerNorm.bias": "layers.{}.cross_norm.bias",
}
_INIT_STD = 0.02  # BERT's initializer_range, for the weights a checkpoint does not provide


class CrossAttention(nn.Module):
    """Queries from the decoder states, keys and values from the encoder states."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.dropout_p = cfg.attention_probs_dropout_prob
        self.q = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.k = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.v = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.o = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None) -> Tensor:
        B, T, D = x.shape
        S = memory.shape[1]
        q = self.q(x).view(B, T, self.n_heads, -1).transpose(1, 2)  # (B, H, T, Dh)
        k = self.k(memory).view(B, S, self.n_heads, -1).transpose(1, 2)  # (B, H, S, Dh)
        v = self.v(memory).view(B, S, self.n_heads, -1).transpose(1, 2)  # (B, H, S, Dh)
        dropout_p = self.dropout_p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=memory_mask, dropout_p=dropout_p)  # (B, H, T, Dh)
        return self.o(y.transpose(1, 2).reshape(B, T, D))


class DecoderLayer(CheckpointedLayer):
    """Causal self-attention, cross-attention, feed-forward; each ``LN(x + Dropout(block(x)))``.

    With ``shared`` (an encoder layer) the self-attention and feed-forward blocks and their norms are that layer's.
    """

    def __init__(self, cfg: EncoderConfig, shared: EncoderLayer | None = None) -> None:
        super().__init__()
        if shared is None:
            shared = EncoderLayer(cfg)
        self.attn: SelfAttention = shared.attn
        self.attn_norm: nn.LayerNorm = shared.attn_norm
        self.cross_attn = CrossAttention(cfg)
        self.cross_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.ffn: FeedForward = shared.ffn
        self.ffn_norm: nn.LayerNorm = shared.ffn_norm
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor, causal_mask: Tensor, memory: Tensor, memory_mask: Tensor | None) -> Tensor:
        x = self.attn_norm(x + self.dropout(self.attn(x, causal_mask)))  # (B, T, D)
        x = self.cross_norm(x + self.dropout(self.cross_attn(x, memory, memory_mask)))  # (B, T, D)
        return self.ffn_norm(x + self.dropout(self.ffn(x)))  # (B, T, D)


class LMHead(nn.Module):
    """HF ``BertLMPredictionHead``: ``LN(act(W h)) @ E^T + b`` with ``E`` the (tied) word embeddings."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.act = ACTIVATIONS[cfg.hidden_act]
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, hidden: Tensor, word_embeddings: Tensor) -> Tensor:
        transformed = self.norm(ACTIVATION_FUNCTIONS[self.act](self.dense(hidden)))  # (B, T, D)
        return F.linear(transformed, word_embeddings, self.bias)  # (B, T, V)


class BertDecoder(ActivationCheckpointing, nn.Module):
    """BERT with causal self-attention, cross-attention and an LM head; optionally tied to a BERT encoder.

    Args:
        cfg: The BERT configuration (hidden size, layers, heads, vocabulary).
        encoder: Share embeddings and self-attention / feed-forward blocks with this encoder (tying).

    Example:
        >>> from embedkit.encoders import BertModel, EncoderConfig
        >>> cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                     intermediate_size=64)
        >>> encoder = BertModel(cfg).eval()
        >>> decoder = BertDecoder(cfg, encoder=encoder).eval()
        >>> decoder.embed.tok.weight is encoder.embed.tok.weight
        True
        >>> logits = decoder(torch.tensor([[1, 5, 7]]), memory=torch.randn(1, 1, 32))
        >>> tuple(logits.shape)
        (1, 3, 100)
    """

    def __init__(self, cfg: EncoderConfig, encoder: BertModel | None = None) -> None:
        super().__init__()
        if cfg.model_type != "bert":
            raise ValueError(f"the decoder is a BERT decoder; got model_type={cfg.model_type!r}")
        self.config = cfg
        self.tied = encoder is not None
        if encoder is not None:
            if len(encoder.layers) != cfg.num_hidden_layers:
                raise ValueError(f"cannot tie a {cfg.num_hidden_layers}-layer decoder to a "
                                 f"{len(encoder.layers)}-layer encoder")
            self.embed = encoder.embed
            self.layers = nn.ModuleList(DecoderLayer(cfg, shared=layer) for layer in encoder.layers)
        else:
            self.embed = BertEmbeddings(cfg)
            self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.mlm = LMHead(cfg)
        self._init_own_weights()

    def _init_own_weights(self) -> None:
        """BERT's initialisation (normal(0, 0.02) weights, zero biases, unit norms) for cross-attention and head."""
        own = [self.mlm] + [m for layer in self.layers for m in (layer.cross_attn, layer.cross_norm)]
        for block in own:
            for module in block.modules():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, std=_INIT_STD)
                    nn.init.zeros_(module.bias)
                elif isinstance(module, nn.LayerNorm):
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
        nn.init.zeros_(self.mlm.bias)

    def forward(self, input_ids: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        """Next-token logits.

        Shapes: ``input_ids`` (B, T), ``memory`` (B, S, D) encoder states, ``memory_mask`` (B, S) with 1 for
        positions to attend (None: all) -> logits (B, T, V).
        """
        T = input_ids.shape[1]
        x = self.embed(input_ids, None)  # (B, T, D)
        causal = torch.ones(T, T, dtype=torch.bool, device=input_ids.device).tril()  # (T, T), True = attend
        cross_mask = None
        if memory_mask is not None and not bool(memory_mask.all()):
            cross_mask = memory_mask[:, None, None, :].bool()  # (B, 1, 1, S)
        for layer in self.layers:
            x = layer(x, causal, memory, cross_mask)
        return self.mlm(x, self.embed.tok.weight)

    def load_hf_weights(self, state_dict: dict[str, Tensor], source: str = "checkpoint") -> list[str]:
        """Copy HF-named weights (``bert.*`` / ``cls.predictions.*``) into the decoder; returns our names loaded.

        Raises:
            ValueError: a key has no place in the decoder, or a shape differs.
        """
        own = dict(self.named_parameters(remove_duplicate=False))
        mapped: dict[str, Tensor] = {}
        unknown = []
        for raw_key, tensor in state_dict.items():
            key = normalize_hf_key(raw_key)
            name = (get_mapped_key(key, FROM_HF["bert"]) or get_mapped_key(key, _CROSS_FROM_HF)
                    or HEADS_FROM_HF["bert"].get(key))
            if name == "mlm.decoder.weight":  # the tied word embeddings
                name = "embed.tok.weight"
            if name is None or name not in own:
                unknown.append(raw_key)
                continue
            if own[name].shape != tensor.shape:
                raise ValueError(f"{source}: {raw_key} has shape {tuple(tensor.shape)}, the decoder's {name} "
                                 f"{tuple(own[name].shape)}")
            mapped[name] = tensor
        if unknown:
            raise ValueError(f"{source}: weights without a place in the BERT decoder: {sorted(unknown)}")
        with torch.no_grad():
            for name, tensor in mapped.items():
                own[name].copy_(tensor)
        return sorted(mapped)

    def load_checkpoint_head(self, folder: str | os.PathLike) -> list[str]:
        """Load the LM head a BERT checkpoint folder holds (``cls.predictions.*``, as pretraining checkpoints such as
        bert-base-uncased ship it) and nothing else, as transformers builds a decoder tied to that checkpoint's
        encoder: the shared blocks stay the encoder's own weights. Returns our names loaded (none when the folder
        has no head or no weights)."""
        from embedkit.encoders.loading import read_state_dict

        if not os.fspath(folder):
            return []
        try:
            state, source = read_state_dict(folder)
        except FileNotFoundError:
            return []
        head = {key: tensor for key, tensor in state.items()
                if normalize_hf_key(key).startswith("cls.predictions.")
                and normalize_hf_key(key) != "cls.predictions.decoder.weight"}  # that one is the word embeddings
        loaded = self.load_hf_weights(head, str(source)) if head else []
        if loaded:
            logger.info("%s: the decoder's LM head loaded from the checkpoint: %s", source, loaded)
        return loaded

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **hub_kwargs: Any) -> BertDecoder:
        """An untied decoder from a BERT folder (or Hub id); cross-attention (and a missing head) start random."""
        from embedkit.encoders.loading import read_state_dict
        from embedkit.hub import resolve_model_path

        path = Path(resolve_model_path(folder, **hub_kwargs))
        decoder = cls(EncoderConfig.from_hf_config(json.loads(read_model_text(path / "config.json")),
                                                   str(path / "config.json")))
        state, source = read_state_dict(path)
        state = {k: v for k, v in state.items() if not normalize_hf_key(k).startswith(("pooler.", "cls.seq_"))}
        loaded = set(decoder.load_hf_weights(state, str(source)))
        fresh = sorted(set(dict(decoder.named_parameters())) - loaded)
        logger.info("%s: decoder weights initialised from scratch: %s", source, fresh)
        return decoder
