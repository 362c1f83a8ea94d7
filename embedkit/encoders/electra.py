"""ELECTRA's discriminator encoder (Clark et al. 2020), written out for reading; weights load from HF checkpoints via
convert.py.

Reference: HF ``transformers/models/electra/modeling_electra.py`` (ElectraModel). The layers are BERT's post-LN
layers; the embeddings are BERT's at width ``embedding_size`` (E), and when E differs from ``hidden_size`` (D), a
Linear ``embeddings_project`` maps them to D before the first layer (ELECTRA-small: E 128, D 256). There is no pooler.

Legend: B batch, T tokens, E embedding width, D hidden size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.transformers_attributes import TransformersAttributes


class ElectraEmbeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"word_embeddings": "tok", "position_embeddings": "pos", "token_type_embeddings": "seg",
                               "LayerNorm": "norm"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        E = cfg.embedding_size or cfg.hidden_size
        self.tok = nn.Embedding(cfg.vocab_size, E, padding_idx=cfg.pad_token_id)
        self.pos = nn.Embedding(cfg.max_position_embeddings, E)
        self.seg = nn.Embedding(cfg.type_vocab_size, E)
        self.norm = nn.LayerNorm(E, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.project = nn.Linear(E, cfg.hidden_size) if E != cfg.hidden_size else None

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        T = input_ids.shape[1]
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.tok(input_ids) + self.seg(token_type_ids) + self.pos(positions)  # (B, T, E)
        x = self.dropout(self.norm(x))
        return x if self.project is None else self.project(x)  # (B, T, D)


class ElectraModel(BertModel):
    """The ELECTRA discriminator stack: BERT's, with :class:`ElectraEmbeddings` and no pooler.

    Example:
        >>> from embedkit.encoders import ElectraModel, EncoderConfig
        >>> cfg = EncoderConfig(model_type="electra", vocab_size=100, hidden_size=32, num_hidden_layers=2,
        ...                     num_attention_heads=4, intermediate_size=64, embedding_size=16)
        >>> enc = ElectraModel(cfg).eval()
        >>> out = enc(torch.tensor([[1, 5, 7, 2]]), torch.ones(1, 4, dtype=torch.long))
        >>> tuple(out.last_hidden_state.shape), tuple(enc.embed.project.weight.shape)
        ((1, 4, 32), (32, 16))
    """

    transformers_attributes = {"embeddings": "embed", "embeddings_project": "embed.project",
                               "encoder": {"layer": "layers"}}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    embeddings_class = ElectraEmbeddings

    def __init__(self, cfg: EncoderConfig, add_pooler: bool = False) -> None:
        super().__init__(cfg, add_pooler=False)  # ELECTRA has no pooler
