"""Sequence-classification heads and the encoder + head model that CrossEncoder runs.

The heads reproduce transformers' ``BertForSequenceClassification``, ``AlbertForSequenceClassification`` and
``GteForSequenceClassification`` (pooler output -> dropout -> Linear), ``MPNetForSequenceClassification`` /
``RobertaForSequenceClassification`` / ``XLMRobertaForSequenceClassification`` (first token -> dropout -> dense ->
tanh -> dropout -> out_proj),
``ElectraForSequenceClassification`` (the same with GELU), ``DistilBertForSequenceClassification`` (first token ->
pre_classifier -> ReLU -> dropout -> classifier), ``DebertaV2ForSequenceClassification`` (first token -> ContextPooler
``pooler.dense`` -> activation -> dropout -> classifier), ``EuroBertForSequenceClassification`` (``dense`` -> GELU ->
``classifier`` on the first token, on the mean, or on every token then averaged), and the decoders'
``Qwen3ForSequenceClassification`` / ``Gemma3TextForSequenceClassification`` (last non-padding token -> ``score``).
Weights load strictly from a HF ``*ForSequenceClassification`` checkpoint and save back under the names transformers
writes (``bert.`` / ``mpnet.`` / ``roberta.`` / ``distilbert.`` / ``electra.`` / ``albert.`` / ``deberta.`` /
``gte.`` / ``model.`` prefix on the encoder; ``classifier.*``, DistilBERT's ``pre_classifier.*``, DeBERTa's
``pooler.*``, EuroBERT's ``dense.*`` and the decoders' ``score.*`` for the head).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.encoders import build_encoder
from embedkit.encoders.config import SUPPORTED_MODEL_TYPES, EncoderConfig
from embedkit.encoders.convert import ek_to_hf, hf_name_with_head, split_hf_state_dict
from embedkit.encoders.deberta_v2_names import DEBERTA_V2_CLASSIFIER_TO_HF
from embedkit.encoders.engine import InferenceEngine
from embedkit.encoders.layers import ACTIVATION_FUNCTIONS, ACTIVATIONS
from embedkit.encoders.llama_names import EUROBERT_CLASSIFIER_TO_HF
from embedkit.encoders.loading import check_size_before_building, load_strict, rng_untouched
from embedkit.encoders.modernbert_heads import ModernBertClassificationHead
from embedkit.encoders.modernbert_names import MODERNBERT_CLASSIFIER_TO_HF, shared_head_to
from embedkit.encoders.qwen3_names import QWEN3_CLASSIFIER_TO_HF

logger = logging.getLogger(__name__)

# Head weights, embedkit name inside the head -> HF name (literal tables, one per model type).
_BERT_HEAD_TO_HF = {
    "out.weight": "classifier.weight",
    "out.bias": "classifier.bias",
}
_MPNET_HEAD_TO_HF = {
    "dense.weight": "classifier.dense.weight",
    "dense.bias": "classifier.dense.bias",
    "out.weight": "classifier.out_proj.weight",
    "out.bias": "classifier.out_proj.bias",
}
_DISTILBERT_HEAD_TO_HF = {
    "pre_classifier.weight": "pre_classifier.weight",
    "pre_classifier.bias": "pre_classifier.bias",
    "out.weight": "classifier.weight",
    "out.bias": "classifier.bias",
}
# RoBERTa's, XLM-RoBERTa's and CamemBERT's heads are MPNet's, under the same names.
HEAD_TO_HF = {"bert": _BERT_HEAD_TO_HF, "mpnet": _MPNET_HEAD_TO_HF, "roberta": _MPNET_HEAD_TO_HF,
              "xlm-roberta": _MPNET_HEAD_TO_HF, "camembert": _MPNET_HEAD_TO_HF, "distilbert": _DISTILBERT_HEAD_TO_HF}
HF_PREFIX = {"bert": "bert.", "mpnet": "mpnet.", "roberta": "roberta.", "xlm-roberta": "roberta.",
             "camembert": "roberta.", "distilbert": "distilbert."}
ARCHITECTURES = {"bert": "BertForSequenceClassification", "mpnet": "MPNetForSequenceClassification",
                 "roberta": "RobertaForSequenceClassification", "xlm-roberta": "XLMRobertaForSequenceClassification",
                 "camembert": "CamembertForSequenceClassification",
                 "distilbert": "DistilBertForSequenceClassification"}
# ELECTRA: MPNet's head names, a GELU head (ElectraClassificationHead below).
HEAD_TO_HF["electra"] = _MPNET_HEAD_TO_HF
HF_PREFIX["electra"] = "electra."
ARCHITECTURES["electra"] = "ElectraForSequenceClassification"
# ALBERT: BERT's head on BERT's pooler (transformers holds the pooler's Linear as ``albert.pooler``).
HEAD_TO_HF["albert"] = _BERT_HEAD_TO_HF
HF_PREFIX["albert"] = "albert."
ARCHITECTURES["albert"] = "AlbertForSequenceClassification"
# ModernBERT: its head (modernbert_heads.py) reads several config fields, and mean pooling needs the mask.
HEAD_TO_HF["modernbert"] = MODERNBERT_CLASSIFIER_TO_HF
HF_PREFIX["modernbert"] = "model."
ARCHITECTURES["modernbert"] = "ModernBertForSequenceClassification"
# DeBERTa-v2 / v3: the ContextPooler's dense layer and the classifier on the first token (DebertaV2ClassificationHead).
HEAD_TO_HF["deberta-v2"] = DEBERTA_V2_CLASSIFIER_TO_HF
HF_PREFIX["deberta-v2"] = "deberta."
ARCHITECTURES["deberta-v2"] = "DebertaV2ForSequenceClassification"
HEAD_TO_HF["deberta"] = DEBERTA_V2_CLASSIFIER_TO_HF  # v1: the same ContextPooler and classifier
HF_PREFIX["deberta"] = "deberta."
ARCHITECTURES["deberta"] = "DebertaForSequenceClassification"
# Decoders (Qwen3, Gemma 3): one bias-free ``score`` Linear read at the last token that is not padding
# (LastTokenClassificationHead below).
DECODER_TYPES = ("qwen3", "gemma3_text", "gemma2", "llama", "mistral", "qwen2")
HEAD_TO_HF.update(dict.fromkeys(DECODER_TYPES, QWEN3_CLASSIFIER_TO_HF))
HF_PREFIX.update(dict.fromkeys(DECODER_TYPES, "model."))
ARCHITECTURES["qwen3"] = "Qwen3ForSequenceClassification"
ARCHITECTURES["gemma3_text"] = "Gemma3TextForSequenceClassification"
ARCHITECTURES["llama"] = "LlamaForSequenceClassification"
ARCHITECTURES["mistral"] = "MistralForSequenceClassification"
ARCHITECTURES["qwen2"] = "Qwen2ForSequenceClassification"
ARCHITECTURES["gemma2"] = "Gemma2ForSequenceClassification"
# GTE: BERT's head on BERT's pooler, the encoder under ``gte.`` (transformers) or ``new.`` (Alibaba's original code).
HEAD_TO_HF["gte"] = HEAD_TO_HF["new"] = _BERT_HEAD_TO_HF
HF_PREFIX["gte"], HF_PREFIX["new"] = "gte.", "new."
ARCHITECTURES["gte"], ARCHITECTURES["new"] = "GteForSequenceClassification", "NewForSequenceClassification"
# EuroBERT: top-level ``dense`` and ``classifier`` (EuroBertClassificationHead below), the encoder under ``model.``.
HEAD_TO_HF["eurobert"] = EUROBERT_CLASSIFIER_TO_HF
HF_PREFIX["eurobert"] = "model."
ARCHITECTURES["eurobert"] = "EuroBertForSequenceClassification"
# Model types whose head reads the encoder's pooler (built with the encoder)
POOLER_HEAD_TYPES = ("bert", "albert", "gte", "new")


def classifier_dropout(hf_config: dict[str, Any], cfg: EncoderConfig) -> float:
    """``classifier_dropout`` from config.json, falling back to ``hidden_dropout_prob`` as transformers does
    (DistilBERT: ``seq_classif_dropout``, default 0.2; ALBERT: ``classifier_dropout_prob``, default 0.1)."""
    if cfg.model_type == "distilbert":
        return float(hf_config.get("seq_classif_dropout", 0.2))
    if cfg.model_type in ("deberta", "deberta-v2"):  # its own key, as Deberta*ForSequenceClassification reads it
        value = hf_config.get("cls_dropout")
        return cfg.hidden_dropout_prob if value is None else float(value)
    if cfg.model_type == "albert":  # AlbertForSequenceClassification's own key (transformers' default 0.1)
        return float(hf_config.get("classifier_dropout_prob", 0.1))
    value = hf_config.get("classifier_dropout")
    return cfg.hidden_dropout_prob if value is None else float(value)


def num_labels_of(hf_config: dict[str, Any]) -> int:
    """Number of labels of a HF config: ``num_labels``, else the size of ``id2label``, else 2 (HF's default)."""
    if "num_labels" in hf_config:
        return int(hf_config["num_labels"])
    if hf_config.get("id2label"):
        return len(hf_config["id2label"])
    return 2


class BertClassificationHead(nn.Module):
    """BERT's head: pooler output (B, D) -> dropout -> Linear -> logits (B, num_labels).

    Example:
        >>> head = BertClassificationHead(hidden_size=32, num_labels=3, dropout=0.1).eval()
        >>> tuple(head(torch.zeros(2, 5, 32), torch.zeros(2, 32)).shape)
        (2, 3)
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: Tensor, pooled: Tensor | None) -> Tensor:
        del hidden  # BERT classifies the pooler output
        if pooled is None:
            raise ValueError("the BERT classification head needs the encoder's pooler")
        return self.out(self.dropout(pooled))  # (B, D) -> (B, num_labels)


class MPNetClassificationHead(nn.Module):
    """MPNet's head: first token (B, D) -> dropout -> dense -> tanh -> dropout -> out_proj (B, num_labels).

    Example:
        >>> head = MPNetClassificationHead(hidden_size=32, num_labels=1, dropout=0.1).eval()
        >>> tuple(head(torch.zeros(2, 5, 32), None).shape)
        (2, 1)
    """

    activation = staticmethod(torch.tanh)

    def __init__(self, hidden_size: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: Tensor, pooled: Tensor | None) -> Tensor:
        del pooled  # this classifier has its own dense layer on the first token
        x = self.dropout(hidden[:, 0])  # (B, T, D) -> (B, D)
        x = self.activation(self.dense(x))  # (B, D)
        return self.out(self.dropout(x))  # (B, num_labels)


class ElectraClassificationHead(MPNetClassificationHead):
    """ELECTRA's head: MPNet's with the exact GELU in place of tanh.

    Example:
        >>> head = ElectraClassificationHead(hidden_size=32, num_labels=1, dropout=0.1).eval()
        >>> tuple(head(torch.zeros(2, 5, 32), None).shape)
        (2, 1)
    """

    activation = staticmethod(torch.nn.functional.gelu)


class DebertaV2ClassificationHead(nn.Module):
    """DeBERTa-v2's ContextPooler and classifier: first token (B, D) -> dropout (``pooler_dropout``) -> dense ->
    ``pooler_hidden_act`` -> dropout -> Linear (B, num_labels).

    Example:
        >>> from embedkit.encoders.deberta_v2 import DebertaV2Config
        >>> cfg = DebertaV2Config(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2)
        >>> tuple(DebertaV2ClassificationHead(cfg, num_labels=3, dropout=0.1).eval()(torch.zeros(2, 5, 8), None).shape)
        (2, 3)
    """

    def __init__(self, config: EncoderConfig, num_labels: int, dropout: float) -> None:
        super().__init__()
        D = config.hidden_size
        self.pooler_dropout = nn.Dropout(config.pooler_dropout)
        self.dense = nn.Linear(D, D)
        self.act = ACTIVATIONS[config.pooler_hidden_act]  # a key of ACTIVATION_FUNCTIONS
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(D, num_labels)

    def forward(self, hidden: Tensor, pooled: Tensor | None) -> Tensor:
        del pooled  # the ContextPooler belongs to this head
        x = ACTIVATION_FUNCTIONS[self.act](self.dense(self.pooler_dropout(hidden[:, 0])))  # (B, T, D) -> (B, D)
        return self.out(self.dropout(x))  # (B, num_labels)


class DistilBertClassificationHead(nn.Module):
    """DistilBERT's head: first token (B, D) -> pre_classifier -> ReLU -> dropout -> classifier (B, num_labels).

    Example:
        >>> head = DistilBertClassificationHead(hidden_size=32, num_labels=3, dropout=0.2).eval()
        >>> tuple(head(torch.zeros(2, 5, 32), None).shape)
        (2, 3)
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.pre_classifier = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: Tensor, pooled: Tensor | None) -> Tensor:
        del pooled  # DistilBERT has no pooler
        x = torch.relu(self.pre_classifier(hidden[:, 0]))  # (B, T, D) -> (B, D)
        return self.out(self.dropout(x))  # (B, num_labels)


