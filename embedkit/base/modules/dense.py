"""Dense: a linear projection of the sentence embedding with an activation (Tanh by default)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from embedkit.base.modules.module import (
    Module,
    class_path,
    import_torch_class,
    read_json_file,
)
from embedkit.encoders.loading import EXCESS_BUILT_ANYWAY, load_strict, read_state_dict

logger = logging.getLogger(__name__)

_CONFIG_DEFAULTS = {"module_input_name": "sentence_embedding", "module_output_name": None, "use_residual": False}


class Dense(Module):
    """``out = act(W x + b)`` (``+ x`` or ``+ R x`` with ``use_residual``).

    Args:
        in_features: input size.
        out_features: output size.
        bias: learn a bias.
        activation_function: an ``nn.Module`` instance; ``None`` means Identity.
        init_weight / init_bias: optional initial tensors.
        module_input_name / module_output_name: features key read / written (output defaults to the input key).
        use_residual: add the input back (through a bias-free projection when the sizes differ).

    Example:
        >>> import torch
        >>> dense = Dense(4, 2, activation_function=torch.nn.Identity())
        >>> dense({"sentence_embedding": torch.ones(3, 4)})["sentence_embedding"].shape
        torch.Size([3, 2])
    """

    config_keys = ["in_features", "out_features", "bias", "activation_function", "module_input_name",
                   "module_output_name", "use_residual"]

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation_function: nn.Module | None = nn.Tanh(),  # noqa: B008 - ST's default, never mutated
        init_weight: Tensor | None = None,
        init_bias: Tensor | None = None,
        module_input_name: str = "sentence_embedding",
        module_output_name: str | None = None,
        use_residual: bool = False,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias
        self.activation_function = nn.Identity() if activation_function is None else activation_function
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name
        self.use_residual = use_residual
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        if use_residual and in_features != out_features:
            self.residual = nn.Linear(in_features, out_features, bias=False)
        if init_weight is not None:
            self.linear.weight = nn.Parameter(init_weight)
        if init_bias is not None:
            self.linear.bias = nn.Parameter(init_bias)

    def forward(self, features: dict[str, Tensor], **kwargs: Any) -> dict[str, Tensor]:
        x = features[self.module_input_name]  # (B, in)
        out = self.activation_function(self.linear(x))  # (B, out)
        if self.use_residual:
            out = out + (x if self.in_features == self.out_features else self.residual(x))
        return {**features, self.module_output_name or self.module_input_name: out}

    def get_embedding_dimension(self) -> int:
        return self.out_features

    get_sentence_embedding_dimension = get_embedding_dimension

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        config["activation_function"] = class_path(self.activation_function)
        if config["module_output_name"] == config["module_input_name"]:
            config["module_output_name"] = None  # writing to the input key is the default behaviour
        for key, default in _CONFIG_DEFAULTS.items():  # omitted when default, so ST 5.x reads the file too
            if config.get(key) == default:
                config.pop(key)
        return config

    @classmethod
    def load(cls, path: str | os.PathLike, *args: Any, **kwargs: Any) -> Dense:
        """Load ``config.json`` and the weights from ``path``.

        Config keys the constructor does not take (written by a newer or foreign ``Dense``) are dropped with a
        warning, as sentence-transformers does.
        """
        path = Path(path) / kwargs.get("subfolder", "")
        config = read_json_file(path / cls.config_file_name)
        unknown = sorted(set(config) - set(cls.config_keys))
        if unknown:
            logger.warning("%s: ignoring config keys that Dense does not accept: %s", path / cls.config_file_name,
                           unknown)
            config = {k: v for k, v in config.items() if k not in unknown}
        source = path / cls.config_file_name
        for key in ("in_features", "out_features"):
            value = config.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{source}: {key}={value!r} must be a positive integer")
        if "activation_function" in config:
            config["activation_function"] = import_torch_class(config["activation_function"])()
        state, weights_file = read_state_dict(path)
        # a config far larger than its weights (60000 x 60000) is refused before the layer allocates gigabytes
        wanted = config["in_features"] * config["out_features"] * (2 if config.get("use_residual") else 1)
        held = sum(tensor.numel() for tensor in state.values())
        if wanted - held > EXCESS_BUILT_ANYWAY:
            raise ValueError(f"{source}: in_features={config['in_features']} x out_features="
                             f"{config['out_features']} describes {wanted:,} weights but {weights_file} holds "
                             f"{held:,}; the config does not belong to these weights")
        dense = cls(**config)
        load_strict(dense, state, str(weights_file))
        return dense
