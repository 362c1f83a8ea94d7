"""State dicts saved by sentence-transformers load into embedkit's models.

sentence-transformers names a model's weights after transformers' modules:
``0.model.embeddings.word_embeddings.weight`` (6.x), ``0.auto_model.embeddings.word_embeddings.weight`` (5.x),
``0.model.bert.encoder.layer.0...`` / ``model.classifier.weight`` for CrossEncoders. embedkit's modules have their
own names (``0.auto_model.embed.tok.weight``; the tables in :mod:`embedkit.encoders.convert`). ``load_state_dict``
accepts either: before a module loads, keys under its prefix that it does not have are looked up as transformers
names behind one of sentence-transformers' wrappers and renamed to the module's own. A key that is neither stays as
it is, so strict loading still reports it; a tied duplicate that transformers saves twice (a masked-LM decoder that
is the word embeddings) is dropped when it equals the tensor it duplicates. ``state_dict()`` keeps embedkit's names.

Example:
    >>> state = {"model.embeddings.word_embeddings.weight": 1, "model.unknown": 2}
    >>> rename_transformers_keys(state, "", ["auto_model.embed.tok.weight"],
    ...                          {"auto_model.embed.tok.weight": "embeddings.word_embeddings.weight"}.get,
    ...                          ("model.", "auto_model."))
    >>> sorted(state)
    ['auto_model.embed.tok.weight', 'model.unknown']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


def rename_transformers_keys(state_dict: dict[str, Any], prefix: str, own_keys: Iterable[str],
                             hf_name: Callable[[str], str | None], wrappers: tuple[str, ...]) -> None:
    """Rename, in ``state_dict``, the keys ``prefix + wrapper + <transformers name>`` to ``prefix + <own key>``
    (``hf_name(own key)`` gives the transformers name). Keys the module has are left alone, and so are keys under
    ``prefix`` that already use embedkit's names: only a state dict in sentence-transformers' naming is renamed."""
    own = list(own_keys)
    own_set = set(own)
    keys = [k for k in state_dict if k.startswith(prefix) and k[len(prefix):] not in own_set]
    if not keys:
        return
    by_hf_name = {name: key for key in own if (name := hf_name(key)) is not None}
    renamed: dict[str, Any] = {}
    leftover = []
    for key in keys:
        rest = key[len(prefix):]
        target = next((by_hf_name[rest[len(w):]] for w in wrappers
                       if rest.startswith(w) and rest[len(w):] in by_hf_name), None)
        if target is None:
            leftover.append(key)
        elif prefix + target not in state_dict:
            renamed[prefix + target] = state_dict.pop(key)
    state_dict.update(renamed)
    for key in leftover:  # a tied weight transformers saves under a second name: drop the exact duplicate
        value = state_dict[key]
        if isinstance(value, torch.Tensor) and any(
                isinstance(v, torch.Tensor) and v.shape == value.shape and torch.equal(v, value)
                for v in renamed.values()):
            del state_dict[key]


class LoadsSentenceTransformersNames:
    """Mixed into the modules whose weights sentence-transformers names after transformers' modules (the Transformer
    modules, CrossEncoder): their ``load_state_dict`` also takes those names (see the module docstring)."""

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        names = transformers_names(self)
        if names is not None:
            rename_transformers_keys(state_dict, prefix, self.state_dict().keys(), *names)  # type: ignore[attr-defined]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]


def transformers_names(module: Any) -> tuple[Callable[[str], str | None], tuple[str, ...]] | None:
    """(own key -> transformers name, sentence-transformers' wrappers) for ``module``, or None when it has no
    transformers naming (a causal-LM or classifier task inside a Transformer module, a family without tables)."""
    from embedkit.encoders.convert import TO_HF, get_mapped_key

    network = getattr(module, "model", None)
    if hasattr(network, "hf_parameter_name") and not hasattr(module, "auto_model"):  # a CrossEncoder's classifier
        return (lambda key: network.hf_parameter_name(key[len("model."):]) if key.startswith("model.") else None,
                ("0.model.", "model."))
    if hasattr(module, "hf_parameter_name"):  # a masked-LM Transformer (SPLADE)
        return module.hf_parameter_name, ("model.", "auto_model.")
    config = getattr(module, "config", None)
    model_type = getattr(config, "model_type", None)
    if getattr(module, "transformer_task", None) == "feature-extraction" and model_type in TO_HF:
        table = TO_HF[config.model_type]
        return (lambda key: get_mapped_key(key[len("auto_model."):], table) if key.startswith("auto_model.") else None,
                ("model.", "auto_model."))
    return None