class EuroBertClassificationHead(nn.Module):
    """EuroBERT's head: ``classifier(GELU(dense(x)))`` on the first token (``bos``), on the mean of the real tokens
    (``mean``), or on every token with the logits averaged over the real ones (``late``, the default), as config.json's
    ``classifier_pooling`` says. No dropout.

    Example:
        >>> head = EuroBertClassificationHead(hidden_size=8, num_labels=2, pooling="late").eval()
        >>> hidden, mask = torch.randn(1, 4, 8), torch.tensor([[1, 1, 0, 0]])
        >>> torch.allclose(head(hidden, None, mask), head(hidden[:, :2], None, mask[:, :2]))
        True
    """

    POOLINGS = ("bos", "mean", "late")

    def __init__(self, hidden_size: int, num_labels: int, pooling: str = "late") -> None:
        super().__init__()
        if pooling not in self.POOLINGS:
            raise ValueError(f"config classifier_pooling={pooling!r} is not one of {self.POOLINGS}")
        self.pooling = pooling
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: Tensor, pooled: Tensor | None, attention_mask: Tensor | None = None) -> Tensor:
        del pooled  # EuroBERT has no pooler: the head pools itself
        mask = torch.ones(hidden.shape[:2], device=hidden.device) if attention_mask is None else attention_mask
        mask = mask.to(hidden.dtype)[..., None]  # (B, T, 1)
        if self.pooling == "late":
            logits = self.out(nn.functional.gelu(self.dense(hidden)))  # (B, T, num_labels)
            return (logits * mask).sum(dim=1) / mask.sum(dim=1)  # (B, num_labels): mean over the real tokens
        x = hidden[:, 0] if self.pooling == "bos" else (hidden * mask).sum(dim=1) / mask.sum(dim=1)  # (B, D)
        return self.out(nn.functional.gelu(self.dense(x)))  # (B, num_labels)


