"""Hand-written encoders (BERT, MPNet, RoBERTa / XLM-RoBERTa / CamemBERT, DistilBERT, ELECTRA, DeBERTa-v2 / v3,
NomicBERT, ModernBERT, the encoder of T5 / mT5) and decoders used as encoders (Qwen3, Gemma 3, Llama / Mistral /
Qwen2), their config, and the HF weight-name tables."""

from __future__ import annotations

from torch import nn

from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.deberta_v2 import DebertaV2Config, DebertaV2Model
from embedkit.encoders.distilbert import DistilBertModel
from embedkit.encoders.electra import ElectraModel
from embedkit.encoders.gemma3 import Gemma3Config, Gemma3Model
from embedkit.encoders.llama import LlamaConfig, LlamaModel
from embedkit.encoders.modernbert import ModernBertConfig, ModernBertModel
from embedkit.encoders.mpnet import MPNetModel
from embedkit.encoders.nomic_bert import NomicBertConfig, NomicBertModel
from embedkit.encoders.qwen3 import Qwen3Config, Qwen3Model
from embedkit.encoders.roberta import RobertaModel
from embedkit.encoders.t5 import T5Config, T5EncoderModel

ENCODERS: dict[str, type[nn.Module]] = {
    "bert": BertModel,
    "mpnet": MPNetModel,
    "roberta": RobertaModel,
    "xlm-roberta": RobertaModel,
    "camembert": RobertaModel,
    "distilbert": DistilBertModel,
    "electra": ElectraModel,
    "modernbert": ModernBertModel,
    "qwen3": Qwen3Model,
    "gemma3_text": Gemma3Model,
    "llama": LlamaModel,
    "mistral": LlamaModel,
    "qwen2": LlamaModel,
    "t5": T5EncoderModel,
    "mt5": T5EncoderModel,
    "deberta-v2": DebertaV2Model,
    "nomic_bert": NomicBertModel,
}


def build_encoder(config: EncoderConfig, add_pooler: bool = True) -> nn.Module:
    """Instantiate the encoder class registered for ``config.model_type``."""
    return ENCODERS[config.model_type](config, add_pooler=add_pooler)


__all__ = ["ENCODERS", "BertModel", "DebertaV2Config", "DebertaV2Model", "DistilBertModel", "ElectraModel",
           "EncoderConfig", "Gemma3Config", "Gemma3Model", "LlamaConfig", "LlamaModel", "MPNetModel",
           "ModernBertConfig", "ModernBertModel", "NomicBertConfig", "NomicBertModel", "Qwen3Config", "Qwen3Model",
           "RobertaModel", "T5Config", "T5EncoderModel", "build_encoder"]
