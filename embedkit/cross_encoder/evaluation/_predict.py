"""Shared helper of the CrossEncoder evaluators: score (query, document) pairs, with an optional prompt name."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np


def predict_pairs(model: Any, pairs: list[Any], prompt_name: str | None, batch_size: int,
                  show_progress_bar: bool | None) -> np.ndarray:
    """``model.predict(pairs, ...)`` as a NumPy array; ``prompt_name`` is passed on only when it is set.

    Raises:
        ValueError: ``prompt_name`` is set but the model's ``predict`` takes no ``prompt_name``, or the model's
            ``prompts`` lack that name.
    """
    kwargs: dict[str, Any] = {"batch_size": batch_size, "convert_to_numpy": True,
                              "show_progress_bar": show_progress_bar}
    if prompt_name is not None:
        try:
            accepts = "prompt_name" in inspect.signature(model.predict).parameters
        except (TypeError, ValueError):
            accepts = False
        if not accepts:
            raise ValueError(f"prompt_name={prompt_name!r} was given, but {type(model).__name__}.predict() takes no "
                             "prompt_name; use prompt_name=None")
        kwargs["prompt_name"] = prompt_name  # the model reports a name missing from its prompts
    return np.asarray(model.predict(list(pairs), **kwargs))
