"""Every ``Example:`` in embedkit's docstrings runs and prints what it shows.

The examples run in an empty working directory and may read nothing of the repository (no ``tests/fixtures``): they
build what they need (a model from all-MiniLM-L6-v2 via ``default_model_path()``, files in a temporary folder), so
they run from an installed wheel too. The only skipped examples are listed in ``SKIPPED`` with the reason.
"""

import doctest
import importlib
import pkgutil
import re

import pytest

import embedkit

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(embedkit.__path__, prefix="embedkit.")
    if not info.name.endswith("__main__")
)

# Docstring -> why its examples carry ``# doctest: +SKIP``. Nothing else may skip.
SKIPPED = {
    "embedkit.base.model.BaseModel.start_multi_process_pool":
        "starts worker processes (seconds each; needs a __main__ guard in scripts); tests/test_multiprocess.py",
}

# What an example must not contain: paths into the repository or this machine.
REPOSITORY_PATHS = re.compile(
    r"tests/fixtures|[\"']tests[\"']\s*/|[\"']fixtures[\"']|/work/|__file__\)\.parent\.parent")


def docstring_tests(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [test for test in doctest.DocTestFinder().find(module) if test.examples]


def test_the_package_has_modules_with_examples():
    assert len(MODULES) > 100


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path into the repository cannot resolve
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_examples_read_nothing_of_the_repository_and_only_listed_ones_skip():
    offending, skipping = [], set()
    for name in MODULES:
        for test in docstring_tests(name):
            offending += [f"{test.name}: {ex.source.strip()}" for ex in test.examples
                          if REPOSITORY_PATHS.search(ex.source)]
            if any(ex.options.get(doctest.SKIP) for ex in test.examples):
                skipping.add(test.name)
    assert offending == []
    assert skipping == set(SKIPPED)
