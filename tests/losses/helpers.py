"""Rebuild the golden cases of ``tests/fixtures/losses/st_losses.json`` with embedkit.

Each case stores the loss name, its constructor kwargs (callables encoded by name: ``{"fn": "dot_score"}``,
``{"metric": "SiameseDistanceMetric.EUCLIDEAN"}``, ``{"module": "L1Loss"}``, ``{"model": "tiny_mpnet_v6"}``), the
texts of each column, the labels, and the values sentence-transformers 6.2 computed (see
``tests/generate_loss_fixtures.py``).
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from functools import cache, lru_cache
from typing import Any

import torch
from torch import nn

from embedkit import SentenceTransformer
from embedkit import util as ek_util
from embedkit.base.modules.dense import Dense
from embedkit.sentence_transformer import losses as ek_losses
from tests.conftest import FIXTURES

GOLDEN_PATH = FIXTURES / "losses" / "st_losses.json"


@lru_cache(maxsize=1)
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


def cases() -> list[dict[str, Any]]:
    return golden()["cases"]


def case_by_name(name: str) -> dict[str, Any]:
    return next(c for c in cases() if c["name"] == name)


@cache
def _loaded(name: str) -> SentenceTransformer:
    model = SentenceTransformer(str(FIXTURES / name), device="cpu")
    # The same spreading Dense layer the generator installed (see spreading_dense there).
    dense = golden()["spreading_dense"][name]
    weight, bias = torch.tensor(dense["weight"]), torch.tensor(dense["bias"])
    if name == "tiny_bert_v6":
        with torch.no_grad():
            model[2].linear.weight.copy_(weight)
            model[2].linear.bias.copy_(bias)
    else:
        model.append(Dense(weight.shape[1], weight.shape[0], init_weight=weight, init_bias=bias))
    return model.eval()


def load_model(name: str) -> SentenceTransformer:
    """A fresh (deep-copied) eval-mode model from the fixture folder ``name``."""
    return copy.deepcopy(_loaded(name))


def resolve(value: Any) -> Any:
    """Decode one encoded kwarg into the embedkit object."""
    if isinstance(value, list):
        return tuple(value)
    if not isinstance(value, dict):
        return value
    if "fn" in value:
        return getattr(ek_util, value["fn"])
    if "metric" in value:
        owner, name = value["metric"].split(".")
        return getattr(getattr(ek_losses, owner), name)
    if "module" in value:
        return getattr(nn, value["module"])()
    if "model" in value:
        return load_model(value["model"])
    raise ValueError(f"cannot decode {value!r}")


def build(spec: dict[str, Any]) -> tuple[nn.Module, list[dict[str, torch.Tensor]], torch.Tensor | None]:
    """The embedkit loss (with the recorded initial weights of its own layers), features and labels of a case."""
    model = load_model(spec["model"])
    kwargs = {k: resolve(v) for k, v in spec["kwargs"].items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loss = ek_losses.LOSSES[spec["loss"]](model, **kwargs)
    loss.eval()
    for attr, state in spec["init"].items():
        getattr(loss, attr).load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    features = [model.preprocess(column) for column in spec["columns"]]
    labels = None
    if spec["labels"] is not None:
        dtype = torch.long if spec["labels_dtype"] == "long" else torch.float32
        labels = torch.tensor(spec["labels"], dtype=dtype)
    return loss, features, labels


def grad_norms(loss: nn.Module) -> tuple[float, dict[str, float]]:
    """Total gradient L2 norm over the loss's parameters, and per named parameter group (see PARAM_ROLES)."""
    roles = golden()["param_roles"]
    total, by_role = 0.0, {}
    for name, p in loss.named_parameters():
        if p.grad is None:
            continue
        sq = float(p.grad.double().pow(2).sum())
        total += sq
        for role, (_, suffix) in roles.items():
            if name.endswith(suffix):
                by_role[role] = by_role.get(role, 0.0) + sq
    return math.sqrt(total), {k: math.sqrt(v) for k, v in by_role.items()}


def jsonable(obj: Any) -> Any:
    """Config dict values as the generator stored them (tuples -> lists, objects -> "<ClassName>")."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return f"<{type(obj).__name__}>"


def rel_diff(actual: float, expected: float) -> float:
    if actual == expected:
        return 0.0
    return abs(actual - expected) / max(abs(expected), 1e-12)
