"""Read checkpoint weights from a model folder and load them strictly.

Formats, in order of preference: ``model.safetensors``, sharded ``model.safetensors.index.json``, and
``pytorch_model.bin`` read only through ``torch.load(weights_only=True)`` (no pickle code ever runs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from embedkit.model_files import model_file, read_model_text

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupted headers
        raise ValueError(f"cannot read weights file {path}: it is corrupted or truncated ({exc})") from exc


def _read_bin(path: Path) -> dict[str, Tensor]:
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"cannot read weights file {path} with torch.load(weights_only=True): it is corrupted, truncated, "
            f"or a pickle that needs code execution, which embedkit refuses ({exc})"
        ) from exc
    if not isinstance(state, dict):
        raise ValueError(f"weights file {path} does not hold a state dict")
    return state


def find_weights_file(folder: str | os.PathLike) -> Path | None:
    folder = Path(folder)
    for name in WEIGHT_FILES:
        if os.path.lexists(folder / name):
            return folder / name
    return None


def read_state_dict(folder: str | os.PathLike) -> tuple[dict[str, Tensor], Path]:
    """Read every weight in ``folder``; returns (state dict, file it came from).

    Raises:
        FileNotFoundError: none of :data:`WEIGHT_FILES` exists.
        ValueError: a file is corrupted or truncated (the message names it).
    """
    path = find_weights_file(folder)
    if path is None:
        raise FileNotFoundError(f"no weights in {folder}: looked for {', '.join(WEIGHT_FILES)}")
    model_file(path)  # a regular file inside the folder, or a clear error (never a FIFO or /dev/zero)
    if path.name == "model.safetensors":
        return _read_safetensors(path), path
    if path.name == "pytorch_model.bin":
        return _read_bin(path), path
    try:
        weight_map = json.loads(read_model_text(path))["weight_map"]
    except (ValueError, KeyError) as exc:
        raise ValueError(f"cannot read shard index {path}: {exc}") from exc
    state: dict[str, Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = (path.parent / shard).resolve()
        if path.parent.resolve() not in shard_path.parents:
            raise ValueError(f"{path}: shard {shard!r} points outside the model folder")
        state.update(_read_safetensors(model_file(path.parent / shard)))
    return state, path


def _problems(expected: dict[str, Tensor], state_dict: dict[str, Tensor]) -> list[str]:
    """What stops ``state_dict`` from loading strictly into parameters shaped like ``expected``."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state_dict.items()
        if k in expected and v.shape != expected[k].shape
    ]
    not_float = [  # an integer tensor would load into a float parameter as finite garbage
        f"{k}: {v.dtype}" for k, v in state_dict.items()
        if k in expected and expected[k].is_floating_point() and not v.is_floating_point()
    ]
    problems = []
    if not_float:
        problems.append(f"non-float weights for float parameters {not_float}")
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if wrong_shape:
        problems.append(f"shape mismatches {wrong_shape}")
    return problems


def rng_untouched() -> Any:
    """A context in which building modules whose weights are then loaded leaves torch's CPU random state as it was,
    as transformers 5 builds a checkpoint's network (on the meta device): a seed set before loading a model still
    decides what is drawn after it (a new head, dropout, shuffling), as in sentence-transformers.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> with rng_untouched():
        ...     _ = nn.Linear(4, 4)
        >>> torch.equal(torch.rand(2), torch.manual_seed(0) and torch.rand(2))
        True
    """
    return torch.random.fork_rng(devices=[])


def load_strict(module: nn.Module, state_dict: dict[str, Tensor], source: str) -> None:
    """``load_state_dict`` that names the file and every missing/unexpected/mis-shaped/non-float key when it fails."""
    problems = _problems(module.state_dict(), state_dict)
    if problems:
        raise ValueError(f"{source}: cannot load weights: " + "; ".join(problems))
    module.load_state_dict(state_dict, strict=True)


# A config may describe up to this many parameters more than the weights hold and still be built (256 MiB in fp32),
# so that :func:`load_strict` can name the missing keys (a dropped pooler, say); beyond it the build is refused first.
EXCESS_BUILT_ANYWAY = 1 << 26


def check_size_before_building(config: Any, add_pooler: bool, state_dict: dict[str, Tensor], source: str) -> None:
    """Refuse a config that describes far more numbers than the weights hold (``EXCESS_BUILT_ANYWAY``), before the
    encoder is built: a corrupted or hostile config.json (256 layers of width 4096 with a small weights file) would
    otherwise allocate gigabytes before :func:`load_strict` finds the mismatch. ``config`` is an
    :class:`~embedkit.encoders.config.EncoderConfig`.

    Example:
        >>> from embedkit.encoders import EncoderConfig, build_encoder
        >>> small = EncoderConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                       intermediate_size=16)
        >>> huge = EncoderConfig(vocab_size=4_000_000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        ...                      intermediate_size=16)
        >>> check_size_before_building(huge, True, build_encoder(small).state_dict(), "f")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: f: config.json describes 128,022,992 encoder parameters but the weights hold 4,880; ...
    """
    wanted = config.parameter_count(add_pooler)
    held = sum(tensor.numel() for tensor in state_dict.values())
    if wanted - held > EXCESS_BUILT_ANYWAY:
        raise ValueError(f"{source}: config.json describes {wanted:,} encoder parameters but the weights hold "
                         f"{held:,}; the config does not belong to these weights")
