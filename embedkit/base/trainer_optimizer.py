"""What the trainer's optimizer trains, and with which settings: every loss module gathered into one module
(:class:`_Losses`, the one module DDP wraps, so trainable loss parameters train with the model) and the AdamW
parameter groups (no weight decay on biases and LayerNorm weights; per-pattern rates from ``learning_rate_mapping``).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.base.training_args import BaseTrainingArguments


class _Losses(nn.Module):
    """All loss modules in one module, so one DDP wrapper (and one optimizer) covers every trainable parameter."""

    def __init__(self, losses: dict[str, nn.Module]) -> None:
        super().__init__()
        self.names = list(losses)
        self.losses = nn.ModuleList(losses.values())

    def forward(self, name: str, features: list[Any], labels: Any, **kwargs: Any) -> Tensor | dict[str, Tensor]:
        return self.losses[self.names.index(name)](features, labels, **kwargs)


def _no_decay(module: nn.Module) -> set[str]:
    """Names of parameters trained without weight decay: biases and LayerNorm weights."""
    names = set()
    for module_name, sub in module.named_modules():
        for param_name, _ in sub.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if param_name == "bias" or isinstance(sub, nn.LayerNorm) or "LayerNorm" in type(sub).__name__:
                names.add(full)
    return names


def build_optimizer(args: BaseTrainingArguments, module: nn.Module) -> torch.optim.Optimizer:
    """The ``optim`` optimizer (AdamW by default) over ``module``'s trainable parameters
    (:meth:`BaseTrainer._build_optimizer`)."""
    no_decay = _no_decay(module)
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    special: dict[str, list[tuple[str, nn.Parameter]]] = {}

    for pattern in args.learning_rate_mapping:
        matches = [(n, p) for n, p in named if re.search(pattern, n)]
        if not matches:
            raise ValueError(f"learning_rate_mapping pattern {pattern!r} matches no parameter")
        special[pattern] = matches
    claimed = {id(p) for matches in special.values() for _, p in matches}
    groups = _decay_groups([(n, p) for n, p in named if id(p) not in claimed], no_decay, args.weight_decay,
                           lr=args.learning_rate)
    for pattern, matches in special.items():
        groups += _decay_groups(matches, no_decay, args.weight_decay, lr=args.learning_rate_mapping[pattern])
    if args.optim in _OTHER_OPTIMIZERS:  # transformers passes these optim_args keys on, and only these
        cls, keys = _OTHER_OPTIMIZERS[args.optim]
        extra = {k: (v.lower() in ("true", "1", "yes") if k in _FLAGS else float(v))
                 for k, v in parse_optim_args(args.optim_args).items() if k in keys}
        return cls(groups, lr=args.learning_rate, **extra)
    kwargs = dict(lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon,
                  weight_decay=args.weight_decay)
    if args.optim == "adamw_torch":
        return torch.optim.AdamW(groups, **kwargs)
    try:  # the fused kernel (CPU and CUDA) is several times faster than the per-tensor loop; same update rule
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, **kwargs)


def legacy_optimizer(module: nn.Module, optimizer_class: type, optimizer_params: dict[str, Any] | None,
                     weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer sentence-transformers' legacy ``fit`` builds: ``optimizer_class(groups, **optimizer_params)``
    with ``weight_decay`` on every trainable parameter but biases and LayerNorm weights.

    Example:
        >>> opt = legacy_optimizer(nn.Linear(2, 2), torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}, 0.01)
        >>> type(opt).__name__, [g["weight_decay"] for g in opt.param_groups], opt.defaults["momentum"]
        ('SGD', [0.01, 0.0], 0.9)
    """
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    return optimizer_class(_decay_groups(named, _no_decay(module), weight_decay),
                           **(optimizer_params or {"lr": 2e-5}))


def _decay_groups(named: list[tuple[str, nn.Parameter]], no_decay: set[str], weight_decay: float,
                  **extra: Any) -> list[dict[str, Any]]:
    """Parameter groups: ``weight_decay`` for all but the ``no_decay`` names (biases, LayerNorm weights), which get
    none; empty groups left out; ``extra`` (e.g. ``lr``) set on both."""
    decay = [p for n, p in named if n not in no_decay]
    plain = [p for n, p in named if n in no_decay]
    return [{"params": params, "weight_decay": wd, **extra}
            for params, wd in ((decay, weight_decay), (plain, 0.0)) if params]


def build_scheduler_from_args(args: BaseTrainingArguments, optimizer: torch.optim.Optimizer,
                              num_training_steps: int) -> Any:
    """The ``lr_scheduler_type`` schedule (with its warm-up and ``lr_scheduler_kwargs``) over ``num_training_steps``."""
    from embedkit.schedules import build_scheduler, warmup_steps_for

    return build_scheduler(optimizer, args.lr_scheduler_type, num_training_steps,
                           warmup_steps_for(num_training_steps, args.warmup_steps, args.warmup_ratio),
                           **args.lr_scheduler_kwargs)


_OTHER_OPTIMIZERS = {
    "sgd": (torch.optim.SGD, ("momentum", "dampening", "weight_decay", "nesterov")),
    "adagrad": (torch.optim.Adagrad, ("lr_decay", "weight_decay", "eps")),
    "rmsprop": (torch.optim.RMSprop, ("momentum", "alpha", "eps", "weight_decay", "centered")),
}
_FLAGS = ("nesterov", "centered")


def parse_optim_args(text: str | None) -> dict[str, str]:
    """``"momentum=0.9, nesterov=True"`` -> ``{"momentum": "0.9", "nesterov": "True"}`` (transformers' format).

    Example:
        >>> parse_optim_args("momentum=0.9, nesterov=True")
        {'momentum': '0.9', 'nesterov': 'True'}
    """
    out = {}
    for item in (text or "").replace(" ", "").split(","):
        if item:
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"optim_args must be key=value pairs separated by commas, got {text!r}")
            out[key] = value
    return out
