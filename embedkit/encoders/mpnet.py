"""MPNet encoder (Song et al. 2020), written out for reading; weights load from HF checkpoints via convert.py.

Reference: HF ``transformers/models/mpnet/modeling_mpnet.py`` (MPNetModel). Differences from BERT:
- no token-type embeddings;
- absolute positions start at ``padding_idx + 1`` and padding tokens get position ``padding_idx`` (fairseq style);
- every layer adds the same relative position bias to its attention logits: one embedding table of
  (num_buckets, H) owned by the encoder, indexed by a log-bucketed signed distance (T5-style, max distance 128,
  so buckets change for inputs longer than 128 tokens).

Legend: B batch, T tokens, D hidden size, H heads.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedkit.encoders.activation_checkpointing import ActivationCheckpointing
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.layers import EncoderLayer, EncoderOutput, ParameterPlacement, Pooler, run_layers
from embedkit.encoders.relative_position import mask_padding_keys, relative_position_bias
from embedkit.encoders.save_pretrained import SavePretrained
from embedkit.encoders.token_embeddings import TokenEmbeddings
from embedkit.encoders.transformers_attributes import TransformersAttributes

# HF hard-codes MPNet's padding index to 1 whatever config.pad_token_id says; positions are counted from it.
PADDING_IDX = 1
MAX_DISTANCE = 128


class MPNetEmbeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"word_embeddings": "tok", "position_embeddings": "pos", "LayerNorm": "norm"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=PADDING_IDX)
        self.pos = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size, padding_idx=PADDING_IDX)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor) -> Tensor:
        not_pad = input_ids.ne(PADDING_IDX).long()  # (B, T)
        positions = torch.cumsum(not_pad, dim=1) * not_pad + PADDING_IDX  # (B, T): 2, 3, ... and 1 on padding
        x = self.tok(input_ids) + self.pos(positions)  # (B, T, D)
        return self.dropout(self.norm(x))


class MPNetModel(ParameterPlacement, ActivationCheckpointing, TokenEmbeddings, SavePretrained,
                 TransformersAttributes, nn.Module):
    """The MPNet encoder stack: embeddings -> L post-LN layers sharing one relative position bias.

    Example:
        >>> from embedkit.encoders import EncoderConfig, MPNetModel
        >>> cfg = EncoderConfig(model_type="mpnet", vocab_size=100, hidden_size=32, num_hidden_layers=2,
        ...                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=514)
        >>> enc = MPNetModel(cfg).eval()
        >>> out = enc(torch.tensor([[0, 5, 7, 2]]), torch.ones(1, 4, dtype=torch.long))
        >>> tuple(out.last_hidden_state.shape)
        (1, 4, 32)
    """

    transformers_attributes = {"embeddings": "embed",
                               "encoder": {"layer": "layers", "relative_attention_bias": "rel_bias"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: EncoderConfig, add_pooler: bool = True) -> None:
        super().__init__()
        self.config = cfg
        self.embed = MPNetEmbeddings(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.rel_bias = nn.Embedding(cfg.relative_attention_num_buckets, cfg.num_attention_heads)
        self.pooler = Pooler(cfg) if add_pooler else None

    def layer_lists(self) -> list[nn.ModuleList]:
        """The lists that hold the layers, each layer once (here: ``[layers]``), for code that replaces layers."""
        return [self.layers]

    def position_bias(self, T: int, device: torch.device) -> Tensor:
        return relative_position_bias(self.rel_bias, T, MAX_DISTANCE, device)  # (1, H, T, T)

    def embed_inputs(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        """(B, T) ids -> (B, T, D) layer input (MPNet has no segment embeddings: ``token_type_ids`` is ignored)."""
        del token_type_ids
        return self.embed(input_ids)

    def attention_mask(self, input_ids: Tensor, attention_mask: Tensor | None, dtype: torch.dtype) -> Tensor:
        """The additive attention bias every layer takes: the relative position bias (1, H, T, T), with padding keys
        masked out (B, H, T, T) when there is padding."""
        bias = self.position_bias(input_ids.shape[1], input_ids.device).to(dtype)  # (1, H, T, T)
        return mask_padding_keys(bias, attention_mask)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> EncoderOutput:
        x = self.embed_inputs(input_ids, token_type_ids)  # (B, T, D)
        bias = self.attention_mask(input_ids, attention_mask, x.dtype)  # (1 or B, H, T, T)
        return run_layers(self.layers, x, bias, output_hidden_states=output_hidden_states)
