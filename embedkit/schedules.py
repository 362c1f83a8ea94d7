"""Learning-rate schedules with the Hugging Face names and formulas, as multipliers of the base learning rate."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau


def warmup_steps_for(total_steps: int, warmup_steps: int | float, warmup_ratio: float | None = None) -> int:
    """``warmup_steps`` if set (a float < 1 is a ratio), else ``ceil(warmup_ratio * total_steps)`` (0 when unset)."""
    if isinstance(warmup_steps, float) and 0 < warmup_steps < 1:
        return math.ceil(warmup_steps * total_steps)
    if warmup_steps > 0:
        return int(warmup_steps)
    return math.ceil((warmup_ratio or 0.0) * total_steps)


def lr_lambda(name: str, total: int, warmup: int, num_cycles: float | None = None, power: float = 1.0,
              lr_end_ratio: float = 0.0) -> Callable[[int], float]:
    """The multiplier at optimizer step ``step`` (0-based: the first update uses ``lambda(0)``).

    Example:
        >>> f = lr_lambda("linear", total=10, warmup=2)
        >>> [round(f(s), 3) for s in (0, 1, 2, 6, 10)]
        [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def warm(step: int) -> float | None:
        return step / max(1, warmup) if step < warmup else None

    def progress(step: int) -> float:
        return (step - warmup) / max(1, total - warmup)

    if name == "constant":
        return lambda step: 1.0
    if name == "constant_with_warmup":
        return lambda step: w if (w := warm(step)) is not None else 1.0
    if name == "linear":
        return lambda step: w if (w := warm(step)) is not None else max(0.0, (total - step) / max(1, total - warmup))
    if name == "cosine":
        cycles = 0.5 if num_cycles is None else num_cycles
        return lambda step: w if (w := warm(step)) is not None else max(
            0.0, 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * progress(step))))
    if name == "cosine_with_restarts":
        cycles = 1 if num_cycles is None else num_cycles

        def restarts(step: int) -> float:
            if (w := warm(step)) is not None:
                return w
            p = progress(step)
            return 0.0 if p >= 1.0 else max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((cycles * p) % 1.0))))

        return restarts
    if name == "polynomial":
        def poly(step: int) -> float:
            if (w := warm(step)) is not None:
                return w
            if step > total:
                return lr_end_ratio
            return (1 - lr_end_ratio) * (1 - progress(step)) ** power + lr_end_ratio

        return poly
    raise ValueError(f"unknown lr_scheduler_type {name!r}")