class LastTokenClassificationHead(nn.Module):
    """The decoders' head (Qwen3, Gemma 3: transformers' generic one): the hidden state of the last token whose id is
    not ``pad_token_id`` -> bias-free Linear ``score`` -> logits (B, num_labels). With left padding that is the last
    position; a text whose tokenizer appends the padding token as end-of-text is read at the token before it, as
    transformers does.

    Example:
        >>> head = LastTokenClassificationHead(hidden_size=8, num_labels=1, pad_token_id=0).eval()
        >>> hidden, ids = torch.randn(2, 4, 8), torch.tensor([[0, 0, 5, 6], [7, 5, 6, 0]])
        >>> torch.allclose(head(hidden, ids), head.out(torch.stack([hidden[0, 3], hidden[1, 2]])))
        True
    """

    def __init__(self, hidden_size: int, num_labels: int, pad_token_id: int | None) -> None:
        super().__init__()
        self.pad_token_id = pad_token_id
        self.out = nn.Linear(hidden_size, num_labels, bias=False)

    def forward(self, hidden: Tensor, input_ids: Tensor) -> Tensor:
        B, T = input_ids.shape
        if self.pad_token_id is None:
            if B != 1:
                raise ValueError("Cannot handle batch sizes > 1 if no padding token is defined.")
            last = torch.full((1,), T - 1, device=input_ids.device)
        else:  # the largest index holding a non-padding id (0 when every id is padding)
            positions = torch.arange(T, device=input_ids.device)
            last = (positions * input_ids.ne(self.pad_token_id)).argmax(dim=-1)  # (B,)
        return self.out(hidden[torch.arange(B, device=hidden.device), last])  # (B, D) -> (B, num_labels)


