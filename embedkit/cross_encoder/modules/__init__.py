"""Modules for CrossEncoders (sentence-transformers 6.x ``cross_encoder.modules``): :class:`LogitScore`, and the
base modules a CrossEncoder is built from, re-exported so that one import path holds them all."""

from __future__ import annotations

from embedkit.base.modules.dense import Dense
from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.module import Module
from embedkit.base.modules.router import Asym, Router
from embedkit.base.modules.transformer import Transformer
from embedkit.cross_encoder.modules.logit_score import LogitScore

__all__ = ["Dense", "InputModule", "Module", "Asym", "Router", "Transformer", "LogitScore"]
