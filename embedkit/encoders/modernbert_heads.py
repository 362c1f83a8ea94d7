"""ModernBERT's classification and MLM heads (HF ``ModernBertForSequenceClassification`` / ``ModernBertForMaskedLM``).

Both start with ModernBERT's prediction head (``head.*``: dense -> ``classifier_activation`` -> LayerNorm, biases as
``classifier_bias`` / ``norm_bias`` say):

- classification: pool the encoder output (first token for ``classifier_pooling="cls"``, the mean of the real
  tokens for ``"mean"``) -> head -> dropout -> ``classifier`` Linear (always with bias) -> logits;
- MLM: head on every token -> decoder, the word embeddings (tied) plus ``decoder.bias`` (when ``decoder_bias``).

Weight names are in :mod:`.modernbert_names`; :mod:`.heads` and :mod:`.mlm_heads` build and load these.

Legend: B batch, T tokens, D hidden size, V vocabulary size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from embedkit.encoders.layers import ACTIVATION_FUNCTIONS, ACTIVATIONS
from embedkit.encoders.mlm_heads import MLMHead
from embedkit.encoders.modernbert import ModernBertConfig


class ModernBertClassificationHead(nn.Module):
    """Pooling -> dense -> activation -> LayerNorm -> dropout -> Linear: (B, T, D) -> logits (B, num_labels).

    Example:
        >>> cfg = ModernBertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                        intermediate_size=12, pad_token_id=0, classifier_pooling="mean")
        >>> head = ModernBertClassificationHead(cfg, num_labels=2, dropout=0.0).eval()
        >>> hidden, mask = torch.randn(1, 4, 8), torch.tensor([[1, 1, 0, 0]])
        >>> torch.allclose(head(hidden, None, mask), head(hidden[:, :2], None, mask[:, :2]))
        True
    """

    def __init__(self, config: ModernBertConfig, num_labels: int, dropout: float) -> None:
        super().__init__()
        D = config.hidden_size
        self.pooling = config.classifier_pooling
        self.dense = nn.Linear(D, D, bias=config.classifier_bias)
        self.act = ACTIVATIONS[config.classifier_activation]  # a key of ACTIVATION_FUNCTIONS
        self.norm = nn.LayerNorm(D, eps=config.layer_norm_eps, bias=config.norm_bias)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(D, num_labels)

    def initialize_as_transformers(self, hf_config: dict) -> None:
        """A fresh head as transformers' ModernBERT initialises it: ``dense`` and the output Linear from normal
        distributions truncated at ``initializer_cutoff_factor`` (2 by default) standard deviations, std
        ``initializer_range / sqrt(2 * num_hidden_layers)`` and ``hidden_size ** -0.5``, zero biases, unit norm."""
        cutoff = hf_config.get("initializer_cutoff_factor", 2.0)
        cutoff = 3.0 if cutoff is None else float(cutoff)
        layers = int(hf_config.get("num_hidden_layers", 22))
        stds = {self.dense: float(hf_config.get("initializer_range", 0.02)) / (2.0 * layers) ** 0.5,
                self.out: self.dense.in_features ** -0.5}
        with torch.no_grad():
            for linear, std in stds.items():
                nn.init.trunc_normal_(linear.weight, mean=0.0, std=std, a=-cutoff * std, b=cutoff * std)
                if linear.bias is not None:
                    linear.bias.zero_()
            nn.init.ones_(self.norm.weight)
            if self.norm.bias is not None:
                self.norm.bias.zero_()

    def forward(self, hidden: Tensor, pooled: Tensor | None, attention_mask: Tensor | None = None) -> Tensor:
        del pooled  # ModernBERT has no pooler: the head pools itself
        if self.pooling == "cls":
            x = hidden[:, 0]  # (B, D)
        else:
            mask = torch.ones(hidden.shape[:2], device=hidden.device) if attention_mask is None else attention_mask
            mask = mask.to(hidden.dtype)[..., None]  # (B, T, 1)
            x = (hidden * mask).sum(dim=1) / mask.sum(dim=1)  # (B, D): mean of the real tokens
        x = self.norm(ACTIVATION_FUNCTIONS[self.act](self.dense(x)))  # (B, D)
        return self.out(self.dropout(x))  # (B, num_labels)


class ModernBertMLMHead(MLMHead):
    """:class:`MLMHead` with ModernBERT's options: dense bias (``classifier_bias``), LayerNorm bias (``norm_bias``),
    ``classifier_activation``, and a decoder bias only when ``decoder_bias`` (otherwise a zero buffer, not saved).

    Example:
        >>> cfg = ModernBertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                        intermediate_size=12, pad_token_id=0)
        >>> sorted(ModernBertMLMHead(cfg).state_dict())
        ['bias', 'dense.weight', 'norm.weight']
    """

    def __init__(self, config: ModernBertConfig, tied: bool = True) -> None:
        super().__init__(config, tied=tied)
        D = config.hidden_size
        self.dense = nn.Linear(D, D, bias=config.classifier_bias)
        self.act = ACTIVATIONS[config.classifier_activation]
        self.norm = nn.LayerNorm(D, eps=config.layer_norm_eps, bias=config.norm_bias)
        if not config.decoder_bias:
            del self.bias
            self.register_buffer("bias", torch.zeros(config.vocab_size), persistent=False)
