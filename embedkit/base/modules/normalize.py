"""Normalize: L2-normalise the sentence embedding (no weights; ST v5 saves no files, v6 a small config)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from embedkit.base.modules.module import Module, read_json_file


class Normalize(Module):
    """``features[out] = F.normalize(features[in], p=2, dim=-1)``.

    Example:
        >>> import torch
        >>> Normalize()({"sentence_embedding": torch.tensor([[3.0, 4.0]])})["sentence_embedding"]
        tensor([[0.6000, 0.8000]])
    """

    config_keys = ["module_input_name", "module_output_name"]

    def __init__(self, module_input_name: str = "sentence_embedding", module_output_name: str | None = None) -> None:
        super().__init__()
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name

    def forward(self, features: dict[str, Tensor], **kwargs: Any) -> dict[str, Tensor]:
        out_name = self.module_output_name or self.module_input_name
        return {**features, out_name: F.normalize(features[self.module_input_name], p=2, dim=-1)}

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        # ST 5.x writes nothing here; keep the folder empty unless the names differ from the defaults.
        if self.module_input_name != "sentence_embedding" or self.module_output_name is not None:
            super().save(output_path, safe_serialization)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Normalize:
        config_file = Path(path) / cls.config_file_name if path else None
        if config_file is None or not config_file.is_file():  # the folder is often absent on the Hub
            return cls()
        config = read_json_file(config_file)
        return cls(
            module_input_name=config.get("module_input_name", "sentence_embedding"),
            module_output_name=config.get("module_output_name"),
        )
