"""Learning-rate schedules with the Hugging Face names and formulas, as multipliers of the base learning rate."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


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


def build_scheduler(optimizer: Optimizer, name: str, total_steps: int, warmup: int, **kwargs: float) -> LambdaLR:
    if name == "polynomial":
        base = optimizer.defaults["lr"]
        kwargs = {"power": kwargs.get("power", 1.0), "lr_end_ratio": kwargs.get("lr_end", 1e-7) / base if base else 0.0}
    return LambdaLR(optimizer, lr_lambda(name, total_steps, warmup, **kwargs))
