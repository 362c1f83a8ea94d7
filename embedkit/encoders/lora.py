"""LoRA adapters (PEFT's ``LORA`` method) on embedkit encoders, in plain torch and in PEFT's file format.

A LoRA adapter adds ``scaling * B(A(dropout(x)))`` to a Linear layer's output, with ``A`` (r, in) and ``B`` (out, r)
trained while the layer's own weight stays frozen. Adapters are named, as in PEFT ("default" unless told), several
can live on one layer, and one or more are active at a time.

Which layers an adapter targets is decided on the layers' Hugging Face names (``encoder.layer.0.attention.self.
query`` for BERT), read through the weight-name tables of :mod:`embedkit.encoders.convert`, with PEFT's matching
rules: a regular expression (``fullmatch``) or a list of names, each matching a whole name or its last components;
``exclude_modules`` the same way; without ``target_modules`` PEFT's default for the model type. So an
``adapter_config.json`` written for transformers' model adapts the same layers here, and the weights keep PEFT's names
(``base_model.model.<layer>.lora_A.weight``) on disk.

The wrapped layer is a :class:`LoraLinear`, an ``nn.Linear`` that keeps its own ``weight`` and ``bias`` (so the
encoder's weight names, its saving and its loading do not change) and adds the adapters. The inference engine calls
such a layer as a module; ``optimize_for_inference`` leaves its encoder layer on the default path.

Settings PEFT offers beyond plain LoRA (DoRA, trainable biases, ``modules_to_save``, per-layer rank or alpha
patterns, ``layers_to_transform``, ...) and other PEFT methods are refused by name.

Example:
    >>> import torch
    >>> from embedkit.encoders import BertModel, EncoderConfig
    >>> enc = BertModel(EncoderConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
    ...                               intermediate_size=16))
    >>> add_adapter(enc, "bert", LoraSettings.from_dict({"r": 2, "lora_alpha": 4}), "default")
    ['encoder.layer.0.attention.self.query', 'encoder.layer.0.attention.self.value']
    >>> sorted(adapter_state_dict(enc, "bert", "default"))[:1]
    ['encoder.layer.0.attention.self.query.lora_A.weight']
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embedkit.encoders.convert import _PREFIXES, FROM_HF, TO_HF, get_mapped_key

PEFT_PREFIX = "base_model.model."
"""Prefix of adapter weight names in PEFT's ``adapter_model.safetensors``."""

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")

NO_ADAPTER = "No adapter loaded. Please load an adapter first."

# PEFT's default ``target_modules`` for LoRA, by model type (``TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING``),
# for the model types embedkit builds; PEFT has none for the others, which must name their targets.
DEFAULT_TARGET_MODULES = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "electra": ["query", "value"],
    "deberta": ["in_proj"],
    "deberta-v2": ["query_proj", "value_proj"],
    "t5": ["q", "v"],
    "mt5": ["q", "v"],
    "llama": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"],
    "gemma2": ["q_proj", "v_proj"],
    "gemma3_text": ["q_proj", "v_proj"],
}

# adapter_config.json keys that change what LoRA computes, with the value plain LoRA has. A config giving another
# value is refused by name.
_PLAIN_LORA = {
    "bias": "none",
    "fan_in_fan_out": False,
    "use_dora": False,
    "lora_bias": False,
    "modules_to_save": None,
    "rank_pattern": {},
    "alpha_pattern": {},
    "layers_to_transform": None,
    "layers_pattern": None,
    "target_parameters": None,
    "trainable_token_indices": None,
    "layer_replication": None,
    "use_qalora": False,
    "use_bdlora": None,
    "alora_invocation_tokens": None,
    "megatron_config": None,
    "loftq_config": {},
    "eva_config": None,
    "corda_config": None,
    "arrow_config": None,
    "lora_ga_config": None,
    "kasa_config": None,
    "monteclora_config": None,
}
# Keys that describe the adapter or its origin without changing the computation.
_DESCRIPTIVE = {"peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode", "auto_mapping",
                "peft_version", "megatron_core", "qalora_group_size", "ensure_weight_tying", "runtime_config"}
_SETTINGS = {"r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "use_rslora",
             "init_lora_weights"}


