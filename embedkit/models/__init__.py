"""Pipeline modules (sentence-transformers' ``models``): Transformer, Pooling, Dense, Normalize, Router,
StaticEmbedding.

``MODULE_TYPES`` maps every ``modules.json`` type string that sentence-transformers 5.0-6.x writes to the embedkit
class that reads it; ``SAVED_TYPE`` is the string embedkit writes (the classic one, read by ST 5.x and 6.x alike).
"""

from __future__ import annotations

from .dense import Dense
from .module import Module
from .normalize import Normalize
from .pooling import Pooling
from .router import Router
from .static_embedding import StaticEmbedding
from .transformer import Transformer

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
}

SAVED_TYPE: dict[type[Module], str] = {
    Transformer: "sentence_transformers.models.Transformer",
    Pooling: "sentence_transformers.models.Pooling",
    Dense: "sentence_transformers.models.Dense",
    Normalize: "sentence_transformers.models.Normalize",
    Router: "sentence_transformers.models.Router",
    StaticEmbedding: "sentence_transformers.models.StaticEmbedding",
}

__all__ = ["MODULE_TYPES", "SAVED_TYPE", "Dense", "Module", "Normalize", "Pooling", "Router", "StaticEmbedding",
           "Transformer"]
