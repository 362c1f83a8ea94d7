"""Hand-written encoders (BERT, MPNet, RoBERTa / XLM-RoBERTa, DistilBERT), their config, and the HF weight-name
tables."""

from __future__ import annotations

from torch import nn

from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.distilbert import DistilBertModel
from embedkit.encoders.electra import ElectraModel
from embedkit.encoders.modernbert import ModernBertConfig, ModernBertModel
from embedkit.encoders.mpnet import MPNetModel
from embedkit.encoders.roberta import RobertaModel

ENCODERS: dict[str, type[nn.Module]] = {
    "bert": BertModel,
    "mpnet": MPNetModel,
    "roberta": RobertaModel,
    "xlm-roberta": RobertaModel,
    "camembert": RobertaModel,
    "distilbert": DistilBertModel,
    "electra": ElectraModel,
    "modernbert": ModernBertModel,
}


def build_encoder(config: EncoderConfig, add_pooler: bool = True) -> nn.Module:
    """Instantiate the encoder class registered for ``config.model_type``."""
    return ENCODERS[config.model_type](config, add_pooler=add_pooler)


__all__ = ["ENCODERS", "BertModel", "DistilBertModel", "ElectraModel", "EncoderConfig", "MPNetModel",
           "ModernBertConfig", "ModernBertModel", "RobertaModel", "build_encoder"]
