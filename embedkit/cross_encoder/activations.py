"""The activation a CrossEncoder applies to its scores: given by the caller, or named by a saved folder.

A saved ``activation_fn`` path is imported only when it names a ``torch.*`` class; any other path is reported and the
default (Sigmoid for one label, Identity otherwise) is used, as sentence-transformers does without
``trust_remote_code`` (with it, embedkit still imports nothing else).
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from embedkit.base.modules.module import import_torch_class

logger = logging.getLogger("embedkit.cross_encoder.model")  # where these messages were always logged


def resolve_saved_activation(path: str | None, trust_remote_code: bool) -> nn.Module | None:
    """The activation named by a saved ``activation_fn`` path, or None for the default.

    Example:
        >>> resolve_saved_activation("torch.nn.modules.activation.Tanh", False)
        Tanh()
        >>> resolve_saved_activation(None, False) is None
        True
    """
    if path is None:
        return None
    if isinstance(path, str) and path.startswith("torch."):
        return import_torch_class(path)()
    if trust_remote_code:
        logger.warning(f"Activation function path '{path}' is not imported: embedkit imports only torch.* activation "
                       "functions, also with `trust_remote_code=True`; using the default activation function instead.")
        return None
    logger.warning(
        f"Activation function path '{path}' is not trusted, using default activation function instead. Please load "
        "the CrossEncoder with `trust_remote_code=True` to allow loading custom activation functions via the "
        "configuration."
    )
    return None


def activation_instance(value: Any) -> nn.Module | None:
    """An activation given by the caller: a module instance, a class (instantiated) or a ``torch.*`` path.

    Raises:
        TypeError: anything else that is not callable.

    Example:
        >>> activation_instance(nn.Identity), activation_instance("torch.nn.Sigmoid")
        (Identity(), Sigmoid())
    """
    if value is None or isinstance(value, nn.Module):
        return value
    if isinstance(value, str):
        return import_torch_class(value)()
    if isinstance(value, type) and issubclass(value, nn.Module):
        return value()
    if callable(value):
        return value
    raise TypeError(f"activation_fn must be an nn.Module, a callable or a 'torch.*' class path, got {value!r}")
