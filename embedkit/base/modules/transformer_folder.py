"""How a Transformer module's network is written to a folder, and which folder an adapter folder's network comes
from: ``config.json`` and the weights under transformers' names, or, with a LoRA adapter active, the adapter instead
(PEFT's ``adapter_config.json`` + ``adapter_model.safetensors``, naming the base model), as transformers'
``save_pretrained`` does; then the tokenizer and ``sentence_bert_config.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from embedkit.base.modules.module import read_json_file, write_json_file
from embedkit.encoders.lora import ADAPTER_CONFIG
from embedkit.encoders.save_pretrained import write_network


def write_module_folder(module: Any, output_path: str | os.PathLike, safe_serialization: bool,
                        hf_config: Callable[[], dict[str, Any]], hf_state: Callable[[], dict[str, Tensor]]) -> None:
    """Write ``module`` (a Transformer or a subclass) into ``output_path``: ``hf_config()`` as config.json and
    ``hf_state()`` as ``model.safetensors`` (``pytorch_model.bin`` without ``safe_serialization``), or its active
    adapter when it has one; then the tokenizer and ``sentence_bert_config.json``."""
    output_path = Path(output_path)
    write_network(module._adapter_root(), module.config.model_type, output_path, safe_serialization, hf_config,
                  hf_state)
    module.tokenizer.save(output_path, model_max_length=module.max_seq_length)
    write_json_file(output_path / "sentence_bert_config.json", module._saved_config_dict())


def adapter_base(adapter_folder: Path, task: str, hub_kwargs: dict[str, Any]) -> tuple[str, Path]:
    """(the base model an adapter folder names, its local folder); ``revision`` locates the adapter only.

    Raises:
        NotImplementedError: a task whose module takes no adapters.
        ValueError: the adapter config names no base model.
    """
    from embedkit.hub import resolve_model_path

    if task not in ("feature-extraction", "fill-mask"):
        raise NotImplementedError(f"{adapter_folder}: LoRA adapters are supported on feature-extraction and "
                                  f"fill-mask Transformer modules; this folder is loaded for {task!r}")
    base = read_json_file(adapter_folder / ADAPTER_CONFIG).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{adapter_folder / ADAPTER_CONFIG} names no base_model_name_or_path")
    return str(base), resolve_model_path(base, **{k: v for k, v in hub_kwargs.items() if k != "revision"})