@dataclass
class LoraSettings:
    """One adapter's LoRA settings, read from an ``adapter_config.json`` dict (or a PEFT ``LoraConfig``).

    Example:
        >>> s = LoraSettings.from_dict({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["query"]})
        >>> s.r, s.scaling
        (8, 2.0)
        >>> LoraSettings.from_dict({"peft_type": "IA3"})
        Traceback (most recent call last):
        ...
        NotImplementedError: PEFT method IA3 is not supported by embedkit, which implements LoRA adapters only
    """

    r: int = 8
    lora_alpha: float = 8
    lora_dropout: float = 0.0
    target_modules: list[str] | str | None = None
    exclude_modules: list[str] | str | None = None
    use_rslora: bool = False
    init_lora_weights: bool | str = True
    inference_mode: bool = False
    base_model_name_or_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """The config's other keys (``task_type``, ``revision``, ...), written back as they were."""

    @property
    def scaling(self) -> float:
        """``lora_alpha / r``, or ``lora_alpha / sqrt(r)`` with ``use_rslora`` (PEFT's factor on ``B(A(x))``)."""
        return self.lora_alpha / (math.sqrt(self.r) if self.use_rslora else self.r)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LoraSettings:
        """Check ``config`` (``adapter_config.json``'s keys) and read the settings embedkit computes with.

        Raises:
            NotImplementedError: another PEFT method, or a LoRA option that changes the computation beyond plain LoRA.
            ValueError: a non-positive rank, or an ``init_lora_weights`` PEFT does not know.
        """
        peft_type = str(config.get("peft_type") or "LORA").upper()
        if peft_type != "LORA":
            raise NotImplementedError(f"PEFT method {peft_type} is not supported by embedkit, which implements LoRA "
                                      "adapters only")
        refused = [k for k, plain in _PLAIN_LORA.items() if not _is_plain(config.get(k), plain)]
        unknown = [k for k, v in config.items() if k not in _PLAIN_LORA and k not in _DESCRIPTIVE
                   and k not in _SETTINGS and not _is_plain(v, None)]
        if refused or unknown:
            options = ", ".join(f"{k}={config[k]!r}" for k in refused + unknown)
            raise NotImplementedError(f"LoRA option(s) not supported by embedkit: {options}. embedkit implements "
                                      "plain LoRA on Linear layers (r, lora_alpha, lora_dropout, target_modules, "
                                      "exclude_modules, use_rslora, init_lora_weights)")
        init = config.get("init_lora_weights", True)
        if init not in (True, False) and str(init).lower() != "gaussian":
            raise ValueError(f"Unknown initialization init_lora_weights={init!r} (embedkit knows True, False and "
                             "'gaussian')")
        r = int(config.get("r", 8))
        if r <= 0:
            raise ValueError(f"`r` should be a positive integer value but the value passed is {r}")
        targets = config.get("target_modules")
        excluded = config.get("exclude_modules")
        extra = {k: v for k, v in config.items() if k in _DESCRIPTIVE and k not in ("base_model_name_or_path",
                                                                                       "inference_mode")}
        return cls(r=r, lora_alpha=config.get("lora_alpha", 8), lora_dropout=float(config.get("lora_dropout", 0.0)),
                   target_modules=sorted(targets) if isinstance(targets, (set, frozenset)) else targets,
                   exclude_modules=sorted(excluded) if isinstance(excluded, (set, frozenset)) else excluded,
                   use_rslora=bool(config.get("use_rslora", False)), init_lora_weights=init,
                   inference_mode=bool(config.get("inference_mode", False)),
                   base_model_name_or_path=config.get("base_model_name_or_path"), extra=extra)

    @classmethod
    def from_config(cls, adapter_config: Any) -> LoraSettings:
        """From a dict, a PEFT config object (anything with ``to_dict()``) or another LoraSettings (copied).

        Example:
            >>> LoraSettings.from_config({"r": 4}).r
            4
        """
        if isinstance(adapter_config, LoraSettings):
            return LoraSettings.from_dict(adapter_config.to_dict())
        if isinstance(adapter_config, dict):
            return cls.from_dict(adapter_config)
        to_dict = getattr(adapter_config, "to_dict", None)
        if callable(to_dict):
            config = dict(to_dict())
            peft_type = config.get("peft_type")
            config["peft_type"] = getattr(peft_type, "value", peft_type)
            task_type = config.get("task_type")
            config["task_type"] = getattr(task_type, "value", task_type)
            return cls.from_dict(config)
        raise TypeError("adapter_config should be an instance of PeftConfig or a dict of adapter_config.json's "
                        f"keys. Got {type(adapter_config)} instead.")

    def to_dict(self) -> dict[str, Any]:
        """The ``adapter_config.json`` dict PEFT reads (plain-LoRA values for the options embedkit refuses)."""
        targets = self.target_modules
        return {
            **{k: v for k, v in _PLAIN_LORA.items() if k in ("bias", "fan_in_fan_out", "use_dora", "modules_to_save",
                                                             "rank_pattern", "alpha_pattern", "layers_to_transform",
                                                             "layers_pattern")},
            "task_type": None,
            **self.extra,
            "peft_type": "LORA",
            "base_model_name_or_path": self.base_model_name_or_path,
            "inference_mode": self.inference_mode,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "target_modules": list(targets) if isinstance(targets, (list, tuple)) else targets,
            "exclude_modules": self.exclude_modules,
            "use_rslora": self.use_rslora,
            "init_lora_weights": self.init_lora_weights,
        }


