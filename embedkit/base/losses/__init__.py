"""Loss machinery shared by every model type: GradCache (cached losses) and its random-state replay."""

from __future__ import annotations

from embedkit.base.losses.gradcache import CachedLossMixin, RandContext

__all__ = ["CachedLossMixin", "RandContext"]
