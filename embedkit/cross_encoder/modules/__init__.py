"""Modules specific to CrossEncoders (sentence-transformers 6.x ``cross_encoder.modules``)."""

from __future__ import annotations

from embedkit.cross_encoder.modules.logit_score import LogitScore

__all__ = ["LogitScore"]
