"""DistilBERT encoder (Sanh et al. 2019), written out for reading; weights load from HF checkpoints via convert.py.

Reference: HF ``transformers/models/distilbert/modeling_distilbert.py`` (DistilBertModel). The layer is BERT's
post-LN layer under other weight names (``q_lin``, ``sa_layer_norm``, ``ffn.lin1``, ``output_layer_norm``, ...) with
LayerNorm eps fixed at 1e-12. Differences from BERT: no token-type embeddings, no pooler. Positions are 0..T-1 into
a table that is learned, or holds fixed sinusoids when ``sinusoidal_pos_embds`` is set (the checkpoint carries the
table either way; a freshly built model fills it as transformers does).

Legend: B batch, T tokens, D hidden size, H heads.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.transformers_attributes import TransformersAttributes


def sinusoidal_table(rows: int, dim: int) -> Tensor:
    """(rows, dim) fixed position table: even columns sin(p / 10000^(j/dim)), odd columns cos(p / 10000^((j-1)/dim)).

    Example:
        >>> [round(x, 3) for x in sinusoidal_table(3, 4)[1].tolist()]  # sin 1, cos 1, sin 0.01, cos 0.01
        [0.841, 0.54, 0.01, 1.0]
    """
    positions = torch.arange(rows, dtype=torch.float64)[:, None]  # (rows, 1)
    even = torch.arange(0, dim, 2, dtype=torch.float64)  # (ceil(dim / 2),): 2 * (j // 2) for each pair of columns
    angles = positions / torch.pow(10000.0, even / dim)  # (rows, ceil(dim / 2))
    table = torch.empty(rows, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return table.float()


class DistilBertEmbeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"word_embeddings": "tok", "position_embeddings": "pos", "LayerNorm": "norm"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.pos = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        if cfg.sinusoidal_pos_embds:
            with torch.no_grad():
                self.pos.weight.copy_(sinusoidal_table(cfg.max_position_embeddings, cfg.hidden_size))
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        del token_type_ids  # DistilBERT has no segment embeddings
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        x = self.tok(input_ids) + self.pos(positions)  # (B, T, D)
        return self.dropout(self.norm(x))


class DistilBertModel(BertModel):
    """The DistilBERT encoder stack: BERT's, with :class:`DistilBertEmbeddings` and no pooler.

    ``add_pooler`` is accepted for a common constructor and must be False in effect: DistilBERT has no pooler.

    Example:
        >>> from embedkit.encoders import DistilBertModel, EncoderConfig
        >>> cfg = EncoderConfig(model_type="distilbert", vocab_size=100, hidden_size=32, num_hidden_layers=2,
        ...                     num_attention_heads=4, intermediate_size=64, type_vocab_size=0)
        >>> enc = DistilBertModel(cfg).eval()
        >>> out = enc(torch.tensor([[2, 5, 7, 3]]), torch.ones(1, 4, dtype=torch.long))
        >>> tuple(out.last_hidden_state.shape)
        (1, 4, 32)
    """

    transformers_attributes = {"embeddings": "embed", "transformer": {"layer": "layers"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    embeddings_class = DistilBertEmbeddings

    def __init__(self, cfg: EncoderConfig, add_pooler: bool = False) -> None:
        del add_pooler  # no pooler in any DistilBERT checkpoint
        super().__init__(cfg, add_pooler=False)
