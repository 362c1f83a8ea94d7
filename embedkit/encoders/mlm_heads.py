"""Masked-language-model heads of BERT, MPNet, RoBERTa / XLM-RoBERTa, DistilBERT and GTE, and the lazily evaluated
logits SPLADE pools over.

All heads compute ``logits = LayerNorm(act(dense(h))) @ E.T + b``, where ``E`` is the (tied) word embedding matrix:
- BERT (HF ``BertLMPredictionHead``): ``cls.predictions.transform.{dense, LayerNorm}``, activation from
  ``config.hidden_act``, ``cls.predictions.bias`` (``cls.predictions.decoder.bias`` is the same tensor);
- MPNet (HF ``MPNetLMHead``): ``lm_head.{dense, layer_norm}``, always the exact GELU, ``lm_head.bias``;
  RoBERTa / XLM-RoBERTa (HF ``RobertaLMHead``) are the same under the same names;
- DistilBERT (HF ``DistilBertForMaskedLM``): ``vocab_transform``, activation from ``config.activation``,
  ``vocab_layer_norm``, ``vocab_projector`` (weight tied, own bias);
- GTE (HF ``GteForMaskedLM``, Alibaba's ``NewForMaskedLM``): ``lm_head.{dense, norm}``, the exact GELU,
  ``lm_head.decoder`` (weight tied, own bias).
Weights load strictly from a HF ``*ForMaskedLM`` checkpoint and save back under the names transformers writes
(``bert.`` / ``mpnet.`` / ``roberta.`` / ``distilbert.`` prefix on the encoder; the tied decoder weight is not
written, as transformers does).

The (B, T, V) logits are never built whole during SPLADE inference: :class:`MLMLogits` keeps the transformed hidden
states (B, T, D) and computes any (token range, vocabulary range) block on request.

Legend: B batch, T tokens, D hidden size, V vocabulary size.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders import build_encoder
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.convert import ek_to_hf, split_hf_state_dict
from embedkit.encoders.gte_names import GTE_MLM_TO_HF
from embedkit.encoders.layers import ACTIVATION_FUNCTIONS, ACTIVATIONS
from embedkit.encoders.loading import check_size_before_building, load_strict, rng_untouched
from embedkit.encoders.modernbert_names import MODERNBERT_MLM_TO_HF, shared_head_to

logger = logging.getLogger(__name__)

# Head weights, embedkit name inside MLMHead -> HF name (literal tables, one per model type).
_BERT_MLM_TO_HF = {
    "dense.weight": "cls.predictions.transform.dense.weight",
    "dense.bias": "cls.predictions.transform.dense.bias",
    "norm.weight": "cls.predictions.transform.LayerNorm.weight",
    "norm.bias": "cls.predictions.transform.LayerNorm.bias",
    "bias": "cls.predictions.bias",
    "decoder.weight": "cls.predictions.decoder.weight",  # only when not tied to the word embeddings
}
_MPNET_MLM_TO_HF = {
    "dense.weight": "lm_head.dense.weight",
    "dense.bias": "lm_head.dense.bias",
    "norm.weight": "lm_head.layer_norm.weight",
    "norm.bias": "lm_head.layer_norm.bias",
    "bias": "lm_head.bias",
    "decoder.weight": "lm_head.decoder.weight",  # only when not tied to the word embeddings
}
_DISTILBERT_MLM_TO_HF = {
    "dense.weight": "vocab_transform.weight",
    "dense.bias": "vocab_transform.bias",
    "norm.weight": "vocab_layer_norm.weight",
    "norm.bias": "vocab_layer_norm.bias",
    "bias": "vocab_projector.bias",
    "decoder.weight": "vocab_projector.weight",  # only when not tied to the word embeddings
}
# RoBERTa's, XLM-RoBERTa's and CamemBERT's MLM head (RobertaLMHead) is MPNet's, under the same names.
MLM_TO_HF = {"bert": _BERT_MLM_TO_HF, "mpnet": _MPNET_MLM_TO_HF, "roberta": _MPNET_MLM_TO_HF,
             "xlm-roberta": _MPNET_MLM_TO_HF, "camembert": _MPNET_MLM_TO_HF, "distilbert": _DISTILBERT_MLM_TO_HF}
HF_PREFIX = {"bert": "bert.", "mpnet": "mpnet.", "roberta": "roberta.", "xlm-roberta": "roberta.",
             "camembert": "roberta.", "distilbert": "distilbert."}
ARCHITECTURES = {"bert": "BertForMaskedLM", "mpnet": "MPNetForMaskedLM", "roberta": "RobertaForMaskedLM",
                 "xlm-roberta": "XLMRobertaForMaskedLM", "camembert": "CamembertForMaskedLM",
                 "distilbert": "DistilBertForMaskedLM"}
# GTE: BERT's head under its own names (gte_names.py), the encoder under ``gte.`` or, in Alibaba's dialect, ``new.``.
MLM_TO_HF["gte"] = MLM_TO_HF["new"] = GTE_MLM_TO_HF
HF_PREFIX["gte"], HF_PREFIX["new"] = "gte.", "new."
ARCHITECTURES["gte"], ARCHITECTURES["new"] = "GteForMaskedLM", "NewForMaskedLM"
# ModernBERT: head (modernbert_heads.ModernBertMLMHead) and names (modernbert_names.py) of its own.
MLM_TO_HF["modernbert"] = MODERNBERT_MLM_TO_HF
HF_PREFIX["modernbert"] = "model."
ARCHITECTURES["modernbert"] = "ModernBertForMaskedLM"
# Families whose MLM head always applies the exact GELU, whatever ``hidden_act`` says.
_EXACT_GELU_HEADS = ("mpnet", "roberta", "xlm-roberta", "camembert", "gte", "new")
# convert.split_hf_state_dict names head weights "mlm.*" (MLM head) and "nsp.*" (BERT's next-sentence head).
_MLM_PREFIX = "mlm."
_UNUSED_HEAD_PREFIXES = ("nsp.",)  # BertForPreTraining checkpoints (bert-base-uncased) carry it; MaskedLM ignores it


class MLMHead(nn.Module):
    """dense -> activation -> LayerNorm (the "transform"), then the decoder: tied word embeddings + bias.

    Args:
        config: the encoder's shape; ``model_type`` picks the activation (BERT, DistilBERT: ``hidden_act``;
            MPNet, RoBERTa, XLM-RoBERTa: GELU).
        tied: share the decoder weight with the word embeddings (``tie_word_embeddings``, the default in HF).

    Example:
        >>> cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        ...                     intermediate_size=64)
        >>> head = MLMHead(cfg)
        >>> embeddings = torch.randn(100, 32)
        >>> logits = head.logits(torch.randn(2, 5, 32), embeddings)
        >>> tuple(logits.materialize().shape)
        (2, 5, 100)
    """

    def __init__(self, config: EncoderConfig, tied: bool = True) -> None:
        super().__init__()
        D, V = config.hidden_size, config.vocab_size
        self.dense = nn.Linear(D, D)
        self.act = "gelu" if config.model_type in _EXACT_GELU_HEADS else ACTIVATIONS[config.hidden_act]
        self.norm = nn.LayerNorm(D, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(V))
        self.decoder = None if tied else nn.Linear(D, V, bias=False)

    def transform(self, hidden: Tensor) -> Tensor:
        return self.norm(ACTIVATION_FUNCTIONS[self.act](self.dense(hidden)))  # (B, T, D)

    def follow_vocabulary(self, size: int) -> None:
        """Match a resized token embedding table of ``size`` rows, as transformers' weight tying does: the bias is
        cut or padded with zeros. An untied decoder does not follow the table: a size mismatch raises."""
        if self.decoder is not None:
            if self.decoder.out_features != size:
                raise ValueError(f"the masked-LM decoder has {self.decoder.out_features} rows but the token "
                                 f"embeddings {size}: an untied decoder is not resized with them")
            return
        if self.bias.shape[0] != size:
            bias = self.bias.data
            self.bias.data = (bias[:size].clone() if size < bias.shape[0]
                              else torch.cat([bias, bias.new_zeros(size - bias.shape[0])]))
            self.bias.grad = None

    def logits(self, hidden: Tensor, word_embeddings: Tensor) -> MLMLogits:
        """Lazy logits of encoder output ``hidden`` (B, T, D); ``word_embeddings`` (V, D) is the tied decoder."""
        self.follow_vocabulary(word_embeddings.shape[0])
        weight = word_embeddings if self.decoder is None else self.decoder.weight
        return MLMLogits(self.transform(hidden), weight, self.bias)


class MLMLogits:
    """MLM logits (B, T, V) kept as ``hidden @ weight.T + bias`` and computed block by block.

    ``shape``/``dtype``/``device`` describe the full tensor; :meth:`block` computes one (tokens, vocabulary) block;
    :meth:`materialize` builds the whole tensor (B*T*V floats: avoid it for real vocabularies).

    Shapes: ``hidden`` (B, T, D) already transformed by the head, ``weight`` (V, D), ``bias`` (V,).
    """

    def __init__(self, hidden: Tensor, weight: Tensor, bias: Tensor) -> None:
        self.hidden, self.weight, self.bias = hidden, weight, bias

    @property
    def shape(self) -> torch.Size:
        return torch.Size((*self.hidden.shape[:2], self.weight.shape[0]))

    @property
    def dtype(self) -> torch.dtype:
        return self.hidden.dtype

    @property
    def device(self) -> torch.device:
        return self.hidden.device

    def block(self, t0: int, t1: int, v0: int, v1: int) -> Tensor:
        """Logits of tokens ``t0:t1`` over vocabulary entries ``v0:v1``: (B, t1 - t0, v1 - v0)."""
        return F.linear(self.hidden[:, t0:t1], self.weight[v0:v1], self.bias[v0:v1])

    def materialize(self) -> Tensor:
        return F.linear(self.hidden, self.weight, self.bias)  # (B, T, V)

    def __repr__(self) -> str:
        return f"MLMLogits(shape={tuple(self.shape)}, dtype={self.dtype}, device={self.device})"


def build_masked_lm(
    hf_config: dict[str, Any], state_dict: dict[str, Tensor], source: str = "checkpoint", new_head: bool = False
) -> tuple[EncoderConfig, nn.Module, MLMHead]:
    """Build (config, encoder, head) from a config.json dict and a HF ``*ForMaskedLM`` state dict, strictly.

    With ``new_head``, a checkpoint without MLM head weights (a bare ``*Model`` or a bi-encoder) gets a new head
    tied to its word embeddings, initialised as transformers initialises a missing one (normal(0,
    ``initializer_range``) weights, zero biases, unit LayerNorm), with a warning; its pooler is left out, as
    ``*ForMaskedLM`` has none.

    Raises:
        ValueError: no MLM head weights (without ``new_head``), a classifier head, a tied decoder that differs
            from the word embeddings, or any missing / unexpected / mis-shaped weight (the message names the
            source and the keys).
    """
    config = EncoderConfig.from_hf_config(hf_config, source)
    if config.model_type not in MLM_TO_HF:
        raise ValueError(f"{source}: masked-LM heads of {config.model_type} models are not supported (fill-mask runs "
                         f"on {', '.join(MLM_TO_HF)})")
    encoder_state, head_state = split_hf_state_dict(state_dict, config.model_type, source)
    head_state = shared_head_to("mlm", head_state)  # ModernBERT's head.* is the MLM transform here
    mlm = {k[len(_MLM_PREFIX) :]: v for k, v in head_state.items() if k.startswith(_MLM_PREFIX)}
    other = sorted(k for k in head_state if not k.startswith((_MLM_PREFIX, *_UNUSED_HEAD_PREFIXES)))
    if other:
        raise ValueError(f"{source}: unexpected non-MLM head weights {other}")
    fresh = not mlm and new_head
    if not mlm and not new_head:
        raise ValueError(f"{source}: no MLM head weights; is this a *ForMaskedLM checkpoint?")
    if fresh:
        logger.warning("%s has no MLM head: starting a new one tied to the word embeddings; train it before use",
                       source)
        encoder_state = {k: v for k, v in encoder_state.items() if not k.startswith("pooler.")}
    tied = bool(hf_config.get("tie_word_embeddings", True)) or fresh
    add_pooler = "pooler.dense.weight" in encoder_state
    check_size_before_building(config, add_pooler, encoder_state, source)
    with rng_untouched():  # the loaded weights draw nothing; only a new head below draws, as in transformers
        encoder = build_encoder(config, add_pooler=add_pooler)
        load_strict(encoder, encoder_state, source)
        if tied and "decoder.weight" in mlm:
            if not torch.equal(mlm.pop("decoder.weight"), encoder_state["embed.tok.weight"]):
                raise ValueError(f"{source}: tie_word_embeddings is true but the decoder weight differs from the "
                                 "word embeddings")
        if config.model_type == "modernbert":
            from embedkit.encoders.modernbert_heads import ModernBertMLMHead  # it imports this module

            head = ModernBertMLMHead(config, tied=tied)
        else:
            head = MLMHead(config, tied=tied)
        if not fresh:
            load_strict(head, mlm, source)
    if fresh:
        std = float(hf_config.get("initializer_range", 0.02))
        with torch.no_grad():
            for layer in head.modules():
                if isinstance(layer, nn.Linear):
                    layer.weight.normal_(0.0, std)
                    if layer.bias is not None:
                        layer.bias.zero_()
    return config, encoder, head


def masked_lm_hf_state_dict(encoder: nn.Module, head: MLMHead, model_type: str) -> dict[str, Tensor]:
    """Encoder + head weights under the names transformers saves for ``*ForMaskedLM``."""
    prefix, table = HF_PREFIX[model_type], MLM_TO_HF[model_type]
    head.follow_vocabulary(encoder.get_input_embeddings().num_embeddings)
    state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    out = {prefix + k: v for k, v in ek_to_hf(state, model_type).items()}
    for key, tensor in head.state_dict().items():
        out[table[key]] = tensor.detach().contiguous()
    return out
