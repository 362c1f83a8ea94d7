"""PEFT adapter methods of the model classes (``add_adapter``, ``load_adapter``, ``set_adapter``, ...).

sentence-transformers hands these to transformers' ``PeftAdapterMixin`` on its Transformer module's network, which
needs the ``peft`` package. embedkit implements LoRA itself (:mod:`embedkit.encoders.lora`) on the network of a
feature-extraction Transformer module (a SentenceTransformer's first module) or of a CrossEncoder's classifier, with
the same method names, arguments,
adapter names, messages and files (``adapter_config.json`` + ``adapter_model.safetensors``), so adapters trained with
either library load in the other. ``peft`` is not needed: ``add_adapter`` takes a ``peft.LoraConfig`` when peft is
installed, or a dict with ``adapter_config.json``'s keys.

Example:
    >>> from embedkit import SentenceTransformer
    >>> from embedkit.default_model import default_model_path
    >>> model = SentenceTransformer(default_model_path(), device="cpu")
    >>> model.add_adapter({"r": 8, "lora_alpha": 16, "lora_dropout": 0.1})
    >>> model.active_adapters()
    ['default']
    >>> sum(p.numel() for p in model[0].parameters() if p.requires_grad)  # only the adapter trains
    73728
"""

from __future__ import annotations

import os
from typing import Any

from torch import Tensor, nn

from embedkit.encoders import lora
from embedkit.encoders.convert import TO_HF

_NOT_COMPATIBLE = "PEFT methods are only supported for Sentence Transformer models that use the Transformer module."


