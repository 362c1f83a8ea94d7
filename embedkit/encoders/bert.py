"""BERT encoder (Devlin et al. 2019), written out for reading; weights load from HF checkpoints via convert.py.

Reference: HF ``transformers/models/bert/modeling_bert.py`` (BertModel). Absolute position embeddings, token-type
(segment) embeddings, post-LN layers with exact GELU, and the tanh pooler over the first token.

Legend: B batch, T tokens, D hidden size, H heads.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.layers import EncoderLayer, EncoderOutput, ParameterPlacement, Pooler, run_layers
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes


class BertEmbeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"word_embeddings": "tok", "position_embeddings": "pos", "token_type_embeddings": "seg",
                               "LayerNorm": "norm"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.pos = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.seg = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        T = input_ids.shape[1]
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.tok(input_ids) + self.seg(token_type_ids) + self.pos(positions)  # (B, T, D)
        return self.dropout(self.norm(x))


class BertModel(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                TransformersAttributes, nn.Module):
    """The BERT encoder stack: embeddings -> L post-LN layers (-> optional pooler for heads).

    Example:
        >>> from embedkit.encoders import EncoderConfig, BertModel
        >>> cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                     intermediate_size=64)
        >>> enc = BertModel(cfg).eval()
        >>> out = enc(torch.tensor([[1, 5, 7, 2]]), torch.ones(1, 4, dtype=torch.long))
        >>> tuple(out.last_hidden_state.shape)
        (1, 4, 32)
    """

    transformers_attributes = {"embeddings": "embed", "encoder": {"layer": "layers"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    embeddings_class: type[nn.Module] = BertEmbeddings
    """What turns ids into the first layer's input (RoBERTa / XLM-R differ from BERT only here)."""

    def __init__(self, cfg: EncoderConfig, add_pooler: bool = True) -> None:
        super().__init__()
        self.config = cfg
        self.embed = self.embeddings_class(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.pooler = Pooler(cfg) if add_pooler else None

    def layer_lists(self) -> list[nn.ModuleList]:
        """The lists that hold the layers, each layer once (here: ``[layers]``), for code that replaces layers."""
        return [self.layers]

    def embed_inputs(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        """(B, T) ids -> (B, T, D) layer input."""
        return self.embed(input_ids, token_type_ids)

    def attention_mask(self, input_ids: Tensor, attention_mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
        """What the layers' attention takes: None without padding, else (B, 1, 1, T) bool, True = attend."""
        del input_ids, dtype
        if attention_mask is None or bool(attention_mask.all()):
            return None
        return attention_mask[:, None, None, :].bool()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        x = self.embed_inputs(input_ids, token_type_ids)  # (B, T, D)
        attn_mask = self.attention_mask(input_ids, attention_mask, x.dtype)  # None or (B, 1, 1, T)
        return run_layers(self.layers, x, attn_mask, output_hidden_states=output_hidden_states)
