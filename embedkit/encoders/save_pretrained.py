"""``save_pretrained`` and ``num_parameters`` on an encoder, as on a transformers model: code that exports the
backbone of a SentenceTransformer (``model[0].auto_model.save_pretrained(path)``) writes a folder that transformers'
``AutoModel.from_pretrained`` and embedkit's ``Transformer`` both load.

Example:
    >>> import tempfile
    >>> from embedkit.encoders import BertModel, EncoderConfig
    >>> enc = BertModel(EncoderConfig(model_type="bert", vocab_size=50, hidden_size=16, num_hidden_layers=1,
    ...                               num_attention_heads=2, intermediate_size=32))
    >>> folder = tempfile.mkdtemp()
    >>> enc.save_pretrained(folder)
    >>> sorted(os.listdir(folder))
    ['config.json', 'model.safetensors']
    >>> enc.num_parameters() == sum(p.numel() for p in enc.parameters())
    True
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor, nn

logger = logging.getLogger(__name__)


class SavePretrained:
    """Mixed into the encoder classes (see the module docstring)."""

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """How many parameters the encoder has (trainable ones only, or without the embedding tables, on request)."""
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}  # type: ignore[attr-defined]
        return sum(p.numel() for p in self.parameters()  # type: ignore[attr-defined]
                   if id(p) not in skip and (p.requires_grad or not only_trainable))

    def save_pretrained(self, save_directory: str | os.PathLike, safe_serialization: bool = True,
                        **kwargs: Any) -> None:
        """Write ``config.json`` and the weights under transformers' names (``model.safetensors``, or
        ``pytorch_model.bin`` without ``safe_serialization``); with a LoRA adapter active, the adapter instead
        (``adapter_config.json`` + ``adapter_model.safetensors``), as transformers does. Other transformers keywords
        (``max_shard_size``, ``push_to_hub``, ...) are not supported and raise."""
        from embedkit.encoders.convert import ek_to_hf

        if kwargs:
            raise TypeError(f"save_pretrained() got unsupported arguments {sorted(kwargs)}; embedkit writes one "
                            "unsharded file and does not push")
        model_type = self.config.model_type  # type: ignore[attr-defined]
        write_network(self, model_type, save_directory, safe_serialization,  # type: ignore[arg-type]
                      self.config.to_hf_config,  # type: ignore[attr-defined]
                      lambda: ek_to_hf(self.state_dict(), model_type))  # type: ignore[attr-defined]


def _with_weights_dtype(config: dict[str, Any], state: dict[str, Tensor]) -> dict[str, Any]:
    """``config`` naming the dtype the floating-point weights are written in (most of their elements), as
    transformers' ``save_pretrained`` does: under ``torch_dtype`` where the config has that key (transformers 4),
    under ``dtype`` otherwise (transformers 5), so a model cast to bfloat16 is not described as float32."""
    sizes: dict[Any, int] = {}
    for tensor in state.values():
        if tensor.is_floating_point():
            sizes[tensor.dtype] = sizes.get(tensor.dtype, 0) + tensor.numel()
    if not sizes:
        return config
    name = str(max(sizes, key=sizes.__getitem__)).removeprefix("torch.")
    config = dict(config)
    if "torch_dtype" in config:
        config["torch_dtype"] = name
    if "dtype" in config or "torch_dtype" not in config:
        config["dtype"] = name
    return config


def write_network(root: nn.Module, model_type: str, folder: str | os.PathLike, safe_serialization: bool,
                  hf_config: Callable[[], dict[str, Any]], hf_state: Callable[[], dict[str, Tensor]]) -> None:
    """Write a network into ``folder`` as transformers' ``save_pretrained`` does: ``hf_config()`` as config.json and
    ``hf_state()`` (weights under transformers' names) as ``model.safetensors`` (``pytorch_model.bin`` without
    ``safe_serialization``), or, when ``root`` holds a LoRA adapter, the active adapter instead. Used by the
    encoders' ``save_pretrained``, the Transformer modules' ``save`` and the CrossEncoder's folder."""
    from embedkit.encoders.lora import adapter_configs, write_active_adapter

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if adapter_configs(root):
        write_active_adapter(root, model_type, folder, safe_serialization)
        return
    _warn_on_pruned_layers(root)
    state = {k: v.detach().cpu().contiguous() for k, v in hf_state().items()}
    config = _with_weights_dtype(hf_config(), state)
    text = json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (folder / "config.json").write_text(text, encoding="utf-8")
    if safe_serialization:
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        import torch

        torch.save(state, folder / "pytorch_model.bin")


def _warn_on_pruned_layers(root: nn.Module) -> None:
    """Log when an encoder's layer list was cut (``auto_model.encoder.layer = ...[:3]``) but its config still names
    the old count: that folder's config.json would ask for weights it does not hold, so no library loads it as is."""
    for module in root.modules():
        layers, config = getattr(module, "layers", None), getattr(module, "config", None)
        count = getattr(config, "num_hidden_layers", None)
        if isinstance(layers, nn.ModuleList) and isinstance(count, int) and len(layers) != count:
            logger.warning(f"{type(module).__name__} has {len(layers)} layers but config.num_hidden_layers is {count}: "
                           f"the saved config.json will not match the saved weights. Set "
                           f"config.num_hidden_layers = {len(layers)} before saving a model whose layers were pruned.")
