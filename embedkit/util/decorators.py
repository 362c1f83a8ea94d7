"""Decorators that keep deprecated argument names and call forms working while pointing users to the new ones.

Every rename logs a warning on ``embedkit.util.decorators`` and forwards the value under its new name; when a
caller passes both the old and the new name, the new one wins.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

__all__ = [
    "cross_encoder_init_args_decorator",
    "cross_encoder_predict_rank_args_decorator",
    "deprecated_kwargs",
    "save_to_hub_args_decorator",
    "transformer_kwargs_decorator",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def renamed_message(old: str, new: str) -> str:
    """The warning for an argument renamed from ``old`` to ``new`` (sentence-transformers' text).

    Example:
        >>> renamed_message("sentences", "inputs")
        'The `sentences` argument was renamed and is now deprecated. Please use `inputs` instead.'
    """
    return f"The `{old}` argument was renamed and is now deprecated. Please use `{new}` instead."


def _rename(kwargs: dict[str, Any], old: str, new: str, message: str) -> None:
    """Move ``kwargs[old]`` to ``kwargs[new]`` (unless ``new`` is already given) and log ``message``."""
    if old not in kwargs:
        return
    value = kwargs.pop(old)
    logger.warning(message)
    kwargs.setdefault(new, value)


def deprecated_kwargs(**renames: str) -> Callable[[F], F]:
    """Decorator factory renaming deprecated keyword arguments (``old_name="new_name"``) before the call.

    A caller using an old name gets a deprecation warning; if it passes the new name as well, the old
    value is dropped.

    Example:
        >>> @deprecated_kwargs(dim="embedding_dimension")
        ... def build(embedding_dimension: int) -> int:
        ...     return embedding_dimension
        >>> build(embedding_dimension=8)
        8
    """

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                _rename(kwargs, old, new, renamed_message(old, new))
            return func(*args, **kwargs)

        return cast("F", wrapper)

    return decorator


_TRANSFORMER_RENAMES = {
    "model_args": "model_kwargs",
    "tokenizer_args": "processor_kwargs",
    "config_args": "config_kwargs",
}


def transformer_kwargs_decorator(func: F) -> F:
    """Decorator for ``Transformer.__init__`` accepting its legacy keyword arguments.

    ``model_args`` -> ``model_kwargs``, ``tokenizer_args`` -> ``processor_kwargs``, ``config_args`` ->
    ``config_kwargs``; a non-``None`` ``cache_dir`` is copied into each of the three dicts (without
    overriding a ``cache_dir`` already there).

    Example:
        >>> @transformer_kwargs_decorator
        ... def init(**kwargs):
        ...     return kwargs
        >>> init(model_kwargs={"a": 1})
        {'model_kwargs': {'a': 1}}
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for old, new in _TRANSFORMER_RENAMES.items():
            _rename(kwargs, old, new, f"The Transformer `{old}` argument was renamed and is now deprecated, "
                                      f"please use `{new}` instead.")
        if "cache_dir" in kwargs:
            cache_dir = kwargs.pop("cache_dir")
            if cache_dir is not None:
                logger.warning(
                    "The Transformer `cache_dir` argument is deprecated. Please pass `cache_dir` via "
                    "`model_kwargs`, `processor_kwargs`, and/or `config_kwargs` instead."
                )
                for name in ("model_kwargs", "processor_kwargs", "config_kwargs"):
                    merged = dict(kwargs.get(name) or {})
                    merged.setdefault("cache_dir", cache_dir)
                    kwargs[name] = merged
        return func(*args, **kwargs)

    return cast("F", wrapper)


# CrossEncoder(model_name_or_path, num_labels, max_length, activation_fn, device) was the positional order
# up to sentence-transformers 5.3; everything after the model name is keyword-only now.
_CE_LEGACY_POSITIONAL = ("num_labels", "max_length", "activation_fn", "device")
_CE_INIT_RENAMES = {
    "model_name": "model_name_or_path",
    "automodel_args": "model_kwargs",
    "tokenizer_args": "processor_kwargs",
    "tokenizer_kwargs": "processor_kwargs",
    "config_args": "config_kwargs",
    "cache_dir": "cache_folder",
    "default_activation_function": "activation_fn",
}


def cross_encoder_init_args_decorator(func: F) -> F:
    """Decorator for ``CrossEncoder.__init__`` accepting its legacy arguments.

    Positional ``num_labels``, ``max_length``, ``activation_fn`` and ``device`` after the model name become
    keywords (an explicit keyword wins); renamed keywords (``model_name``, ``automodel_args``,
    ``tokenizer_args``, ``tokenizer_kwargs``, ``config_args``, ``cache_dir``,
    ``default_activation_function``) are forwarded under their new names, and ``classifier_dropout`` goes
    into ``config_kwargs``.

    Example:
        >>> @cross_encoder_init_args_decorator
        ... def init(self, model_name_or_path, **kwargs):
        ...     return model_name_or_path, kwargs
        >>> init(None, "model", num_labels=2)
        ('model', {'num_labels': 2})
    """

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) > 1:
            for name, value in zip(_CE_LEGACY_POSITIONAL, args[1:]):
                logger.warning(
                    f"Passing `{name}` as a positional argument to CrossEncoder is deprecated. "
                    f"Please use `{name}={value!r}` as a keyword argument instead."
                )
                kwargs.setdefault(name, value)
            args = args[:1]
        for old, new in _CE_INIT_RENAMES.items():
            _rename(kwargs, old, new, f"The CrossEncoder `{old}` argument was renamed and is now deprecated. "
                                      f"Please use `{new}` instead.")
        if "classifier_dropout" in kwargs:
            dropout = kwargs.pop("classifier_dropout")
            logger.warning(
                "The CrossEncoder `classifier_dropout` argument is deprecated. Please use "
                f"`config_kwargs={{'classifier_dropout': {dropout}}}` instead."
            )
            config_kwargs = kwargs.get("config_kwargs")
            if config_kwargs is None:
                kwargs["config_kwargs"] = {"classifier_dropout": dropout}
            else:
                config_kwargs["classifier_dropout"] = dropout
        return func(self, *args, **kwargs)

    return cast("F", wrapper)


