"""SentenceTransformer pipeline modules (sentence-transformers 6.x ``sentence_transformer.modules``; 5.x ``models``).

Transformer, Dense, Normalize and Router are shared by every model type and live in :mod:`embedkit.base.modules`;
they are re-exported here, as sentence-transformers does. CNN, LSTM, BoW, WordEmbeddings, WordWeights,
WeightedLayerPooling, LayerNorm and Dropout are the legacy modules sentence-transformers keeps for old models.
"""

from __future__ import annotations

from embedkit.base.modules import (
           Dense,
           InputModule,
           Module,
           Normalize,
           Router,
           Transformer,
)
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

Asym = Router

__all__ = [
           "CNN",
           "LSTM",
           "Asym",
           "BoW",
           "CLIPModel",
           "Dense",
           "Dropout",
           "InputModule",
           "LayerNorm",
           "Module",
           "Normalize",
           "Pooling",
           "Router",
           "StaticEmbedding",
           "Transformer",
           "WeightedLayerPooling",
           "WordEmbeddings",
           "WordWeights",
]