class PeftAdapterMixin:
    """Adapter methods shared by the model classes; each acts on the first module's network (see the module
    docstring)."""

    def has_peft_compatible_model(self) -> bool:
        """Whether the model has a network embedkit can adapt: a SentenceTransformer's feature-extraction
        Transformer module, or a CrossEncoder's classifier."""
        return self._adapter_target() is not None

    def check_peft_compatible_model(self) -> None:
        if self._adapter_target() is None:
            raise ValueError(_NOT_COMPATIBLE)

    def _adapter_target(self) -> tuple[nn.Module, str, str | None] | None:
        """(the network, its model type, where it was loaded from), or None when there is none to adapt."""
        from embedkit.base.modules.transformer import Transformer
        from embedkit.encoders.engine.frozen import FrozenEncoderLayer
        from embedkit.encoders.heads import SequenceClassifier

        children = getattr(self, "children", None)
        first = next(iter(children()), None) if callable(children) else None
        from embedkit.sparse_encoder.modules.mlm_transformer import MLMTransformer

        if type(first) in (Transformer, MLMTransformer) and first.transformer_task in ("feature-extraction",
                                                                                       "fill-mask"):
            target = (first._adapter_root(), first.config.model_type, first.name_or_path)
        elif isinstance(getattr(self, "model", None), SequenceClassifier):  # a CrossEncoder's classifier
            target = (self.model, self.model.config.model_type, getattr(self, "base_name_or_path", None))
        else:
            return None
        if target[1] not in TO_HF or any(type(m) is FrozenEncoderLayer for m in target[0].modules()):
            return None  # a family without name tables, or optimize_for_inference() replaced the layers
        return target

    def _adapted(self) -> tuple[nn.Module, str]:
        """(the network, its model type), or the ValueError sentence-transformers raises."""
        target = self._adapter_target()
        if target is None:
            raise ValueError(_NOT_COMPATIBLE)
        return target[0], target[1]

    def add_adapter(self, adapter_config: Any, adapter_name: str | None = None) -> None:
        """Add a fresh LoRA adapter for training and activate it; the network's own weights are frozen.

        Args:
            adapter_config: a ``peft.LoraConfig`` or a dict of ``adapter_config.json``'s keys (``r``,
                ``lora_alpha``, ``lora_dropout``, ``target_modules``, ``exclude_modules``, ``use_rslora``,
                ``init_lora_weights``); without ``target_modules``, PEFT's default for the model type.
            adapter_name: defaults to ``"default"``.

        Example:
            >>> from embedkit import SentenceTransformer
            >>> from embedkit.default_model import default_model_path
            >>> model = SentenceTransformer(default_model_path(), device="cpu")
            >>> model.add_adapter({"r": 4, "target_modules": ["query", "key", "value"]}, adapter_name="qkv")
            >>> model.active_adapters()
            ['qkv']
        """
        encoder, model_type = self._adapted()
        settings = lora.LoraSettings.from_config(adapter_config)
        settings.base_model_name_or_path = self._adapter_target()[2]
        name = adapter_name or "default"
        lora.add_adapter(encoder, model_type, settings, name)
        lora.set_active_adapters(encoder, name)

    def load_adapter(self, peft_model_id: str | os.PathLike | None = None, adapter_name: str | None = None,
                     revision: str | None = None, token: bool | str | None = None, device_map: Any = "auto",
                     max_memory: Any = None, offload_folder: Any = None, offload_index: Any = None,
                     peft_config: Any = None, adapter_state_dict: dict[str, Tensor] | None = None,
                     low_cpu_mem_usage: bool = False, is_trainable: bool = False,
                     adapter_kwargs: dict[str, Any] | None = None) -> None:
        """Load an adapter from a folder or Hub id (``adapter_config.json`` + ``adapter_model.safetensors``), or
        from ``peft_config`` and ``adapter_state_dict``; it becomes the active adapter, trainable only with
        ``is_trainable=True``. Loading is strict: weights that do not fit the config raise.

        Example:
            >>> import tempfile
            >>> from embedkit import SentenceTransformer
            >>> from embedkit.default_model import default_model_path
            >>> model = SentenceTransformer(default_model_path(), device="cpu")
            >>> model.add_adapter({"r": 4})
            >>> folder = tempfile.mkdtemp()
            >>> model.save(folder)
            >>> model.load_adapter(folder, adapter_name="again")
            >>> model.active_adapters()
            ['again']
        """
        encoder, model_type = self._adapted()
        name = adapter_name if adapter_name is not None else "default"
        if name in lora.adapter_configs(encoder):
            raise ValueError(f"Adapter with name {name} already exists. Please use a different name.")
        if peft_model_id is None and (adapter_state_dict is None and peft_config is None):
            raise ValueError("You should either pass a `peft_model_id` or a `peft_config` and `adapter_state_dict` "
                             "to load an adapter.")
        source = "state_dict"
        if peft_config is None:
            from embedkit.hub import resolve_model_path

            kwargs = dict(adapter_kwargs or {})
            folder = resolve_model_path(peft_model_id, revision=kwargs.get("revision", revision),
                                        token=kwargs.get("token", token), cache_folder=kwargs.get("cache_dir"))
            folder = folder / kwargs["subfolder"] if kwargs.get("subfolder") else folder
            if not (folder / lora.ADAPTER_CONFIG).is_file():
                raise ValueError(f"adapter model file not found in {peft_model_id}. Make sure you are passing the "
                                 "correct path to the adapter model.")
            settings, state, path = lora.read_adapter_folder(folder)
            source = str(path)
            settings.inference_mode = not is_trainable
        else:
            settings = lora.LoraSettings.from_config(peft_config)
            state = adapter_state_dict if adapter_state_dict is not None else {}
            if peft_model_id is not None:
                _, state, path = lora.read_adapter_folder(peft_model_id)
                source = str(path)
        lora.add_adapter(encoder, model_type, settings, name)
        try:
            lora.load_adapter_weights(encoder, model_type, name, state, source)
        except Exception:
            lora.delete_adapters(encoder, name)  # nothing half-loaded stays behind
            raise
        lora.set_active_adapters(encoder, name)
        if settings.inference_mode:
            encoder.eval()

    def set_adapter(self, adapter_name: str | list[str]) -> None:
        """Make ``adapter_name`` (one name or a list) the active adapter(s), and only those."""
        encoder, _ = self._adapted()
        lora.set_active_adapters(encoder, adapter_name)

    def disable_adapters(self) -> None:
        """Run the network without its adapters (they are kept)."""
        encoder, _ = self._adapted()
        lora.enable_adapters(encoder, False)

    def enable_adapters(self) -> None:
        """Run the network with its active adapters again."""
        encoder, _ = self._adapted()
        lora.enable_adapters(encoder, True)

    def active_adapters(self) -> list[str]:
        """The names of the active adapters."""
        encoder, _ = self._adapted()
        return lora.active_adapters(encoder)

    def get_adapter_state_dict(self, adapter_name: str | None = None, state_dict: dict[str, Tensor] | None = None
                               ) -> dict[str, Tensor]:
        """An adapter's weights (default: the active one) under PEFT's names, e.g.
        ``encoder.layer.0.attention.self.query.lora_A.weight``."""
        encoder, model_type = self._adapted()
        return {k: v.detach() for k, v in lora.adapter_state_dict(encoder, model_type, adapter_name).items()}

    def delete_adapter(self, adapter_names: str | list[str]) -> None:
        """Remove adapters; layers left without any become plain Linear layers again."""
        encoder, _ = self._adapted()
        lora.delete_adapters(encoder, adapter_names)