def cross_encoder_predict_rank_args_decorator(func: F) -> F:
    """Decorator for ``CrossEncoder.predict`` / ``CrossEncoder.rank`` accepting their legacy keywords.

    ``sentences`` -> ``inputs`` and ``activation_fct`` -> ``activation_fn`` are renamed; ``num_workers`` is
    dropped (no effect); ``convert_to_numpy`` / ``convert_to_tensor`` are dropped when the wrapped method no
    longer declares them; ``apply_softmax`` is dropped for ``rank``. Each warning names the wrapped method.

    Example:
        >>> @cross_encoder_predict_rank_args_decorator
        ... def rank(self, query=None, top_k=None):
        ...     return query, top_k
        >>> rank(None, query="q", top_k=2)
        ('q', 2)
    """
    method = func.__name__
    declared = inspect.signature(func).parameters
    dropped_convert = [name for name in ("convert_to_numpy", "convert_to_tensor") if name not in declared]

    @deprecated_kwargs(sentences="inputs", activation_fct="activation_fn")
    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if "num_workers" in kwargs:
            kwargs.pop("num_workers")
            logger.warning(
                f"The CrossEncoder.{method} `num_workers` argument is deprecated and has no effect. "
                "It will be removed in a future version."
            )
        if method == "rank" and "apply_softmax" in kwargs:
            kwargs.pop("apply_softmax")
            logger.warning(
                "The CrossEncoder.rank `apply_softmax` argument is deprecated and has no effect, as `rank` only "
                "supports models with `num_labels=1`. It will be removed in a future version."
            )
        for name in dropped_convert:
            if name in kwargs:
                kwargs.pop(name)
                logger.warning(
                    f"The CrossEncoder.{method} `{name}` argument is deprecated and has no effect, as `{method}` "
                    "always returns Python floats. It will be removed in a future version."
                )
        return func(self, *args, **kwargs)

    return cast("F", wrapper)


def save_to_hub_args_decorator(func: F) -> F:
    """Decorator for ``save_to_hub``: ``repo_name`` becomes ``repo_id``, and old positional calls keep working.

    ``token`` was inserted as the third parameter, so when two or more positional arguments are given a
    ``None`` is slotted in at that position.

    Example:
        >>> @save_to_hub_args_decorator
        ... def save_to_hub(self, *args, **kwargs):
        ...     return args, kwargs
        >>> save_to_hub(None, "repo", "org", True)
        (('repo', 'org', None, True), {})
    """

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        repo_name = kwargs.pop("repo_name", None)
        if repo_name and "repo_id" not in kwargs:
            logger.warning(
                "Providing a `repo_name` keyword argument to `save_to_hub` is deprecated. Please use `repo_id` instead."
            )
            kwargs["repo_id"] = repo_name
        if len(args) >= 2:
            args = (*args[:2], None, *args[2:])
        return func(self, *args, **kwargs)

    return cast("F", wrapper)
