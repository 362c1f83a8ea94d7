"""A Router sub-module path that resolves to the Router's own folder or an ancestor is refused with one error
(loading it would load the Router again without end, until memory runs out)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from embedkit import SentenceTransformer
from tests.conftest import FIXTURES

ROUTER = "sentence_transformers.base.modules.router.Router"


def router_folder(tmp_path, module_id, make_path=None):
    folder = tmp_path / "model"
    shutil.copytree(FIXTURES / "router_dense", folder)
    if make_path is not None:
        make_path(folder)
    config = json.loads((folder / "router_config.json").read_text())
    config["types"][module_id] = ROUTER
    config["structure"]["query"] = [module_id]
    (folder / "router_config.json").write_text(json.dumps(config))
    return folder


def nested_router(child_id, make_link=None):
    def make(folder):
        sub = folder / "sub"
        sub.mkdir()
        if make_link is not None:
            make_link(sub)
        (sub / "router_config.json").write_text(json.dumps(
            {"types": {child_id: ROUTER}, "structure": {"q": [child_id]}, "parameters": {}}))
    return make


@pytest.mark.parametrize("module_id, make_path, error", [
    ("a/..", lambda f: (f / "a").mkdir(), "is the Router's own folder"),
    ("loop", lambda f: os.symlink(".", f / "loop"), "is the Router's own folder"),
    ("sub", nested_router("."), "module path '.' is the Router's own folder"),
    ("sub", nested_router(".."), "module path '..' escapes the model folder"),
    ("sub", nested_router("up", lambda sub: os.symlink("..", sub / "up")), "module path 'up' escapes"),
])
def test_a_router_sub_module_in_its_own_folder_or_an_ancestor_is_refused(tmp_path, module_id, make_path, error):
    folder = router_folder(tmp_path, module_id, make_path)
    with pytest.raises(ValueError, match=error):
        SentenceTransformer(str(folder), device="cpu")


def test_a_legacy_asym_config_naming_its_own_folder_is_refused(tmp_path):
    folder = router_folder(tmp_path, ".")
    (folder / "router_config.json").rename(folder / "config.json")
    with pytest.raises(ValueError, match=r"config.json: module path '.' is the Router's own folder"):
        SentenceTransformer(str(folder), device="cpu")