def _is_plain(value: Any, plain: Any) -> bool:
    """Whether an option's value is plain LoRA's: absent, equal to it, empty, or False."""
    return value is None or value is False or value == plain or (isinstance(value, (dict, list, tuple, set))
                                                                  and not value)


def _matches(patterns: list[str] | str, name: str) -> bool:
    """PEFT's rule: a string is a regular expression the whole name must match; a list holds names that match the
    whole name or its last dot-separated components."""
    if isinstance(patterns, str):
        return re.fullmatch(patterns, name) is not None
    return name in patterns or any(name.endswith(f".{p}") for p in patterns)


class LoraLinear(nn.Linear):
    """A Linear layer with LoRA adapters: ``linear(x) + sum over active adapters of scaling * B(A(dropout(x)))``.

    It holds the wrapped layer's own ``weight`` and ``bias`` parameters (the same tensors), so the encoder's weight
    names are unchanged; ``lora_A`` / ``lora_B`` / ``lora_dropout`` are ModuleDicts keyed by adapter name, as PEFT's.

    Example:
        >>> layer = LoraLinear(nn.Linear(4, 3))
        >>> layer.add("default", LoraSettings(r=2, lora_alpha=4))
        >>> x = torch.randn(5, 4)
        >>> torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))  # B starts at zero
        True
    """

    def __init__(self, linear: nn.Linear) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.lora_A = nn.ModuleDict()
        self.lora_B = nn.ModuleDict()
        self.lora_dropout = nn.ModuleDict()
        self.scaling: dict[str, float] = {}
        self.active_adapters: list[str] = []
        self.adapters_disabled = False

    def add(self, name: str, settings: LoraSettings) -> None:
        """Add adapter ``name``, initialized as PEFT does (the same random draws, so a seeded run matches it)."""
        # PEFT builds both as nn.Linear (each draws its default initialization), then re-initializes them.
        a = nn.Linear(self.in_features, settings.r, bias=False)
        b = nn.Linear(settings.r, self.out_features, bias=False)
        init = settings.init_lora_weights
        if init is not False:
            if init is True:
                nn.init.kaiming_uniform_(a.weight, a=math.sqrt(5))
            else:  # "gaussian"
                nn.init.normal_(a.weight, std=1 / settings.r)
            nn.init.zeros_(b.weight)
        dtype = self.weight.dtype if self.weight.dtype.is_floating_point else None
        self.lora_A[name] = a.to(device=self.weight.device, dtype=dtype)
        self.lora_B[name] = b.to(device=self.weight.device, dtype=dtype)
        self.lora_dropout[name] = nn.Dropout(settings.lora_dropout) if settings.lora_dropout > 0 else nn.Identity()
        self.scaling[name] = settings.scaling

    def remove(self, name: str) -> None:
        for holder in (self.lora_A, self.lora_B, self.lora_dropout):
            del holder[name]
        del self.scaling[name]
        self.active_adapters = [a for a in self.active_adapters if a != name]

    def forward(self, x: Tensor) -> Tensor:  # (..., in) -> (..., out)
        result = F.linear(x, self.weight, self.bias)
        if self.adapters_disabled:
            return result
        dtype = result.dtype
        for name in self.active_adapters:
            a, b = self.lora_A[name], self.lora_B[name]
            h = x.to(a.weight.dtype)
            result = result + b(a(self.lora_dropout[name](h))) * self.scaling[name]  # (..., out)
        return result.to(dtype)

    def plain(self) -> nn.Linear:
        """An ``nn.Linear`` holding this layer's weight and bias (what the layer becomes without adapters)."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                           device="meta")
        linear.weight, linear.bias = self.weight, self.bias
        return linear

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, adapters={list(self.scaling)}, active={self.active_adapters}"


def _hf_parameter_names(root: nn.Module, model_type: str) -> Any:
    """The function from an embedkit parameter name of ``root`` to its HF name (None when it has none): the
    root's own ``hf_parameter_name`` (a classifier: encoder under its prefix, then the head), else the encoder
    table."""
    own = getattr(root, "hf_parameter_name", None)
    if callable(own):
        return own
    table = TO_HF[model_type]
    return lambda name: get_mapped_key(name, table)


def _named_weight_modules(root: nn.Module, model_type: str) -> list[tuple[str, str, nn.Module]]:
    """(HF module name, embedkit module name, module) for every module of ``root`` that holds a ``weight``, in the
    order of the HF checkpoint layout: what precedes the layers (embeddings), the layers one by one in the order
    of the family's name table, then what follows them (pooler, head)."""
    hf_name = _hf_parameter_names(root, model_type)
    order = {template: i for i, template in enumerate(FROM_HF[model_type])}
    first_layer = min((i for t, i in order.items() if "{}" in t), default=0)
    found = []
    for name, module in root.named_modules():
        if not isinstance(getattr(module, "weight", None), Tensor) or not name:
            continue
        hf = hf_name(f"{name}.weight")
        if hf is None:
            continue
        index = re.search(r"\.(\d+)\.", hf)
        template = hf if index is None else hf[: index.start()] + ".{}." + hf[index.end():]
        bare = next((template[len(p):] for p in ("",) + tuple(_PREFIXES) if template[len(p):] in order), None)
        position = order.get(bare, len(order)) if bare is not None else len(order)
        if index is not None:
            key = (1, int(index.group(1)), position)
        else:
            key = (0 if position < first_layer else 2, 0, position)
        found.append((key, hf[: -len(".weight")], name, module))
    found.sort(key=lambda item: item[0])
    return [(hf, name, module) for _, hf, name, module in found]


