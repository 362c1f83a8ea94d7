"""How a loss names the callables it was configured with in ``get_config_dict()`` (written to the model card).

The rules follow sentence-transformers so that config dicts compare equal: a function gives its ``__name__``, a
:func:`functools.partial` gives ``name(key=value, ...)``, a model's bound ``similarity`` method gives the function
it dispatches to, and a module object (``loss_fct=nn.MSELoss()``) gives its dotted class path (:func:`fullname`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


def fullname(obj: Any) -> str:
    """Dotted path of ``obj``'s class (or of ``obj`` itself if it is a class); builtins give the bare name.

    Example:
        >>> import torch
        >>> fullname(torch.nn.MSELoss())
        'torch.nn.modules.loss.MSELoss'
    """
    cls = obj if inspect.isclass(obj) else type(obj)
    module = cls.__module__
    if module is None or module == str.__module__:
        return cls.__name__
    return f"{module}.{cls.__name__}"


def similarity_fct_name(similarity_fct: Callable[..., Any]) -> str:
    """Readable name of a scoring callable.

    Example:
        >>> from embedkit.util import cos_sim
        >>> similarity_fct_name(cos_sim)
        'cos_sim'
    """
    if isinstance(similarity_fct, functools.partial):
        name = getattr(similarity_fct.func, "__name__", type(similarity_fct.func).__name__)
        args = ", ".join(f"{key}={value!r}" for key, value in similarity_fct.keywords.items())
        return f"{name}({args})" if args else name
    name = getattr(similarity_fct, "__name__", type(similarity_fct).__name__)
    owner = getattr(similarity_fct, "__self__", None)
    if name in ("similarity", "similarity_pairwise") and hasattr(owner, "similarity_fn_name"):
        from embedkit.util import SimilarityFunction

        resolve = (SimilarityFunction.to_similarity_fn if name == "similarity"
                   else SimilarityFunction.to_similarity_pairwise_fn)
        return resolve(owner.similarity_fn_name).__name__
    metric_config = getattr(similarity_fct, "get_config_dict", None)
    if metric_config is not None:
        args = ", ".join(f"{key}={value!r}" for key, value in metric_config().items())
        return f"{name}({args})"
    return name
