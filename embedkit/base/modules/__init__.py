"""Modules shared by every model type: Transformer, Dense, Normalize, Router and the Module bases."""

from __future__ import annotations

from embedkit.base.modules.dense import Dense
from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.module import Module
from embedkit.base.modules.normalize import Normalize
from embedkit.base.modules.router import Asym, Router
from embedkit.base.modules.transformer import Transformer

__all__ = ["Asym", "Dense", "InputModule", "Module", "Normalize", "Router", "Transformer"]