def _replace(encoder: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(encoder.get_submodule(parent_name) if parent_name else encoder, child, module)


def lora_layers(encoder: nn.Module) -> list[LoraLinear]:
    return [m for m in encoder.modules() if isinstance(m, LoraLinear)]


def adapter_configs(encoder: nn.Module) -> dict[str, LoraSettings]:
    """The adapters on ``encoder`` by name (empty when it has none); transformers calls this ``peft_config``."""
    return encoder.__dict__.setdefault("peft_config", {})


def add_adapter(encoder: nn.Module, model_type: str, settings: LoraSettings, name: str) -> list[str]:
    """Add adapter ``name`` to the layers ``settings`` targets; returns their HF names. Does not activate it.

    Raises:
        ValueError: the name is taken, or nothing matches (PEFT's messages).
        NotImplementedError: a targeted layer is not a Linear, or the model type has no default targets.
    """
    configs = adapter_configs(encoder)
    if name in configs:
        raise ValueError(f"Adapter with name {name} already exists. Please use a different name.")
    targets = settings.target_modules
    if targets is None:
        targets = DEFAULT_TARGET_MODULES.get(model_type)
        if targets is None:
            raise ValueError("Please specify `target_modules` in `peft_config`")
        settings.target_modules = list(targets)
    if targets == "all-linear":
        targets = r".*"
    chosen, excluded = [], False
    for hf, ek_name, module in _named_weight_modules(encoder, model_type):
        if not _matches(targets, hf):
            continue
        if settings.exclude_modules and _matches(settings.exclude_modules, hf):
            excluded = True
            continue
        if settings.target_modules == "all-linear" and not isinstance(module, nn.Linear):
            continue
        if not isinstance(module, nn.Linear) or type(module) not in (nn.Linear, LoraLinear):
            raise NotImplementedError(f"LoRA on {hf} ({type(module).__name__}) is not supported: embedkit adapts "
                                      "float Linear layers only")
        chosen.append((hf, ek_name, module))
    if not chosen:
        if excluded:
            raise ValueError("All modules were excluded. This is likely unintended. Check your `target_modules`, "
                             "`exclude_modules` and `modules_to_save` configuration.")
        raise ValueError(f"Target modules {settings.target_modules} not found in the base model. Please check the "
                         "target modules and try again.")
    for hf, ek_name, module in chosen:
        if type(module) is nn.Linear:
            module = LoraLinear(module)
            _replace(encoder, ek_name, module)
        module.add(name, settings)
    configs[name] = settings
    return [hf for hf, _, _ in chosen]


def set_active_adapters(encoder: nn.Module, names: str | list[str]) -> None:
    """Activate ``names`` (and no other adapter); their weights become trainable unless their config says
    ``inference_mode``, every other adapter's are frozen, and so are the encoder's own weights (as PEFT does)."""
    configs = adapter_configs(encoder)
    if not configs:
        raise ValueError(NO_ADAPTER)
    wanted = [names] if isinstance(names, str) else list(names)
    missing = [n for n in wanted if n not in configs]
    if missing and isinstance(names, str):
        raise ValueError(f"Adapter with name {names} not found. Please pass the correct adapter name among "
                         f"{list(configs)}")
    if missing:
        raise ValueError(f"Following adapter(s) could not be found: {', '.join(missing)}. Make sure you are passing "
                         f"the correct adapter name(s). current loaded adapters are: {list(configs)}")
    encoder.__dict__["active_adapter_names"] = wanted
    for param in encoder.parameters():
        param.requires_grad_(False)
    for layer in lora_layers(encoder):
        layer.active_adapters = [n for n in wanted if n in layer.scaling]
        for n in layer.scaling:
            trainable = n in wanted and not configs[n].inference_mode
            layer.lora_A[n].requires_grad_(trainable)
            layer.lora_B[n].requires_grad_(trainable)


def active_adapters(encoder: nn.Module) -> list[str]:
    if not adapter_configs(encoder):
        raise ValueError(NO_ADAPTER)
    return list(encoder.__dict__.get("active_adapter_names", []))


def enable_adapters(encoder: nn.Module, enabled: bool) -> None:
    if not adapter_configs(encoder):
        raise ValueError(NO_ADAPTER)
    for layer in lora_layers(encoder):
        layer.adapters_disabled = not enabled


def delete_adapters(encoder: nn.Module, names: str | list[str]) -> None:
    """Remove adapters; layers left without any become plain ``nn.Linear`` again."""
    configs = adapter_configs(encoder)
    if not configs:
        raise ValueError(NO_ADAPTER)
    names = [names] if isinstance(names, str) else list(names)
    missing = [n for n in names if n not in configs]
    if missing:
        raise ValueError(f"The following adapter(s) are not present and cannot be deleted: {', '.join(missing)}")
    for module_name, layer in [(n, m) for n, m in encoder.named_modules() if isinstance(m, LoraLinear)]:
        for n in names:
            if n in layer.scaling:
                layer.remove(n)
        if not layer.scaling:
            _replace(encoder, module_name, layer.plain())
    for n in names:
        del configs[n]
    encoder.__dict__["active_adapter_names"] = [n for n in active_adapters(encoder) if n not in names] if configs \
        else []


def adapter_state_dict(encoder: nn.Module, model_type: str, name: str | None = None) -> dict[str, Tensor]:
    """Adapter ``name``'s weights (default: the first active one) under PEFT's names without its prefix
    (``encoder.layer.0.attention.self.query.lora_A.weight``)."""
    if not adapter_configs(encoder):
        raise ValueError(NO_ADAPTER)
    if name is None:
        active = active_adapters(encoder)
        name = active[0] if active else next(iter(adapter_configs(encoder)))
    state = {}
    for hf, _, module in _named_weight_modules(encoder, model_type):
        if isinstance(module, LoraLinear) and name in module.scaling:
            state[f"{hf}.lora_A.weight"] = module.lora_A[name].weight
            state[f"{hf}.lora_B.weight"] = module.lora_B[name].weight
    return state


def load_adapter_weights(encoder: nn.Module, model_type: str, name: str, state: dict[str, Tensor],
                         source: str) -> None:
    """Copy PEFT-named adapter weights (with or without ``base_model.model.``, with or without the adapter name
    in the key) into adapter ``name``. Strict: a missing or unexpected key raises, naming it."""
    expected = adapter_state_dict(encoder, model_type, name)
    given = {}
    for key, tensor in state.items():
        key = key[len(PEFT_PREFIX):] if key.startswith(PEFT_PREFIX) else key
        given[key.replace(f".lora_A.{name}.", ".lora_A.").replace(f".lora_B.{name}.", ".lora_B.")] = tensor
    missing, unexpected = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{source}: the adapter's weights do not fit its config on this model; missing: {missing}, "
                         f"unexpected: {unexpected}")
    with torch.no_grad():
        for key, param in expected.items():
            if param.shape != given[key].shape:
                raise ValueError(f"{source}: {key} has shape {tuple(given[key].shape)}, the model expects "
                                 f"{tuple(param.shape)}")
            param.copy_(given[key])


