"""The small base shared by pipeline modules: a JSON config of named keys plus optional safetensors weights.

A pipeline module reads a features dict and returns it with keys added (``token_embeddings``,
``sentence_embedding``, ...). Its folder holds ``config.json`` (the values of ``config_keys``) and, when it has
parameters, ``model.safetensors``. This is the layout sentence-transformers uses, so folders move both ways.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from embedkit.encoders.loading import load_strict, read_state_dict


def read_json_file(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise ValueError(f"cannot parse {path}: {exc}") from exc


def write_json_file(path: str | os.PathLike, data: Any, sort_keys: bool = False) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n", encoding="utf-8")


def import_torch_class(path: str) -> type[nn.Module]:
    """Resolve a dotted ``torch.*`` class path such as ``torch.nn.modules.activation.Tanh``.

    Raises:
        ValueError: the path is outside ``torch.`` (embedkit never imports code named by a model folder) or is not
            an ``nn.Module`` class.
    """
    if not isinstance(path, str) or not path.startswith("torch."):
        raise ValueError(f"refusing to import {path!r}: only torch.* classes are allowed in model configs")
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{path!r} is not a torch.nn.Module class")
    return cls


def class_path(obj: nn.Module) -> str:
    """The dotted path sentence-transformers writes for a module instance (``torch.nn.modules.linear.Identity``)."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class Module(nn.Module):
    """Base of pipeline modules: ``config_keys`` name the constructor arguments saved in ``config.json``."""

    config_keys: list[str] = []
    config_file_name: str = "config.json"

    def get_config_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.config_keys}

    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        from safetensors.torch import save_file

        write_json_file(Path(output_path) / self.config_file_name, self.get_config_dict())
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        if state:
            save_file(state, str(Path(output_path) / "model.safetensors"), metadata={"format": "pt"})

    def load_weights(self, folder: str | os.PathLike) -> None:
        """Strictly load this module's weights from ``folder`` (safetensors or weights-only ``pytorch_model.bin``)."""
        state: dict[str, Tensor]
        state, source = read_state_dict(folder)
        load_strict(self, state, str(source))
