"""Every cached (GradCache) loss embedkit exports has golden values from sentence-transformers 6.2.

The goldens themselves are compared where their files are read (value within 1e-4 relative, gradient norms within
1e-3 relative, config and citation equal):

- sentence_transformer: ``tests/fixtures/losses_extra/st_losses_extra.json``
  (``tests/losses/test_matryoshka_adaptive_dae.py``, made by ``tests/generate_loss_extra_fixtures.py``);
- cross_encoder: ``tests/fixtures/ce_losses/ce_losses.json`` (``tests/cross_encoder/test_losses.py``);
- sparse_encoder: ``tests/fixtures/se_losses/st_sparse_losses.json`` (``tests/sparse_encoder/test_losses.py``).

This file pins the list: a new ``Cached*`` class without a golden case, or a golden case that disappears, fails here.
The ``*_dropout`` cases run the model in training mode from a fixed torch seed: sentence-transformers and embedkit
draw the same dropout masks, and the GradCache replay must reproduce them for value and gradients to match.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from typing import Any

import pytest

from tests.conftest import FIXTURES

GOLDEN_FILES = {
    "sentence_transformer": FIXTURES / "losses_extra" / "st_losses_extra.json",
    "cross_encoder": FIXTURES / "ce_losses" / "ce_losses.json",
    "sparse_encoder": FIXTURES / "se_losses" / "st_sparse_losses.json",
}

# (model type, loss class) -> the golden cases that run it on its own (not only inside a wrapper loss).
CACHED_GOLDENS = {
    ("sentence_transformer", "CachedMultipleNegativesRankingLoss"): [
        "cached_mnrl_1neg", "cached_mnrl_3neg_all_directions", "cached_mnrl_token_budget", "cached_mnrl_dropout"],
    ("sentence_transformer", "CachedMultipleNegativesSymmetricRankingLoss"): ["cached_mnsrl", "cached_mnsrl_dropout"],
    ("sentence_transformer", "CachedGISTEmbedLoss"): [
        "cached_gist_retok", "cached_gist_same_tok_relative", "cached_gist_retok_dropout"],
    ("cross_encoder", "CachedMultipleNegativesRankingLoss"): ["cmnrl_triplets_sampled"],
    ("sparse_encoder", "CachedSpladeLoss"): ["cached_splade_mnrl", "cached_splade_margin_mse"],
}


@cache
def golden(kind: str) -> dict[str, Any]:
    return json.loads(GOLDEN_FILES[kind].read_text(encoding="utf-8"))


def exported_cached_losses() -> set[tuple[str, str]]:
    out = set()
    for kind in GOLDEN_FILES:
        module = importlib.import_module(f"embedkit.{kind}.losses")
        out |= {(kind, name) for name in module.__all__ if name.startswith("Cached")}
    return out


def test_every_exported_cached_loss_has_golden_cases():
    assert exported_cached_losses() == set(CACHED_GOLDENS)


def test_embedkit_exports_the_cached_losses_of_sentence_transformers():
    # The generator recorded sentence-transformers 6.2's Cached* classes per model type.
    recorded = golden("sentence_transformer")["st_cached_losses"]
    assert {(kind, name) for kind, names in recorded.items() for name in names} == exported_cached_losses()


def _loss_name(kind: str, case: dict[str, Any]) -> str:
    return case["outer"] if kind == "sparse_encoder" else case["loss"]


@pytest.mark.parametrize("kind, loss_name", sorted(CACHED_GOLDENS))
def test_golden_cases_run_that_loss_with_several_mini_batches(kind, loss_name):
    cases = {c["name"]: c for c in golden(kind)["cases"]}
    for name in CACHED_GOLDENS[kind, loss_name]:
        # Given a listed golden case; Then it exists, runs this loss, and holds a reference value and gradient norm
        assert name in cases, f"golden case {name!r} missing from {GOLDEN_FILES[kind].name}"
        case = cases[name]
        assert _loss_name(kind, case) == loss_name
        assert isinstance(case["expected"]["value"], float) and case["expected"]["grad_norm"] > 0
        # and the batch is split into more than one mini-batch (otherwise GradCache is not exercised)
        kwargs = case["outer_kwargs"] if kind == "sparse_encoder" else case["kwargs"]
        rows = len(case["columns"][0])
        assert kwargs["mini_batch_size"] < rows or kwargs.get("mini_batch_num_tokens"), name
