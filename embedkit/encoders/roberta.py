"""RoBERTa, XLM-RoBERTa and CamemBERT encoders (Liu et al. 2019; Conneau et al. 2020; Martin et al. 2020), written out
for reading; weights load from HF checkpoints via convert.py.

Reference: HF ``transformers/models/roberta/modeling_roberta.py`` (RobertaModel; XLMRobertaModel and CamembertModel
are the same network under another ``model_type``). The layers are BERT's post-LN layers; the embeddings differ from
BERT's in one way:
- positions count from ``padding_idx + 1`` (``padding_idx`` is ``config.pad_token_id``, 1 in the released
  checkpoints) and skip padding: a real token's position is ``padding_idx`` + the number of real tokens up to and
  including it; padding gets ``padding_idx`` (HF ``create_position_ids_from_input_ids``). So an input may hold at most
  ``max_position_embeddings - padding_idx - 1`` tokens (512 for the usual 514 rows);
- the token-type table usually has one row (``type_vocab_size: 1``) and the tokenizer gives no token types: every
  token gets type 0.

Legend: B batch, T tokens, D hidden size, H heads.
Mask convention: ``attention_mask`` (B, T) holds 1 for real tokens and 0 for padding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.transformers_attributes import TransformersAttributes


def position_ids_skipping_padding(input_ids: Tensor, padding_idx: int) -> Tensor:
    """(B, T) ids -> (B, T) positions: ``padding_idx + 1, padding_idx + 2, ...`` over real tokens, ``padding_idx``
    on padding tokens.

    Example:
        >>> position_ids_skipping_padding(torch.tensor([[0, 7, 2, 1, 1]]), padding_idx=1).tolist()
        [[2, 3, 4, 1, 1]]
    """
    not_pad = input_ids.ne(padding_idx).long()  # (B, T)
    return torch.cumsum(not_pad, dim=1) * not_pad + padding_idx  # (B, T)


class RobertaEmbeddings(TransformersAttributes, nn.Module):
    transformers_attributes = {"word_embeddings": "tok", "position_embeddings": "pos", "token_type_embeddings": "seg",
                               "LayerNorm": "norm"}
    """transformers' names for these modules (``transformers_attributes.py``)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.padding_idx = cfg.pad_token_id
        self.tok = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.pos = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.seg = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None) -> Tensor:
        positions = position_ids_skipping_padding(input_ids, self.padding_idx)  # (B, T)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.tok(input_ids) + self.seg(token_type_ids) + self.pos(positions)  # (B, T, D)
        return self.dropout(self.norm(x))


class RobertaModel(BertModel):
    """The RoBERTa / XLM-RoBERTa / CamemBERT encoder stack: BERT's, with :class:`RobertaEmbeddings`.

    Example:
        >>> from embedkit.encoders import EncoderConfig, RobertaModel
        >>> cfg = EncoderConfig(model_type="roberta", vocab_size=100, hidden_size=32, num_hidden_layers=2,
        ...                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=514,
        ...                     type_vocab_size=1, pad_token_id=1)
        >>> enc = RobertaModel(cfg).eval()
        >>> out = enc(torch.tensor([[0, 5, 7, 2]]), torch.ones(1, 4, dtype=torch.long))
        >>> tuple(out.last_hidden_state.shape)
        (1, 4, 32)
    """

    embeddings_class = RobertaEmbeddings
