"""Every ``Example:`` in embedkit's docstrings runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import embedkit

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(embedkit.__path__, prefix="embedkit.")
    if not info.name.endswith("__main__")
)


def test_the_package_has_modules_with_examples():
    assert len(MODULES) > 100


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
