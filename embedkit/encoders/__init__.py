"""Hand-written encoders (BERT, MPNet), their config, and the HF weight-name tables."""

from __future__ import annotations

from torch import nn

from embedkit.encoders.bert import BertModel
from embedkit.encoders.config import EncoderConfig
from embedkit.encoders.mpnet import MPNetModel

ENCODERS: dict[str, type[nn.Module]] = {"bert": BertModel, "mpnet": MPNetModel}


def build_encoder(config: EncoderConfig, add_pooler: bool = True) -> nn.Module:
    """Instantiate the encoder class registered for ``config.model_type``."""
    return ENCODERS[config.model_type](config, add_pooler=add_pooler)


__all__ = ["ENCODERS", "BertModel", "EncoderConfig", "MPNetModel", "build_encoder"]
