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
import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

from embedkit.base.modules.input_module import InputModule
from embedkit.base.modules.module import read_json_file, write_json_file

RouteKey = tuple[Any, Any]

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


def _sorted_modality(modality: Any) -> Any:
    """Tuple modalities compare as sorted tuples (``("text", "image")`` == ``("image", "text")``)."""
    return tuple(sorted(modality)) if isinstance(modality, tuple) else modality


class _RouterForwardKwargs:
    """``Router.forward_kwargs``: ``{"task", "modality"}`` on the class; on an instance, also every keyword argument a
    routed module takes, so that the model hands them to the Router, which passes each module its own."""

    BASE = frozenset({"task", "modality"})

    def __get__(self, router: Any, owner: type | None = None) -> set[str]:
        names = set(self.BASE)
        if router is not None:
            for modules in router.sub_modules.values():
                for module in modules:
                    names.update(getattr(module, "forward_kwargs", None) or ())
        return names


class Router(InputModule):
    """Route features through ``sub_modules[route]``, the route resolved from ``task`` (and modality).

    Resolution order, as in sentence-transformers: ``route_mappings[(task, modality)]``, ``[(task, None)]``,
    ``[(None, modality)]``, ``[(None, None)]``, then ``task`` or ``modality`` as a route name, then
    ``default_route``. A task that matches nothing, or no task and no default route, raises a ValueError
    listing the routes.

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
    def __init__(self, sub_modules: dict[str, list[nn.Module]] | None, default_route: str | None = None,
                 allow_empty_key: bool = True, route_mappings: dict[RouteKey, str] | None = None) -> None:
        super().__init__()
        if not sub_modules:
            raise ValueError("The routes dictionary cannot be empty.")
        if default_route is not None and default_route not in sub_modules:
            raise ValueError(f"Default route '{default_route}' not found in route keys: {list(sub_modules)}")
        for key, route in (route_mappings or {}).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"route_mappings keys are (task, modality) tuples, got {key!r}")
            if route not in sub_modules:
                raise ValueError(f"route_mappings contains mapping to '{route}' which is not in sub_modules. "
                                 f"Available routes: {list(sub_modules)}")
        self.sub_modules = nn.ModuleDict({route: nn.Sequential(*modules) for route, modules in sub_modules.items()})
        if allow_empty_key and default_route is None:
            default_route = next(iter(sub_modules))
        self.default_route = default_route
        self.allow_empty_key = allow_empty_key
        self.route_mappings: dict[RouteKey, str] = {
            (task, _sorted_modality(modality)): route for (task, modality), route in (route_mappings or {}).items()
        }

    @classmethod
    def for_query_document(cls, query_modules: list[nn.Module], document_modules: list[nn.Module],
                           default_route: str | None = "document", allow_empty_key: bool = True) -> Router:
        """A Router with a ``query`` and a ``document`` route (what ``encode_query``/``encode_document`` use)."""
        return cls({"query": query_modules, "document": document_modules}, default_route=default_route,
                   allow_empty_key=allow_empty_key)

    forward_kwargs = _RouterForwardKwargs()

    @property
    def modalities(self) -> list[Any]:
        """Union of the modalities of every route's input module."""
        found = {m for modules in self.sub_modules.values() for m in getattr(modules[0], "modalities", ["text"])}
        return sorted(found, key=str)

    # ------------------------------------------------------------------ routing
    def _get_routes_string(self) -> str:
        """Human-readable list of the ways to reach a route, for error messages."""
        from embedkit.base.modality import format_modality

        routes = [f"task={name!r}" for name in self.sub_modules]
        for task, modality in self.route_mappings:
            if modality is None:
                routes.append(f"task={task!r}")
            elif task is None:
                routes.append(f"modality={format_modality(modality)!r}")
            else:
                routes.append(f"(task={task!r}, modality={format_modality(modality)!r})")
        if len(routes) <= 1:
            return "".join(routes)
        return ", ".join(routes[:-1]) + " and " + routes[-1]

    def _resolve_route_name(self, task: str | None = None, modality: Any = None) -> str | None:
        """The route named by ``route_mappings`` or by ``task``/``modality`` themselves; None when nothing matches
        and no task was given.

        Raises:
            ValueError: a task was given and no route matches it.
        """
        modality = _sorted_modality(modality)
        for key in ((task, modality), (task, None), (None, modality), (None, None)):
            if key in self.route_mappings:
                return self.route_mappings[key]
        if task and task in self.sub_modules:
            return task
        if modality and isinstance(modality, str) and modality in self.sub_modules:
            return modality
        if task is not None:
            raise ValueError(f"No route found for task type '{task}'. Available routes: {self._get_routes_string()}")
        return None

    def _resolve_route(self, task: str | None = None, modality: Any = None) -> str:
        """:meth:`_resolve_route_name`, falling back to ``default_route``.

        Raises:
            ValueError: no route matches (the message lists the routes and how to pick one).
        """
        from embedkit.base.modality import format_modality

        route = self._resolve_route_name(task=task, modality=modality)
        if route is None:
            route = self.default_route
        if route is None:
            if self.training:
                raise ValueError("You must provide a `router_mapping` argument on the training arguments, "
                                 "or set a default route in the `Router` module.")
            shown = format_modality(modality) if modality is not None else None
            raise ValueError(
                f"Could not determine route for task={task!r}, modality={shown!r}. "
                f"Available routes: {self._get_routes_string()}. Consider specifying the `task` parameter in "
                "`model.encode`, or setting a default route in the `Router`."
            )
        if route not in self.sub_modules:
            raise ValueError(f"Resolved route '{route}' not found in sub_modules. "
                             f"Available submodule keys: {list(self.sub_modules)}")
        return route

    def resolve_route(self, task: str | None = None, modality: Any = None) -> str:
        """The route name for ``task``/``modality`` (see the class docstring for the order).

        Raises:
            ValueError: no route matches (the message lists the routes and how to pick one).
        """
        return self._resolve_route(task=task, modality=modality)

    def preprocess(self, inputs: list[Any], prompt: str | None = None, task: str | None = None,
                   modality: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Tokenize with the first module of the resolved route; the features remember ``task`` (and
        ``modality``) for forward.

        Inputs given as ``[{"query": text}, ...]`` (the 5.x ``Asym`` style, keys that are not modality names) set
        the task from their single key.

        Raises:
            ValueError: such dict inputs use more than one key, or no route matches.
        """
        from embedkit.base.modality import infer_batch_modality
        from embedkit.base.modality_types import MODALITY_TO_PROCESSOR_ARG

        inputs = list(inputs)
        if inputs and isinstance(inputs[0], dict) and task is None:
            keys = {key for item in inputs for key in item}
            if not keys & set(MODALITY_TO_PROCESSOR_ARG):
                if len(keys) > 1:
                    raise ValueError(
                        "You cannot pass a list of dictionaries with different task types. Please ensure all "
                        "dictionaries have the same task type key, or pass non-dictionary inputs while providing "
                        "the `task` argument."
                    )
                task = keys.pop()
                inputs = [item[task] for item in inputs]
        if modality is None and inputs:
            try:
                modality = infer_batch_modality(inputs, supported_modalities=self.modalities)
            except (ValueError, TypeError):
                modality = None
        route = self._resolve_route(task, modality)
        features = self.sub_modules[route][0].preprocess(inputs, prompt=prompt, task=task, **kwargs)
        features["task"] = task
        if modality is not None:
            features["modality"] = modality
        return features

    def forward(self, features: dict[str, Any], task: str | None = None, modality: Any = None,
                **kwargs: Any) -> dict[str, Any]:
        """Apply the modules of the resolved route in order; each gets the keyword arguments it lists in its
        ``forward_kwargs`` (``task`` and ``modality`` included)."""
        task = features.get("task") if task is None else task
        modality = features.get("modality") if modality is None else modality
        route = self._resolve_route(task, modality)
        kwargs.update(task=task, modality=modality)
        for module in self.sub_modules[route]:
            wanted = getattr(module, "forward_kwargs", None) or ()
            features = module(features, **{k: v for k, v in kwargs.items() if k in wanted})
        return features

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)

    def extra_repr(self) -> str:
        parts = []
        if self.default_route is not None:
            parts.append(f"default_route={self.default_route!r}")
        if self.route_mappings:
            parts.append(f"route_mappings={self.route_mappings}")
        return ", ".join(parts)

    def on_model_ready(self, model: Any) -> None:
        """Pass the hook on to every routed module (the model itself only sees the Router)."""
        for modules in self.sub_modules.values():
            for module in modules:
                hook = getattr(module, "on_model_ready", None)
                if callable(hook):
                    hook(model)

    # ------------------------------------------------------------------ model-level properties
    def _input_modules(self) -> list[nn.Module]:
        return [modules[0] for modules in self.sub_modules.values() if len(modules)]

    @property
    def tokenizer(self) -> Any:
        return next((m.tokenizer for m in self._input_modules() if getattr(m, "tokenizer", None) is not None), None)

    @property
    def max_seq_length(self) -> int | None:
        lengths = {m.max_seq_length for m in self._input_modules() if getattr(m, "max_seq_length", None)}
        if len(lengths) > 1:
            _warn_once(f"Different max_seq_lengths detected: {lengths}. Using the maximum value.")
        return max(lengths) if lengths else None

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        targets = [m for m in self._input_modules() if hasattr(m, "max_seq_length")]
        if not targets:
            logger.warning("No modules have a max_seq_length attribute to set.")
            return
        for module in targets:
            module.max_seq_length = value

    def get_embedding_dimension(self) -> int | None:
        """The output dimension of the first route (its last module that reports one); warns when routes differ."""
        dims = []
        for modules in self.sub_modules.values():
            for module in reversed(list(modules)):
                method = next((getattr(module, name) for name in ("get_embedding_dimension",
                               "get_sentence_embedding_dimension", "get_word_embedding_dimension")
                               if callable(getattr(module, name, None))), None)
                if method is not None:
                    dims.append(method())
                    break
        if not dims:
            return None
        if len(set(dims)) > 1:
            _warn_once(f"Different embedding dimensions detected across routes: {set(dims)}. Using the first value.")
        return dims[0]

    get_sentence_embedding_dimension = get_embedding_dimension

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
                    # A module embedkit does not know is written under its own class path (loading it back
                    # is refused: embedkit never imports classes named by a model folder).
                    type_name = SAVED_TYPE.get(type(module), f"{type(module).__module__}.{type(module).__qualname__}")
                    module_id = f"{route}_{idx}_{type(module).__name__}"
                    ids[id(module)] = module_id
                    types[module_id] = type_name
                    (output_path / module_id).mkdir(parents=True, exist_ok=True)
                    try:
                        module.save(str(output_path / module_id), safe_serialization=safe_serialization)
                    except TypeError:  # a module whose save() takes only the path
                        module.save(str(output_path / module_id))
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
            ValueError: a module folder outside the model folder or equal to the Router's own, an unknown module
                type, a route naming a module that is not listed, or malformed ``route_mappings``.
        """
        from embedkit.model_folder import load_module, safe_subfolder

        path = Path(path)
        config_path = path / cls.config_file_name
        if not config_path.exists():
            config_path = path / "config.json"
        config = read_json_file(config_path)
        if not isinstance(config.get("types"), dict) or not isinstance(config.get("structure"), dict):
            raise ValueError(f"{config_path}: a Router config needs 'types' and 'structure' objects")
        modules = {}
        for module_id, type_name in config["types"].items():
            folder = safe_subfolder(path, module_id, str(config_path))
            if folder == path.resolve():  # "." or "": the Router itself again, loading without end
                raise ValueError(f"{config_path}: module path {module_id!r} is the Router's own folder; each "
                                 "sub-module needs a folder of its own")
            modules[module_id] = load_module(type_name, folder, str(config_path), **hub_kwargs)
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


# The ST 5.x name of the same module (``models.Asym``).
Asym = Router
