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
from embedkit.util.file_io import read_config_text


def read_json_file(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    text = read_config_text(path)  # a regular file of bounded size, or a clear error
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"cannot parse {path}: {exc}") from exc


def write_json_file(path: str | os.PathLike, data: Any, sort_keys: bool = False) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n", encoding="utf-8")


def import_torch_class(path: str) -> type[nn.Module]:
    """Resolve the dotted path of a torch activation class, such as ``torch.nn.modules.activation.Tanh``.

    The activations model folders name (Dense's ``activation_function``, a CrossEncoder's ``activation_fn``) are
    the classes of ``torch.nn.modules.activation`` and ``Identity``; any other class (a ``Linear``, a container)
    is refused, so a config cannot make embedkit build arbitrary torch modules.

    Raises:
        ValueError: the path is outside ``torch.`` (embedkit never imports code named by a model folder) or is not
            an activation class.

    Example:
        >>> import_torch_class("torch.nn.modules.activation.Tanh")
        <class 'torch.nn.modules.activation.Tanh'>
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
    if cls.__module__ != "torch.nn.modules.activation" and cls is not nn.Identity:
        raise ValueError(f"{path!r} is not an activation class (torch.nn.modules.activation.* or Identity)")
    return cls


def class_path(obj: nn.Module) -> str:
    """The dotted path sentence-transformers writes for a module instance (``torch.nn.modules.linear.Identity``)."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _module_folder(model_name_or_path: str | os.PathLike, subfolder: str = "", token: bool | str | None = None,
                   cache_folder: str | None = None, revision: str | None = None,
                   local_files_only: bool = False) -> Path:
    """Local folder of a module: ``model_name_or_path`` (a folder or Hub id, downloaded if needed) / ``subfolder``."""
    from embedkit.hub import resolve_model_path

    root = resolve_model_path(model_name_or_path, cache_folder=cache_folder, revision=revision, token=token,
                              local_files_only=local_files_only)
    return root / subfolder if subfolder else root


