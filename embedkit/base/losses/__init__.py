"""Loss machinery shared by every model type: GradCache (cached losses) and merged multi-column forward passes."""

from __future__ import annotations

from embedkit.base.losses.gradcache import (
    CachedLossMixin,
    RandContext,
    has_static_embedding_input,
    uses_gradient_cache,
)
from embedkit.base.losses.merged_forward import (
    column_merging_disabled,
    embed_columns,
    merge_feature_batches,
)

__all__ = [
    "CachedLossMixin",
    "RandContext",
    "column_merging_disabled",
    "embed_columns",
    "has_static_embedding_input",
    "merge_feature_batches",
    "uses_gradient_cache",
]
