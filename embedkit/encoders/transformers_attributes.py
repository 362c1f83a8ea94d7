"""transformers' attribute names on embedkit's encoders, so that code written against ``model[0].auto_model`` reaches
the same modules: ``auto_model.embeddings.word_embeddings``, ``auto_model.encoder.layer[-1]``, and the layer
pruning that sentence-transformers documents for AdaptiveLayerLoss and layer-reduction distillation
(``auto_model.encoder.layer = auto_model.encoder.layer[:3]``).

Each class lists its names in ``transformers_attributes``, a literal table from transformers' name to embedkit's
attribute (``"word_embeddings": "tok"``) or, where transformers has a container embedkit does not (BERT's
``encoder`` holding ``layer``), to a table of that container's names. Reading a name gives embedkit's module itself
(a container is a :class:`TransformersView` built on each access, holding those modules under transformers' names);
assigning a name assigns embedkit's attribute. No module is registered twice: ``state_dict()`` and
``named_parameters()`` keep embedkit's names (``layers.0.attn.q.weight``); the weight-name tables in ``convert.py``
translate those.

Example:
    >>> from torch import nn
    >>> from embedkit.encoders import BertModel, EncoderConfig
    >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
    ...                               intermediate_size=32))
    >>> enc.embeddings.word_embeddings is enc.embed.tok, enc.encoder.layer is enc.layers
    (True, True)
    >>> enc.encoder.layer = enc.encoder.layer[:2]  # keep the first two layers
    >>> len(enc.layers)
    2
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

AttributeTable = dict[str, "str | dict[str, str]"]


def _resolve(owner: nn.Module, path: str) -> Any:
    value: Any = owner
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _assign(owner: nn.Module, path: str, value: Any) -> None:
    parent, _, name = path.rpartition(".")
    setattr(_resolve(owner, parent) if parent else owner, name, value)


class TransformersView(nn.Module):
    """A transformers container that embedkit does not have (BERT's ``encoder``, DistilBERT's ``transformer``):
    its children are the owner's modules under transformers' names, and assigning one assigns the owner's.

    Example:
        >>> owner = nn.Module()
        >>> owner.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
        >>> view = TransformersView(owner, {"layer": "layers"})
        >>> view.layer is owner.layers, sum(p.numel() for p in view.parameters())
        (True, 12)
        >>> view.layer = view.layer[:1]
        >>> len(owner.layers)
        1
    """

    def __init__(self, owner: nn.Module, names: dict[str, str]) -> None:
        super().__init__()
        self.__dict__["_owner"] = owner  # not a child: the view is a window on the owner, not part of it
        self.__dict__["_names"] = dict(names)
        for name, path in names.items():
            self._register(name, _resolve(owner, path))

    def _register(self, name: str, value: Any) -> None:
        if isinstance(value, nn.Parameter):
            self._parameters[name] = value
        elif isinstance(value, nn.Module):
            self._modules[name] = value

    def __setattr__(self, name: str, value: Any) -> None:
        path = self.__dict__.get("_names", {}).get(name)
        if path is None:
            super().__setattr__(name, value)
            return
        _assign(self.__dict__["_owner"], path, value)
        self._register(name, _resolve(self.__dict__["_owner"], path))

    def extra_repr(self) -> str:
        return f"transformers' names for {type(self.__dict__['_owner']).__name__}: {self.__dict__['_names']}"


def _alias(name: str, target: str | dict[str, str]) -> property:
    if isinstance(target, dict):
        return property(lambda self: TransformersView(self, target), doc=f"transformers' ``{name}``: {target}")
    return property(lambda self: _resolve(self, target), doc=f"transformers' ``{name}``: embedkit's ``{target}``")


def _absent(name: str) -> property:
    def missing(self: Any) -> Any:
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    return property(missing)


class TransformersAttributes:
    """Mixed into encoder and embedding classes: the names of ``transformers_attributes`` read and assign
    embedkit's modules (see the module docstring). A subclass with its own table drops its parents' names."""

    transformers_attributes: ClassVar[AttributeTable] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("transformers_attributes")
        if own is None:
            return
        inherited = {name for base in cls.__mro__[1:] for name in getattr(base, "transformers_attributes", {})}
        for name in inherited - set(own):
            setattr(cls, name, _absent(name))
        for name, target in own.items():
            setattr(cls, name, _alias(name, target))

    def __setattr__(self, name: str, value: Any) -> None:
        # nn.Module.__setattr__ registers a module value as a new child without calling a property's setter, so an
        # assignment to a transformers name is redirected here to embedkit's attribute
        target = type(self).transformers_attributes.get(name)
        if target is None:
            super().__setattr__(name, value)
        elif isinstance(target, dict):
            raise AttributeError(f"'{name}' is a view of {type(self).__name__}'s modules {target}; assign its "
                                 f"attributes (e.g. .{name}.{next(iter(target))} = ...) instead")
        else:
            _assign(self, target, value)  # type: ignore[arg-type]
