"""sentence-transformers 5.x's ``cross_encoder.util``: the CrossEncoder argument shims under their old module path.

:func:`cross_encoder_predict_rank_args_decorator` is the shared one from :mod:`embedkit.util.decorators`.
:func:`cross_encoder_init_args_decorator` here keeps the 5.x renames (``tokenizer_args`` becomes
``tokenizer_kwargs``, which :class:`~embedkit.cross_encoder.CrossEncoder` still accepts); the 6.x variant, which
forwards it as ``processor_kwargs``, lives in :mod:`embedkit.util.decorators`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from embedkit.util.decorators import cross_encoder_predict_rank_args_decorator

__all__ = ["cross_encoder_init_args_decorator", "cross_encoder_predict_rank_args_decorator"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_RENAMES_5X = {
    "model_name": "model_name_or_path",
    "automodel_args": "model_kwargs",
    "tokenizer_args": "tokenizer_kwargs",
    "config_args": "config_kwargs",
    "cache_dir": "cache_folder",
    "default_activation_function": "activation_fn",
}


def cross_encoder_init_args_decorator(func: F) -> F:
    """Decorator for a CrossEncoder ``__init__`` accepting the pre-4.0 keyword names (5.x mapping).

    Each renamed keyword is forwarded under its new name with a warning (an explicit new name wins);
    ``classifier_dropout`` moves into ``config_kwargs``.

    Example:
        >>> @cross_encoder_init_args_decorator
        ... def init(self, **kwargs):
        ...     return kwargs
        >>> init(None, tokenizer_args={"model_max_length": 8})
        {'tokenizer_kwargs': {'model_max_length': 8}}
    """

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        for old, new in _RENAMES_5X.items():
            if old in kwargs:
                value = kwargs.pop(old)
                logger.warning(f"The CrossEncoder `{old}` argument was renamed and is now deprecated, please use "
                               f"`{new}` instead.")
                kwargs.setdefault(new, value)
        if "classifier_dropout" in kwargs:
            dropout = kwargs.pop("classifier_dropout")
            logger.warning("The CrossEncoder `classifier_dropout` argument is deprecated. Please use "
                           f"`config_kwargs={{'classifier_dropout': {dropout}}}` instead.")
            if kwargs.get("config_kwargs") is None:
                kwargs["config_kwargs"] = {}
            kwargs["config_kwargs"]["classifier_dropout"] = dropout
        return func(self, *args, **kwargs)

    return cast("F", wrapper)
