"""Hand-written encoders (BERT, MPNet, RoBERTa / XLM-RoBERTa / CamemBERT, DistilBERT, ELECTRA, ALBERT, DeBERTa-v2 / v3,
NomicBERT, GTE, EuroBERT, ModernBERT, the encoder of T5 / mT5) and decoders used as encoders (Qwen3, Gemma 3,
Llama / Mistral / Qwen2), their config, and the HF weight-name tables.

The BERT family's modules load with this package; every other family's module loads when a model of it is built
or one of its names is first read, so that ``import embedkit`` does not pay for families a program never uses.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from embedkit.encoders.albert import AlbertConfig, AlbertModel
from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.distilbert import DistilBertModel
from embedkit.encoders.electra import ElectraModel
from embedkit.encoders.mpnet import MPNetModel
from embedkit.encoders.roberta import RobertaModel

# model_type -> (module under embedkit.encoders, encoder class)
ENCODERS: dict[str, tuple[str, str]] = {
    "bert": ("bert", "BertModel"),
    "mpnet": ("mpnet", "MPNetModel"),
    "roberta": ("roberta", "RobertaModel"),
    "xlm-roberta": ("roberta", "RobertaModel"),
    "camembert": ("roberta", "RobertaModel"),
    "distilbert": ("distilbert", "DistilBertModel"),
    "electra": ("electra", "ElectraModel"),
    "albert": ("albert", "AlbertModel"),
    "modernbert": ("modernbert", "ModernBertModel"),
    "qwen3": ("qwen3", "Qwen3Model"),
    "gemma3_text": ("gemma3", "Gemma3Model"),
    "llama": ("llama", "LlamaModel"),
    "mistral": ("llama", "LlamaModel"),
    "qwen2": ("llama", "LlamaModel"),
    "gemma2": ("gemma3", "Gemma3Model"),  # Gemma 3's stack; Gemma2Config sets what differs
    "eurobert": ("llama", "LlamaModel"),
    "t5": ("t5", "T5EncoderModel"),
    "mt5": ("t5", "T5EncoderModel"),
    "umt5": ("t5", "T5EncoderModel"),  # T5's encoder with a position bias per layer
    "deberta-v2": ("deberta_v2", "DebertaV2Model"),
    "deberta": ("deberta_v2", "DebertaV2Model"),
    "nomic_bert": ("nomic_bert", "NomicBertModel"),
    "gte": ("gte", "GteModel"),
    "new": ("gte", "GteModel"),
}
# Names of the families loaded on first use -> their module
_LATER = {
    "DebertaV2Config": "deberta_v2", "DebertaV2Model": "deberta_v2", "Gemma2Config": "gemma2", "Gemma3Config": "gemma3",
    "Gemma3Model": "gemma3", "GteConfig": "gte", "GteModel": "gte", "LlamaConfig": "llama", "LlamaModel": "llama",
    "ModernBertConfig": "modernbert", "ModernBertModel": "modernbert", "NomicBertConfig": "nomic_bert",
    "NomicBertModel": "nomic_bert", "Qwen3Config": "qwen3", "Qwen3Model": "qwen3", "T5Config": "t5",
    "T5EncoderModel": "t5",
}


def encoder_class(model_type: str) -> type[nn.Module]:
    """The encoder class registered for ``model_type`` (its module is imported on first use).

    Example:
        >>> encoder_class("t5").__name__
        'T5EncoderModel'
    """
    module, name = ENCODERS[model_type]
    return getattr(importlib.import_module(f"embedkit.encoders.{module}"), name)


def build_encoder(config: EncoderConfig, add_pooler: bool = True) -> nn.Module:
    """Instantiate the encoder class registered for ``config.model_type``."""
    return encoder_class(config.model_type)(config, add_pooler=add_pooler)


def __getattr__(name: str) -> Any:
    if name in _LATER:
        return getattr(importlib.import_module(f"embedkit.encoders.{_LATER[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ENCODERS", "AlbertConfig", "AlbertModel", "BertModel", "DebertaV2Config", "DebertaV2Model",
           "DistilBertModel", "ElectraModel", "EncoderConfig", "Gemma3Config", "Gemma3Model", "GteConfig", "GteModel",
           "LlamaConfig", "LlamaModel", "MPNetModel", "ModernBertConfig", "ModernBertModel", "NomicBertConfig",
           "NomicBertModel", "Qwen3Config", "Qwen3Model", "RobertaModel", "T5Config", "T5EncoderModel", "build_encoder",
           "encoder_class"]
