"""Router: send each batch through one of several module pipelines, chosen by task ("query", "document", ...).

Asymmetric models use it: inference-free SPLADE (queries through a SparseStaticEmbedding, documents through the MLM
encoder + SpladePooling) or dense models with separate query and document encoders. ``encode_query`` and
``encode_document`` pass ``task``; in training, ``args.router_mapping`` (column -> route) does.

On disk (model root): ``router_config.json`` = ``{"types": {module_id: class}, "structure": {route: [module_id]},
"parameters": {"default_route", "allow_empty_key"[, "route_mappings"]}}`` and one folder per module, named
``{route}_{idx}_{ClassName}``. A module shared by several routes is saved once. The legacy ``Asym`` module kept
the same structure in ``config.json``.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from torch import nn

from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.module import Module, read_json_file, write_json_file

RouteKey = tuple[str | None, str | None]


def _modality_of(inputs: list[Any]) -> str | None:
    """``"text"`` when every input is a string or a pair of strings (the only modality embedkit embeds)."""
    if inputs and all(isinstance(x, str) or (isinstance(x, (tuple, list)) and all(isinstance(y, str) for y in x))
                      for x in inputs):
        return "text"
    return None


class Router(InputModule):
    """Route features through ``sub_modules[route]``, the route resolved from ``task`` (and modality).

    Resolution order, as in sentence-transformers: ``route_mappings[(task, modality)]``, ``[(task, None)]``,
    ``[(None, modality)]``, ``[(None, None)]``, then ``task`` or ``modality`` as a route name, then
    ``default_route``; otherwise a ValueError naming the routes.

    Args:
        sub_modules: route name -> list of modules applied in order (the first one tokenizes).
        default_route: route for calls without a task (with ``allow_empty_key`` and no default: the first route).
        allow_empty_key: allow calls without a task.
        route_mappings: ``{(task or None, modality or None): route}``.

    Example:
        >>> import torch
        >>> from tokenizers import Tokenizer, models, pre_tokenizers
        >>> from embedkit.sentence_transformer.modules.static_embedding import StaticEmbedding
        >>> tok = Tokenizer(models.WordLevel({"[UNK]": 0, "cat": 1}, unk_token="[UNK]"))
        >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
        >>> query = StaticEmbedding(tok, embedding_weights=torch.ones(2, 3))
        >>> document = StaticEmbedding(tok, embedding_weights=torch.zeros(2, 3))
        >>> router = Router.for_query_document([query], [document])
        >>> router(router.preprocess(["cat"], task="query"))["sentence_embedding"].tolist()
        [[1.0, 1.0, 1.0]]
        >>> router(router.preprocess(["cat"]))["sentence_embedding"].tolist()  # default route: document
        [[0.0, 0.0, 0.0]]
    """

    save_in_root = True
    config_file_name = "router_config.json"
    config_keys = ["default_route", "allow_empty_key", "route_mappings"]
    forward_kwargs = ("task", "modality")

    def __init__(self, sub_modules: dict[str, list[nn.Module]], default_route: str | None = None,
                 allow_empty_key: bool = True, route_mappings: dict[RouteKey, str] | None = None) -> None:
        super().__init__()
        if not sub_modules:
            raise ValueError("Router needs at least one route in sub_modules")
        empty = [route for route, modules in sub_modules.items() if not modules]
        if empty:
            raise ValueError(f"Router routes without modules: {empty}")
        if default_route is not None and default_route not in sub_modules:
            raise ValueError(f"default_route {default_route!r} is not a route; routes: {list(sub_modules)}")
        for key, route in (route_mappings or {}).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"route_mappings keys are (task, modality) tuples, got {key!r}")
            if route not in sub_modules:
                raise ValueError(f"route_mappings maps {key!r} to {route!r}, which is not a route; "
                                 f"routes: {list(sub_modules)}")
        self.sub_modules = nn.ModuleDict({route: nn.Sequential(*modules) for route, modules in sub_modules.items()})
        if allow_empty_key and default_route is None:
            default_route = next(iter(sub_modules))
        self.default_route = default_route
        self.allow_empty_key = allow_empty_key
        self.route_mappings: dict[RouteKey, str] = dict(route_mappings or {})

    @classmethod
    def for_query_document(cls, query_modules: list[nn.Module], document_modules: list[nn.Module],
                           default_route: str | None = "document", allow_empty_key: bool = True) -> Router:
        """A Router with a ``query`` and a ``document`` route (what ``encode_query``/``encode_document`` use)."""
        return cls({"query": query_modules, "document": document_modules}, default_route=default_route,
                   allow_empty_key=allow_empty_key)

    # ------------------------------------------------------------------ routing
    def resolve_route(self, task: str | None = None, modality: str | None = None) -> str:
        """The route name for ``task``/``modality`` (see the class docstring for the order).

        Raises:
            ValueError: no route matches (the message lists the routes and how to pick one).
        """
        for key in ((task, modality), (task, None), (None, modality), (None, None)):
            if key in self.route_mappings:
                return self.route_mappings[key]
        if task is not None and task in self.sub_modules:
            return task
        if modality is not None and modality in self.sub_modules:
            return modality
        if task is not None:
            raise ValueError(f"no Router route for task {task!r}; routes: {list(self.sub_modules)}")
        if self.default_route is None:
            hint = ("set args.router_mapping (column -> route) in the training arguments" if self.training
                    else "pass task=... (or use encode_query / encode_document)")
            raise ValueError(f"the Router has no default route and no task was given; {hint}. "
                             f"Routes: {list(self.sub_modules)}")
        return self.default_route

    def preprocess(self, inputs: list[Any], prompt: str | None = None, task: str | None = None,
                   modality: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Tokenize with the first module of the resolved route; the features remember ``task`` for forward."""
        inputs = list(inputs)
        if inputs and isinstance(inputs[0], dict) and task is None:  # legacy: [{"query": text}, ...]
            keys = {key for item in inputs for key in item}
            if len(keys) != 1:
                raise ValueError(f"inputs given as dicts must all use one task key, got {sorted(keys)}")
            task = keys.pop()
            inputs = [item[task] for item in inputs]
        if modality is None:
            modality = _modality_of(inputs)
        route = self.resolve_route(task, modality)
        features = self.sub_modules[route][0].preprocess(inputs, prompt=prompt, **kwargs)
        features["task"] = task
        if modality is not None:
            features["modality"] = modality
        return features

    tokenize = preprocess

    def forward(self, features: dict[str, Any], task: str | None = None, modality: str | None = None,
                **kwargs: Any) -> dict[str, Any]:
        task = features.get("task") if task is None else task
        modality = features.get("modality") if modality is None else modality
        kwargs.update(task=task, modality=modality)
        for module in self.sub_modules[self.resolve_route(task, modality)]:
            wanted = getattr(module, "forward_kwargs", ())
            features = module(features, **{k: v for k, v in kwargs.items() if k in wanted})
        return features

    # ------------------------------------------------------------------ model-level properties
    def _input_modules(self) -> list[nn.Module]:
        return [modules[0] for modules in self.sub_modules.values()]

    @property
    def tokenizer(self) -> Any:
        return next((m.tokenizer for m in self._input_modules() if getattr(m, "tokenizer", None) is not None), None)

    @property
    def max_seq_length(self) -> int | None:
        lengths = {m.max_seq_length for m in self._input_modules() if getattr(m, "max_seq_length", None)}
        return max(lengths) if lengths else None

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        for module in self._input_modules():
            if hasattr(module, "max_seq_length"):
                module.max_seq_length = value

    def get_embedding_dimension(self) -> int | None:
        for modules in self.sub_modules.values():
            for module in reversed(list(modules)):
                method = getattr(module, "get_embedding_dimension", None)
                if callable(method) and method() is not None:
                    return method()
        return None

    # ------------------------------------------------------------------ save / load
    def save(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        from embedkit.module_types import SAVED_TYPE

        output_path = Path(output_path)
        ids: dict[int, str] = {}
        types: dict[str, str] = {}
        structure: dict[str, list[str]] = {}
        for route, modules in self.sub_modules.items():
            structure[route] = []
            for idx, module in enumerate(modules):
                if id(module) not in ids:
                    type_name = SAVED_TYPE.get(type(module))
                    if type_name is None:
                        raise ValueError(f"cannot save Router route {route!r}: {type(module).__name__} has no "
                                         "sentence-transformers counterpart")
                    module_id = f"{route}_{idx}_{type(module).__name__}"
                    ids[id(module)] = module_id
                    types[module_id] = type_name
                    (output_path / module_id).mkdir(parents=True, exist_ok=True)
                    module.save(output_path / module_id, safe_serialization=safe_serialization)
                structure[route].append(ids[id(module)])
        parameters: dict[str, Any] = {"default_route": self.default_route, "allow_empty_key": self.allow_empty_key}
        if self.route_mappings:  # sentence-transformers 5.x does not know the key; write it only when used
            parameters["route_mappings"] = {str(key): route for key, route in self.route_mappings.items()}
        write_json_file(output_path / self.config_file_name,
                        {"types": types, "structure": structure, "parameters": parameters})

    @classmethod
    def load(cls, path: str | os.PathLike, **hub_kwargs: Any) -> Router:
        """Read ``router_config.json`` (or a legacy ``Asym`` ``config.json``) and every module it names.

        Raises:
            ValueError: a module folder outside the model folder, an unknown module type, a route naming a module
                that is not listed, or malformed ``route_mappings``.
        """
        from embedkit.model_folder import load_module, safe_subfolder

        path = Path(path)
        config_path = path / cls.config_file_name
        if not config_path.is_file():
            config_path = path / "config.json"
        config = read_json_file(config_path)
        if not isinstance(config.get("types"), dict) or not isinstance(config.get("structure"), dict):
            raise ValueError(f"{config_path}: a Router config needs 'types' and 'structure' objects")
        modules = {module_id: load_module(type_name, safe_subfolder(path, module_id, str(config_path)),
                                          str(config_path), **hub_kwargs)
                   for module_id, type_name in config["types"].items()}
        sub_modules: dict[str, list[nn.Module]] = {}
        for route, module_ids in config["structure"].items():
            missing = [m for m in module_ids if m not in modules]
            if missing:
                raise ValueError(f"{config_path}: route {route!r} names modules not in 'types': {missing}")
            sub_modules[route] = [modules[m] for m in module_ids]
        parameters = dict(config.get("parameters") or {})
        unknown = set(parameters) - set(cls.config_keys)
        if unknown:
            raise ValueError(f"{config_path}: unknown Router parameters {sorted(unknown)}")
        mappings: dict[RouteKey, str] = {}
        for key, route in (parameters.pop("route_mappings", None) or {}).items():
            try:
                parsed = ast.literal_eval(key)
            except (ValueError, SyntaxError) as exc:
                raise ValueError(f"{config_path}: cannot read route_mappings key {key!r}") from exc
            if not (isinstance(parsed, tuple) and len(parsed) == 2
                    and all(x is None or isinstance(x, str) for x in parsed)):
                raise ValueError(f"{config_path}: route_mappings key {key!r} is not a (task, modality) pair")
            mappings[parsed] = route
        return cls(sub_modules, route_mappings=mappings or None, **parameters)
