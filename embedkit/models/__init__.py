"""Pipeline modules (sentence-transformers' ``models``): Transformer, Pooling, Dense, Normalize, Router,
StaticEmbedding; the SPLADE modules (MLMTransformer, SpladePooling, SparseStaticEmbedding) are registered here too.

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

# SPLADE modules live in embedkit.sparse_encoder; imported after the classes above, which they build on.
from ..sparse_encoder.mlm_transformer import MLMTransformer  # noqa: E402
from ..sparse_encoder.sparse_auto_encoder import SparseAutoEncoder  # noqa: E402
from ..sparse_encoder.sparse_static_embedding import SparseStaticEmbedding  # noqa: E402
from ..sparse_encoder.splade_pooling import SpladePooling  # noqa: E402

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
}

SAVED_TYPE: dict[type[Module], str] = {
    Transformer: "sentence_transformers.models.Transformer",
    Pooling: "sentence_transformers.models.Pooling",
    Dense: "sentence_transformers.models.Dense",
    Normalize: "sentence_transformers.models.Normalize",
    Router: "sentence_transformers.models.Router",
    StaticEmbedding: "sentence_transformers.models.StaticEmbedding",
    # Classic (5.0-5.3) paths: ST 5.x imports them directly, ST 6.x through its deprecated-path table.
    MLMTransformer: "sentence_transformers.sparse_encoder.models.MLMTransformer",
    SpladePooling: "sentence_transformers.sparse_encoder.models.SpladePooling",
    SparseStaticEmbedding: "sentence_transformers.sparse_encoder.models.SparseStaticEmbedding",
    SparseAutoEncoder: "sentence_transformers.sparse_encoder.models.SparseAutoEncoder",
}

__all__ = ["MODULE_TYPES", "SAVED_TYPE", "Dense", "Module", "Normalize", "Pooling", "Router", "StaticEmbedding",
           "Transformer"]
