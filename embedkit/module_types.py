"""Which embedkit class reads each ``modules.json`` type string, and which string embedkit writes.

``MODULE_TYPES`` maps every type string that sentence-transformers 5.0-6.x writes (classic ``models.X`` paths, their
one-module-per-class spellings and the 6.x nested paths) to the embedkit class that loads it. It is the allowlist of
loadable modules: a folder naming anything else is refused. ``SAVED_TYPE`` is the string embedkit writes (the classic
one, read by ST 5.x and 6.x alike).
"""

from __future__ import annotations

from embedkit.base.modules.causal_lm_transformer import CausalLMTransformer
from embedkit.base.modules.dense import Dense
from embedkit.base.modules.module import Module
from embedkit.base.modules.normalize import Normalize
from embedkit.base.modules.router import Router
from embedkit.base.modules.sequence_classification import SequenceClassificationTransformer
from embedkit.base.modules.transformer import Transformer
from embedkit.cross_encoder.modules.logit_score import LogitScore
from embedkit.sentence_transformer.modules.bow import BoW
from embedkit.sentence_transformer.modules.clip_model import CLIPModel
from embedkit.sentence_transformer.modules.cnn import CNN
from embedkit.sentence_transformer.modules.dropout import Dropout
from embedkit.sentence_transformer.modules.layer_norm import LayerNorm
from embedkit.sentence_transformer.modules.lstm import LSTM
from embedkit.sentence_transformer.modules.pooling import Pooling
from embedkit.sentence_transformer.modules.static_embedding import StaticEmbedding
from embedkit.sentence_transformer.modules.weighted_layer_pooling import (
    WeightedLayerPooling,
)
from embedkit.sentence_transformer.modules.word_embeddings import WordEmbeddings
from embedkit.sentence_transformer.modules.word_weights import WordWeights
from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer
from embedkit.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder
from embedkit.sparse_encoder.modules.sparse_static_embedding import (
    SparseStaticEmbedding,
)
from embedkit.sparse_encoder.modules.splade_pooling import SpladePooling

MODULE_TYPES: dict[str, type[Module]] = {
    "sentence_transformers.models.Transformer": Transformer,
    "sentence_transformers.models.Transformer.Transformer": Transformer,
    "sentence_transformers.base.modules.transformer.Transformer": Transformer,
    "sentence_transformers.models.Pooling": Pooling,
    "sentence_transformers.models.Pooling.Pooling": Pooling,
    "sentence_transformers.sentence_transformer.modules.pooling.Pooling": Pooling,
    "sentence_transformers.models.Dense": Dense,
    "sentence_transformers.models.Dense.Dense": Dense,
    "sentence_transformers.base.modules.dense.Dense": Dense,
    "sentence_transformers.models.Normalize": Normalize,
    "sentence_transformers.models.Normalize.Normalize": Normalize,
    "sentence_transformers.sentence_transformer.modules.normalize.Normalize": Normalize,
    "sentence_transformers.base.modules.normalize.Normalize": Normalize,
    "sentence_transformers.models.Router": Router,
    "sentence_transformers.models.Router.Router": Router,
    "sentence_transformers.models.Asym": Router,
    "sentence_transformers.models.Asym.Asym": Router,
    "sentence_transformers.base.modules.router.Router": Router,
    "sentence_transformers.models.StaticEmbedding": StaticEmbedding,
    "sentence_transformers.models.StaticEmbedding.StaticEmbedding": StaticEmbedding,
    "sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding": StaticEmbedding,
    "sentence_transformers.sparse_encoder.models.MLMTransformer": MLMTransformer,
    "sentence_transformers.sparse_encoder.models.MLMTransformer.MLMTransformer": MLMTransformer,
    "sentence_transformers.sparse_encoder.modules.mlm_transformer.MLMTransformer": MLMTransformer,
    "sentence_transformers.sparse_encoder.models.SpladePooling": SpladePooling,
    "sentence_transformers.sparse_encoder.models.SpladePooling.SpladePooling": SpladePooling,
    "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling": SpladePooling,
    "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding": SparseStaticEmbedding,
    "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding.SparseStaticEmbedding": SparseStaticEmbedding,
    "sentence_transformers.sparse_encoder.modules.sparse_static_embedding.SparseStaticEmbedding": SparseStaticEmbedding,
    "sentence_transformers.sparse_encoder.models.SparseAutoEncoder": SparseAutoEncoder,
    "sentence_transformers.sparse_encoder.models.SparseAutoEncoder.SparseAutoEncoder": SparseAutoEncoder,
    "sentence_transformers.sparse_encoder.modules.sparse_auto_encoder.SparseAutoEncoder": SparseAutoEncoder,
    "sentence_transformers.cross_encoder.modules.logit_score.LogitScore": LogitScore,
    "sentence_transformers.cross_encoder.modules.LogitScore": LogitScore,
}

# The legacy modules sentence-transformers keeps for old models: classic 5.x paths (``models.X`` and
# ``models.X.X``) and the 6.x nested ``sentence_transformer.modules.<file>.X`` path.
_LEGACY_MODULES: dict[str, type[Module]] = {
    "cnn": CNN, "lstm": LSTM, "bow": BoW, "word_embeddings": WordEmbeddings, "word_weights": WordWeights,
    "weighted_layer_pooling": WeightedLayerPooling, "layer_norm": LayerNorm, "dropout": Dropout,
    "clip_model": CLIPModel,
}
for _file, _cls in _LEGACY_MODULES.items():
    _name = _cls.__name__
    MODULE_TYPES[f"sentence_transformers.models.{_name}"] = _cls
    MODULE_TYPES[f"sentence_transformers.models.{_name}.{_name}"] = _cls
    MODULE_TYPES[f"sentence_transformers.sentence_transformer.modules.{_file}.{_name}"] = _cls

SAVED_TYPE: dict[type[Module], str] = {
    Transformer: "sentence_transformers.models.Transformer",
    Pooling: "sentence_transformers.models.Pooling",
    Dense: "sentence_transformers.models.Dense",
    Normalize: "sentence_transformers.models.Normalize",
    Router: "sentence_transformers.models.Router",
    StaticEmbedding: "sentence_transformers.models.StaticEmbedding",
    **{cls: f"sentence_transformers.models.{cls.__name__}" for cls in _LEGACY_MODULES.values() if cls is not CLIPModel},
    # Classic (5.0-5.3) paths: ST 5.x imports them directly, ST 6.x through its deprecated-path table.
    MLMTransformer: "sentence_transformers.sparse_encoder.models.MLMTransformer",
    SpladePooling: "sentence_transformers.sparse_encoder.models.SpladePooling",
    SparseStaticEmbedding: "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding",
    SparseAutoEncoder: "sentence_transformers.sparse_encoder.models.SparseAutoEncoder",
    # ST 6.x's path (5.x has no such module): its sentence_bert_config.json names the task, which the load reads.
    SequenceClassificationTransformer: "sentence_transformers.base.modules.transformer.Transformer",
    CausalLMTransformer: "sentence_transformers.base.modules.transformer.Transformer",
    LogitScore: "sentence_transformers.cross_encoder.modules.logit_score.LogitScore",
}