def inverse_sqrt_lambda(warmup: int, timescale: int | None = None) -> Callable[[int], float]:
    """transformers' ``inverse_sqrt``: linear warmup, then ``1 / sqrt((step + timescale - warmup) / timescale)``.

    Example:
        >>> f = inverse_sqrt_lambda(warmup=4)
        >>> [round(f(s), 3) for s in (0, 2, 4, 16)]
        [0.0, 0.5, 1.0, 0.5]
    """
    timescale = timescale or warmup or 10_000

    def decay(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return 1.0 / math.sqrt((step + timescale - warmup) / timescale)

    return decay


def cosine_with_min_lr_lambda(total: int, warmup: int, min_lr_rate: float, num_cycles: float = 0.5,
                              warmup_lr_rate: float | None = None, shifted: bool = False) -> Callable[[int], float]:
    """transformers' ``cosine_with_min_lr`` (``shifted=False``) and ``cosine_warmup_with_min_lr`` (``shifted=True``:
    warmup from ``warmup_lr_rate`` or ``1 / warmup``, the cosine one step ahead): a cosine from 1 down to
    ``min_lr_rate``.

    Example:
        >>> f = cosine_with_min_lr_lambda(total=10, warmup=0, min_lr_rate=0.1)
        >>> [round(f(s), 3) for s in (0, 5, 10)]
        [1.0, 0.55, 0.1]
    """

    def factor(step: int) -> float:
        if step < warmup:
            if not shifted:
                return step / max(1, warmup)
            if warmup_lr_rate is None:
                return (step + 1.0) / max(1.0, warmup)
            return warmup_lr_rate + (1.0 - warmup_lr_rate) * step / max(1, warmup - 1)
        progress = (step - warmup + (1.0 if shifted else 0.0)) / max(1, total - warmup)
        cosine = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
        return max(0.0, cosine * (1 - min_lr_rate) + min_lr_rate)

    return factor


_WSD_SHAPES = ("linear", "cosine", "1-sqrt")


def warmup_stable_decay_lambda(warmup: int, num_decay_steps: int, total: int | None = None,
                               num_stable_steps: int | None = None, warmup_type: str = "linear",
                               decay_type: str = "cosine", min_lr_ratio: float = 0.0, num_cycles: float = 0.5
                               ) -> Callable[[int], float]:
    """transformers' ``warmup_stable_decay``: warm up, hold 1.0, decay to ``min_lr_ratio``, then stay there.

    Example:
        >>> f = warmup_stable_decay_lambda(warmup=2, num_decay_steps=2, total=8, decay_type="linear")
        >>> [round(f(s), 2) for s in range(9)]
        [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    if num_stable_steps is None:
        if total is None:
            raise ValueError("Either num_training_steps or num_stable_steps must be specified.")
        num_stable_steps = total - warmup - num_decay_steps
    if warmup_type not in _WSD_SHAPES:
        raise ValueError(f"Unknown warmup type: {warmup_type}, expected 'linear', 'cosine' or '1-sqrt'")
    if decay_type not in _WSD_SHAPES:
        raise ValueError(f"Unknown decay type: {decay_type}, expected 'linear', 'cosine' or '1-sqrt'")

    def factor(step: int) -> float:
        if step < warmup:
            progress = step / max(1, warmup)
            shape = {"linear": progress, "cosine": 0.5 * (1.0 - math.cos(math.pi * progress)),
                     "1-sqrt": 1.0 - math.sqrt(1.0 - progress)}[warmup_type]
            return max(0.0, shape * (1.0 - min_lr_ratio) + min_lr_ratio)
        if step < warmup + num_stable_steps:
            return 1.0
        if step < warmup + num_stable_steps + num_decay_steps:
            progress = (step - warmup - num_stable_steps) / max(1, num_decay_steps)
            shape = {"linear": 1.0 - progress,
                     "cosine": 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)),
                     "1-sqrt": 1.0 - math.sqrt(progress)}[decay_type]
            return max(0.0, shape * (1.0 - min_lr_ratio) + min_lr_ratio)
        return min_lr_ratio

    return factor


def _min_lr_rate(optimizer: Optimizer, kwargs: dict[str, Any]) -> float:
    min_lr, rate = kwargs.pop("min_lr", None), kwargs.pop("min_lr_rate", None)
    if min_lr is not None and rate is not None:
        raise ValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        return min_lr / optimizer.defaults["lr"]
    if rate is None:
        raise ValueError("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`")
    return rate


def build_scheduler(optimizer: Optimizer, name: str, total_steps: int, warmup: int,
                    **kwargs: Any) -> LambdaLR | ReduceLROnPlateau:
    """The ``LambdaLR`` of schedule ``name`` with ``lr_scheduler_kwargs`` as transformers' ``get_scheduler`` takes
    them; ``reduce_lr_on_plateau`` is torch's ``ReduceLROnPlateau`` with those kwargs (no warm-up), which the
    trainer steps after each evaluation with the ``metric_for_best_model`` value instead of after each step.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> build_scheduler(opt, "cosine_with_min_lr", 10, 0, min_lr=0.1).lr_lambdas[0](10)
        0.1
    """
    kwargs = dict(kwargs)
    if name == "reduce_lr_on_plateau":
        return ReduceLROnPlateau(optimizer, **kwargs)
    if name == "polynomial":
        base = optimizer.defaults["lr"]
        factor = lr_lambda(name, total_steps, warmup, power=kwargs.get("power", 1.0),
                           lr_end_ratio=kwargs.get("lr_end", 1e-7) / base if base else 0.0)
    elif name == "inverse_sqrt":
        factor = inverse_sqrt_lambda(warmup, **kwargs)
    elif name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        rate = _min_lr_rate(optimizer, kwargs)
        factor = cosine_with_min_lr_lambda(total_steps, warmup, rate, shifted=name == "cosine_warmup_with_min_lr",
                                           **kwargs)
    elif name == "warmup_stable_decay":
        if "num_decay_steps" not in kwargs:
            raise ValueError("warmup_stable_decay needs lr_scheduler_kwargs={'num_decay_steps': ...}")
        factor = warmup_stable_decay_lambda(warmup, total=total_steps, **kwargs)
    else:
        factor = lr_lambda(name, total_steps, warmup, **kwargs)
    return LambdaLR(optimizer, factor)