def read_adapter_folder(folder: str | os.PathLike) -> tuple[LoraSettings, dict[str, Tensor], Path]:
    """An adapter folder's settings and weights (``adapter_model.safetensors``, else ``adapter_model.bin`` read
    with ``weights_only``), and the weights' path."""
    folder = Path(folder)
    settings = LoraSettings.from_dict(json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8")))
    for filename in ADAPTER_WEIGHTS:
        path = folder / filename
        if path.is_file():
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                return settings, load_file(str(path)), path
            return settings, torch.load(path, map_location="cpu", weights_only=True), path
    raise FileNotFoundError(f"{folder}: {ADAPTER_CONFIG} but no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")


def load_adapter_folder(root: nn.Module, model_type: str, folder: str | os.PathLike, name: str = "default") -> None:
    """Put an adapter folder's adapter on ``root`` as ``name``, active and frozen, as transformers loads a model
    folder that holds an adapter."""
    settings, state, source = read_adapter_folder(folder)
    settings.inference_mode = True
    add_adapter(root, model_type, settings, name)
    set_active_adapters(root, name)
    load_adapter_weights(root, model_type, name, state, str(source))


def write_active_adapter(root: nn.Module, model_type: str, folder: str | os.PathLike,
                         safe_serialization: bool = True) -> None:
    """Write ``root``'s active adapter as an adapter folder (transformers refuses several active ones)."""
    active = active_adapters(root) or list(adapter_configs(root))[:1]
    if len(active) > 1:
        raise ValueError("Multiple active adapters detected, saving multiple active adapters is not supported yet.")
    write_adapter_folder(folder, adapter_configs(root)[active[0]], adapter_state_dict(root, model_type, active[0]),
                         safe_serialization)


def write_adapter_folder(folder: str | os.PathLike, settings: LoraSettings, state: dict[str, Tensor],
                         safe_serialization: bool = True) -> None:
    """Write ``adapter_config.json`` and the weights under PEFT's names, as transformers' ``save_pretrained`` does
    for a model with an adapter (the base model's weights are not written)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = settings.to_dict()
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tensors = {PEFT_PREFIX + k: v.detach().cpu().contiguous() for k, v in state.items()}
    if safe_serialization:
        from safetensors.torch import save_file

        save_file(tensors, str(folder / ADAPTER_WEIGHTS[0]), metadata={"format": "pt"})
    else:
        torch.save(tensors, folder / ADAPTER_WEIGHTS[1])
