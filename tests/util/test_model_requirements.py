"""A model folder's ``requirements`` (config_sentence_transformers.json) are checked on load, for the packages
embedkit runs with, by every model type; requirements on packages embedkit does not use are not checked."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from embedkit import CrossEncoder, SentenceTransformer, SparseEncoder

FIX = Path(__file__).resolve().parents[1] / "fixtures"
LOADERS = [(SentenceTransformer, "tiny_bert_v6"), (CrossEncoder, "ce_bert1"), (SparseEncoder, "se_bert_v6")]


def with_requirements(tmp_path: Path, folder: str, requirements: object) -> Path:
    target = tmp_path / folder
    shutil.copytree(FIX / folder, target)
    config_path = target / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["requirements"] = requirements
    config_path.write_text(json.dumps(config))
    return target


@pytest.mark.parametrize("cls,folder", LOADERS)
def test_unmet_runtime_requirement_refuses_the_model(tmp_path, cls, folder):
    path = with_requirements(tmp_path, folder, {"torch": ">=999", "python": {"specifier": ">=3.0"}})
    with pytest.raises(ImportError, match=r"torch>=999, but torch==.* is installed"):
        cls(path, device="cpu")


@pytest.mark.parametrize("cls,folder", LOADERS)
def test_met_and_foreign_requirements_load(tmp_path, cls, folder, caplog):
    path = with_requirements(tmp_path, folder, {"torch": ">=1.0", "tokenizers": "", "transformers": ">=999",
                                                "sentence-transformers": ">=99"})
    with caplog.at_level(logging.INFO, logger="embedkit.util.environment"):
        model = cls(path, device="cpu")
    assert model is not None
    assert "['sentence-transformers', 'transformers']: embedkit does not use these packages" in caplog.text


def test_malformed_requirements_warn_and_load(tmp_path, caplog):
    path = with_requirements(tmp_path, "tiny_bert_v6", ["torch>=999"])
    with caplog.at_level(logging.WARNING):
        SentenceTransformer(path, device="cpu")
    assert "expected a dictionary of version specifiers" in caplog.text