HEADS: dict[str, type[nn.Module]] = {"bert": BertClassificationHead, "mpnet": MPNetClassificationHead,
                                     "roberta": MPNetClassificationHead, "xlm-roberta": MPNetClassificationHead,
                                     "camembert": MPNetClassificationHead, "distilbert": DistilBertClassificationHead,
                                     "electra": ElectraClassificationHead, "albert": BertClassificationHead,
                                     "gte": BertClassificationHead, "new": BertClassificationHead}


def check_classifier_supported(model_type: str | None, source: str) -> None:
    """Refuse a model type with no sequence-classification head here (T5: its head runs the decoder too).

    Example:
        >>> check_classifier_supported("t5", "folder")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: folder: sequence classification heads of t5 models are not supported (CrossEncoder runs on ...
    """
    if model_type not in ARCHITECTURES:
        raise ValueError(f"{source + ': ' if source else ''}sequence classification heads of {model_type} models are "
                         f"not supported (CrossEncoder runs on {', '.join(ARCHITECTURES)})")


class SequenceClassifier(nn.Module):
    """Encoder + classification head: token ids -> logits (B, num_labels), as HF ``*ForSequenceClassification``.

    Args:
        config: the encoder's shape (``config.hf_config`` is the config.json written back on save).
        num_labels: outputs of the head.
        dropout: the head's dropout probability.

    Example:
        >>> cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        ...                     intermediate_size=64)
        >>> model = SequenceClassifier(cfg, num_labels=1).eval()
        >>> logits = model(torch.tensor([[1, 5, 7, 2]]), torch.ones(1, 4, dtype=torch.long))
        >>> tuple(logits.shape)
        (1, 1)
        >>> restored = SequenceClassifier.from_hf_state_dict(cfg.to_hf_config() | {"num_labels": 1},
        ...                                                  model.hf_state_dict()).eval()
        >>> torch.equal(restored(torch.tensor([[1, 5, 7, 2]])), logits)
        True
    """

    def __init__(self, config: EncoderConfig, num_labels: int, dropout: float | None = None) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        check_classifier_supported(config.model_type, "")
        self.config = config
        self.num_labels = num_labels
        dropout = config.hidden_dropout_prob if dropout is None else dropout
        self.encoder = build_encoder(config, add_pooler=config.model_type in POOLER_HEAD_TYPES)
        if config.model_type == "modernbert":
            self.classifier = ModernBertClassificationHead(config, num_labels, dropout)
        elif config.model_type in ("deberta", "deberta-v2"):
            self.classifier = DebertaV2ClassificationHead(config, num_labels, dropout)
        elif config.model_type == "eurobert":
            pooling = config.hf_config.get("classifier_pooling", "late")
            self.classifier = EuroBertClassificationHead(config.hidden_size, num_labels, pooling)
        elif config.model_type in DECODER_TYPES:
            self.classifier = LastTokenClassificationHead(config.hidden_size, num_labels, config.pad_token_id)
        else:
            self.classifier = HEADS[config.model_type](config.hidden_size, num_labels, dropout)

    @classmethod
    def from_hf_state_dict(
        cls, hf_config: dict[str, Any], state_dict: dict[str, Tensor], source: str = "checkpoint",
        num_labels: int | None = None,
    ) -> SequenceClassifier:
        """Build from a config.json dict and a HF ``*ForSequenceClassification`` state dict, loading strictly.

        Raises:
            ValueError: ``num_labels`` disagrees with the checkpoint, or a weight is missing, unexpected or
                mis-shaped (the message names the source and the keys).
        """
        config = EncoderConfig.from_hf_config(hf_config, source)
        saved_labels = num_labels_of(hf_config)
        if num_labels is not None and num_labels != saved_labels:
            raise ValueError(
                f"{source}: num_labels={num_labels} but the checkpoint's classifier has {saved_labels} labels; "
                "embedkit does not re-initialise heads"
            )
        encoder_state, head_state = split_hf_state_dict(state_dict, config.model_type, source)
        check_size_before_building(config, config.model_type in POOLER_HEAD_TYPES, encoder_state, source)
        head_state = shared_head_to("classifier", head_state)  # ModernBERT's head.* belongs to the classifier
        not_classifier = sorted(k for k in head_state if not k.startswith("classifier."))
        if not_classifier:
            raise ValueError(f"{source}: unexpected non-classifier head weights {not_classifier}")
        if not head_state:
            raise ValueError(f"{source}: no classifier weights; is this a *ForSequenceClassification checkpoint?")
        with rng_untouched():  # every weight is loaded: the random state stays as the caller left it
            model = cls(config, saved_labels, classifier_dropout(hf_config, config))
            load_strict(model.encoder, encoder_state, source)
            load_strict(model.classifier, {k[len("classifier.") :]: v for k, v in head_state.items()}, source)
        return model

    @classmethod
    def from_encoder_state_dict(
        cls, hf_config: dict[str, Any], state_dict: dict[str, Tensor], num_labels: int = 1,
        source: str = "checkpoint",
    ) -> SequenceClassifier:
        """A new classifier on a pretrained encoder (a bi-encoder or ``*Model``/``*ForMaskedLM`` checkpoint).

        The encoder loads strictly; the head (and a BERT pooler the checkpoint lacks) starts as transformers
        initialises it: normal(0, initializer_range) weights, zero biases (ModernBERT: its own truncated-normal
        scheme). Other head weights (an MLM head) are left out.

        Raises:
            ValueError: an encoder weight is missing, unexpected or mis-shaped.
        """
        config = EncoderConfig.from_hf_config(hf_config, source)
        with rng_untouched():  # only the new head's initialisation below draws, as in transformers
            model = cls(config, num_labels, classifier_dropout(hf_config, config))
        encoder_state, _ = split_hf_state_dict(state_dict, config.model_type, source)
        std = float(hf_config.get("initializer_range", 0.02))
        fresh = [model.classifier]
        pooler = getattr(model.encoder, "pooler", None)
        if pooler is None:  # a bi-encoder's pooler that this head does not read (RoBERTa, MPNet), left out as in HF
            encoder_state = {k: v for k, v in encoder_state.items() if not k.startswith("pooler.")}
        elif not any(k.startswith("pooler.") for k in encoder_state):
            fresh.append(pooler)
            encoder_state.update({f"pooler.{k}": v for k, v in pooler.state_dict().items()})
        load_strict(model.encoder, encoder_state, source)
        if isinstance(model.classifier, ModernBertClassificationHead):  # ModernBERT's own initialisation scheme
            model.classifier.initialize_as_transformers(hf_config)
            fresh.remove(model.classifier)
        with torch.no_grad():
            for module in fresh:
                for layer in module.modules():
                    if isinstance(layer, nn.Linear):
                        layer.weight.normal_(0.0, std)
                        if layer.bias is not None:
                            layer.bias.zero_()
        return model

    @property
    def device(self) -> torch.device:
        """Where the weights live (as ``PreTrainedModel.device``)."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype (as ``PreTrainedModel.dtype``)."""
        return next(self.parameters()).dtype

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> Tensor:
        hidden = InferenceEngine(self.encoder)(input_ids, attention_mask, token_type_ids).last_hidden_state  # (B, T, D)
        pooler = getattr(self.encoder, "pooler", None)
        pooled = pooler(hidden) if pooler is not None else None  # (B, D)
        if isinstance(self.classifier, (ModernBertClassificationHead, EuroBertClassificationHead)):  # needs the mask
            return self.classifier(hidden, pooled, attention_mask)  # (B, num_labels)
        if isinstance(self.classifier, LastTokenClassificationHead):  # reads the last non-padding token id
            return self.classifier(hidden, input_ids)  # (B, num_labels)
        return self.classifier(hidden, pooled)  # (B, num_labels)

    def hf_parameter_name(self, name: str) -> str | None:
        """The transformers name of parameter ``name`` (``encoder.layers.0.attn.q.weight`` ->
        ``bert.encoder.layer.0.attention.self.query.weight``), None for one transformers does not have."""
        model_type = self.config.model_type
        return hf_name_with_head(name, model_type, "encoder", HF_PREFIX[model_type], "classifier",
                                 HEAD_TO_HF[model_type])

    def get_input_embeddings(self) -> nn.Embedding:
        """The encoder's token embedding table."""
        return self.encoder.get_input_embeddings()

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Resize the encoder's token embedding table (see :mod:`embedkit.encoders.token_embeddings`)."""
        return self.encoder.resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)

    def hf_state_dict(self) -> dict[str, Tensor]:
        """Weights under the names transformers saves for ``*ForSequenceClassification``."""
        model_type = self.config.model_type
        prefix, head_table = HF_PREFIX[model_type], HEAD_TO_HF[model_type]
        encoder = {k: v.detach().contiguous() for k, v in self.encoder.state_dict().items()}
        out = {prefix + k: v for k, v in ek_to_hf(encoder, model_type).items()}
        for key, tensor in self.classifier.state_dict().items():
            out[head_table[key]] = tensor.detach().contiguous()
        return out

    def hf_config(self) -> dict[str, Any]:
        """The config.json dict to save: encoder fields, architecture and the label maps."""
        out = self.config.to_hf_config()
        out["architectures"] = [ARCHITECTURES[self.config.model_type]]
        id2label = out.get("id2label")
        if not isinstance(id2label, dict) or len(id2label) != self.num_labels:
            id2label = {str(i): f"LABEL_{i}" for i in range(self.num_labels)}
        out["id2label"] = copy.deepcopy(id2label)
        out["label2id"] = {label: int(i) for i, label in id2label.items()}
        out.pop("num_labels", None)  # transformers derives it from id2label
        return out


