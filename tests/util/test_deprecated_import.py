"""The sentence-transformers 5.x import paths: every entry of the alias table, checked one by one."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from embedkit.util.deprecated_import import DEPRECATED_MODULE_PATHS

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "embedkit"


def test_table_shape():
    # sentence-transformers 6.2 lists 133 deprecated paths; embedkit serves each of them
    assert len(DEPRECATED_MODULE_PATHS) == 133
    for old, new in DEPRECATED_MODULE_PATHS.items():
        assert old.startswith("embedkit.") and new.startswith("embedkit.")
        assert new not in DEPRECATED_MODULE_PATHS, f"{old} -> {new} is a chain"


@pytest.mark.parametrize("new", sorted(set(DEPRECATED_MODULE_PATHS.values())))
def test_every_target_is_a_module_file_of_embedkit(new):
    spec = importlib.util.find_spec(new)
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(PACKAGE_DIR)


@pytest.mark.parametrize(("old", "new"), sorted(DEPRECATED_MODULE_PATHS.items()))
def test_old_path_is_the_new_module_and_warns(old, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    expected = (f"Importing from '{old}' is deprecated and will be removed in a future version. "
                f"Please use '{new}' instead.")
    assert expected in messages
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target = importlib.import_module(new)
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert module is target
    assert module.__spec__.name == new  # the alias does not rename the module


CLASS_PATHS = sorted(old for old in DEPRECATED_MODULE_PATHS if old.rpartition(".")[2][:1].isupper())

ORDER_SCRIPT = """
import importlib, json, sys, warnings
warnings.simplefilter("ignore")
paths, full_first = json.loads(sys.argv[1]), sys.argv[2] == "full"
bad = []
for path in paths:
    parent, _, name = path.rpartition(".")
    steps = [path, parent] if full_first else [parent, path]
    mods = {p: importlib.import_module(p) for p in steps}
    from_parent, from_module = getattr(mods[parent], name, None), getattr(mods[path], name, None)
    if from_parent is None or from_module is None or from_parent is not from_module:
        bad.append([path, repr(from_parent), repr(from_module)])
print(json.dumps(bad))
"""


@pytest.mark.parametrize("order", ["full", "parent"])
def test_class_named_paths_keep_the_class_on_the_parent(order):
    """`from embedkit.SentenceTransformer import SentenceTransformer` must not turn `embedkit.SentenceTransformer` into
    a module, whichever of the two imports comes first (a fresh interpreter for each order)."""
    assert len(CLASS_PATHS) > 80
    out = subprocess.run([sys.executable, "-c", ORDER_SCRIPT, json.dumps(CLASS_PATHS), order], capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_package_import_stays_light():
    out = subprocess.run([sys.executable, "-c", "import sys, embedkit, embedkit.util; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