class Module(nn.Module):
    """Base of pipeline modules: ``config_keys`` name the constructor arguments saved in ``config.json``.

    The classmethods ``load_config``, ``load_file_path``, ``load_dir_path`` and ``load_torch_weights`` and the
    methods ``save_config``/``save_torch_weights`` follow sentence-transformers 6.x's ``Module`` so that modules
    written against that API work here. ``config_key_renames`` maps old config keys to new constructor names; old
    keys found in a config file are renamed on load.

    Example:
        >>> import tempfile, torch
        >>> class Scale(Module):
        ...     config_keys = ["factor"]
        ...     def __init__(self, factor: float = 2.0):
        ...         super().__init__()
        ...         self.factor = factor
        ...     def forward(self, features):
        ...         return {**features, "sentence_embedding": features["sentence_embedding"] * self.factor}
        >>> folder = tempfile.mkdtemp()
        >>> Scale(3.0).save(folder)
        >>> Scale.load(folder).factor
        3.0
    """

    config_keys: list[str] = []
    config_file_name: str = "config.json"
    config_key_renames: dict[str, str] = {}
    save_in_root: bool = False
    forward_kwargs: set[str] | tuple[str, ...] = set()

    def get_config_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.config_keys}

    def __repr__(self) -> str:
        """``Name({config})`` as sentence-transformers 6.x prints modules (see :meth:`_repr_config`)."""
        return f"{type(self).__name__}({self._repr_config()})"

    def _repr_config(self) -> dict[str, Any]:
        """The ``config_keys`` with their values as saved (``get_config_dict``), an output name that follows the
        input name written out, as sentence-transformers 6.x prints them."""
        saved = self.get_config_dict()
        out = {}
        for key in self.config_keys:
            value = saved[key] if key in saved else getattr(self, key, None)
            if key == "module_output_name" and value is None:
                value = out.get("module_input_name", getattr(self, "module_input_name", None))
            out[key] = value
        return out

    def save(self, output_path: str | os.PathLike, *args: Any, safe_serialization: bool = True, **kwargs: Any
             ) -> None:
        """Write ``config_file_name`` and, when the module has parameters or buffers, its weights
        (``model.safetensors``, or ``pytorch_model.bin`` with ``safe_serialization=False``)."""
        self.save_config(output_path)
        if self.state_dict():
            self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    def save_config(self, output_path: str | os.PathLike, filename: str | None = None) -> None:
        """Write :meth:`get_config_dict` as JSON to ``output_path / (filename or config_file_name)``."""
        write_json_file(Path(output_path) / (filename or self.config_file_name), self.get_config_dict())

    def save_torch_weights(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Write the state dict as ``model.safetensors`` (or ``pytorch_model.bin`` when not ``safe_serialization``).

        Tensors are copied to CPU and made contiguous; tensors sharing memory are cloned apart for safetensors.
        """
        import torch

        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if safe_serialization:
            from safetensors.torch import save_file

            seen: set[int] = set()
            for key, value in state.items():
                if value.data_ptr() in seen and value.numel():
                    state[key] = value.clone()
                seen.add(state[key].data_ptr())
            save_file(state, str(Path(output_path) / "model.safetensors"), metadata={"format": "pt"})
        else:
            torch.save(state, Path(output_path) / "pytorch_model.bin")

    def load_weights(self, folder: str | os.PathLike) -> None:
        """Strictly load this module's weights from ``folder`` (safetensors or weights-only ``pytorch_model.bin``)."""
        state: dict[str, Tensor]
        state, source = read_state_dict(folder)
        load_strict(self, state, str(source))

    @classmethod
    def load(cls, model_name_or_path: str | os.PathLike, subfolder: str = "", token: bool | str | None = None,
             cache_folder: str | None = None, revision: str | None = None, local_files_only: bool = False,
             init_defaults: dict[str, Any] | None = None, **kwargs: Any) -> Module:
        """Build the module from its config file (``init_defaults`` fill keys the config lacks); weights, if any
        file holds them, are loaded strictly."""
        hub = dict(subfolder=subfolder, token=token, cache_folder=cache_folder, revision=revision,
                   local_files_only=local_files_only)
        config = cls.load_config(model_name_or_path, **hub)
        for key, value in (init_defaults or {}).items():
            config.setdefault(key, value)
        module = cls(**config)
        folder = _module_folder(model_name_or_path, **hub)
        if any(os.path.lexists(folder / name) for name in ("model.safetensors", "pytorch_model.bin")):
            module.load_weights(folder)
        return module

    @classmethod
    def load_config(cls, model_name_or_path: str | os.PathLike, subfolder: str = "",
                    config_filename: str | None = None, token: bool | str | None = None,
                    cache_folder: str | None = None, revision: str | None = None,
                    local_files_only: bool = False) -> dict[str, Any]:
        """The module's saved config (``{}`` when the file is absent), old keys renamed per ``config_key_renames``."""
        path = cls.load_file_path(model_name_or_path, config_filename or cls.config_file_name, subfolder=subfolder,
                                  token=token, cache_folder=cache_folder, revision=revision,
                                  local_files_only=local_files_only)
        if path is None:
            return {}
        config = read_json_file(path)
        for old, new in cls.config_key_renames.items():
            if old in config and new not in config:
                config[new] = config.pop(old)
        return config

    @staticmethod
    def load_file_path(model_name_or_path: str | os.PathLike, filename: str, subfolder: str = "",
                       token: bool | str | None = None, cache_folder: str | None = None,
                       revision: str | None = None, local_files_only: bool = False) -> str | None:
        """Local path of ``subfolder/filename`` in a model folder or Hub repo, or None when there is no such file."""
        try:
            folder = _module_folder(model_name_or_path, subfolder, token, cache_folder, revision, local_files_only)
        except FileNotFoundError:
            return None
        path = folder / filename
        return str(path) if os.path.lexists(path) else None  # a FIFO or device link is found, then refused on read

    @staticmethod
    def load_dir_path(model_name_or_path: str | os.PathLike, subfolder: str = "", token: bool | str | None = None,
                      cache_folder: str | None = None, revision: str | None = None,
                      local_files_only: bool = False) -> str:
        """Local path of ``subfolder`` in a model folder or Hub repo (downloading the repo if needed)."""
        return str(_module_folder(model_name_or_path, subfolder, token, cache_folder, revision, local_files_only))

    @classmethod
    def load_torch_weights(cls, model_name_or_path: str | os.PathLike, subfolder: str = "",
                           token: bool | str | None = None, cache_folder: str | None = None,
                           revision: str | None = None, local_files_only: bool = False,
                           model: Module | None = None) -> Module | dict[str, Tensor]:
        """Read ``model.safetensors`` (else ``pytorch_model.bin``, weights only); load it strictly into ``model``
        and return ``model``, or return the state dict when ``model`` is None.

        Raises:
            ValueError: neither weights file exists.
        """
        folder = _module_folder(model_name_or_path, subfolder, token, cache_folder, revision, local_files_only)
        if not any((folder / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
            raise ValueError(f"Could not find 'model.safetensors' or 'pytorch_model.bin' in {model_name_or_path}.")
        state, source = read_state_dict(folder)
        if model is None:
            return state
        load_strict(model, state, str(source))
        return model

    def on_model_ready(self, model: Any) -> None:
        """Hook called once the owning model is built; the default does nothing."""

    # 5.x method names answered (with a FutureWarning) by modules that define only ``get_embedding_dimension``.
    _DEPRECATED_METHOD_RENAMES: dict[str, str] = {
        "get_sentence_embedding_dimension": "get_embedding_dimension",
        "get_word_embedding_dimension": "get_embedding_dimension",
    }

    def __getattr__(self, name: str) -> Any:
        new_name = Module._DEPRECATED_METHOD_RENAMES.get(name)
        if new_name is not None and any(new_name in cls.__dict__ for cls in type(self).__mro__):
            import warnings

            warnings.warn(f"The `{name}` method has been renamed to `{new_name}`.", FutureWarning, stacklevel=2)
            return getattr(self, new_name)
        return super().__getattr__(name)