def load_sequence_classifier(hf_config: dict[str, Any], state_dict: dict[str, Tensor], source: str = "checkpoint",
                             num_labels: int | None = None, is_classifier: bool = True) -> SequenceClassifier:
    """The classifier a CrossEncoder runs, from a config.json dict and a checkpoint's weights.

    A classifier checkpoint (``is_classifier`` and ``classifier.*`` weights present) loads with its head; any other
    (a bi-encoder, ``*Model`` or ``*ForMaskedLM`` checkpoint) gets a new ``num_labels``-label head (1 by default),
    with a warning, as sentence-transformers does. ``config.num_labels``, ``config.id2label`` / ``label2id``
    (``LABEL_i`` when config.json has no labels for this head) and ``config.classifier_dropout`` are set as
    transformers' config has them.

    Example:
        >>> cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        ...                     intermediate_size=64)
        >>> trained = SequenceClassifier(cfg, num_labels=3)
        >>> hf_config = {**cfg.to_hf_config(), "num_labels": 3}
        >>> load_sequence_classifier(hf_config, trained.hf_state_dict()).config.num_labels
        3
    """
    if hf_config.get("model_type") in SUPPORTED_MODEL_TYPES:  # others: from_hf_config names what it supports
        check_classifier_supported(hf_config["model_type"], source)
    has_head = any(key.startswith(("classifier.", "score.")) for key in state_dict)  # score: Qwen3's head
    if has_head and is_classifier:
        model = SequenceClassifier.from_hf_state_dict(hf_config, state_dict, source, num_labels=num_labels)
    else:
        new_labels = 1 if num_labels is None else num_labels
        logger.warning("%s has no classification head: starting a new %d-label head; train it before use",
                       source, new_labels)
        model = SequenceClassifier.from_encoder_state_dict(hf_config, state_dict, new_labels, source)
    # transformers-style config attributes that callers read (``model.config.classifier_dropout`` ...)
    model.config.classifier_dropout = hf_config.get("classifier_dropout")
    model.config.num_labels = model.num_labels
    model.config.hf_config["num_labels"] = model.num_labels
    labels = hf_config.get("id2label")
    if not isinstance(labels, dict) or len(labels) != model.num_labels:
        labels = {i: f"LABEL_{i}" for i in range(model.num_labels)}
    model.config.id2label = {int(i): label for i, label in labels.items()}  # as transformers: int keys
    model.config.label2id = {label: i for i, label in model.config.id2label.items()}
    return model
