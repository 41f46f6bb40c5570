"""Every docstring example of the package runs: ``doctest`` on each module of ``reproduce/``
whose source holds a ``>>>`` line (the modules are found from the files, so a new example
is tested without an edit here)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from conftest import REPO

PACKAGE = REPO / "reproduce"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module(path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


WITH_EXAMPLES = sorted(_module(p) for p in PACKAGE.rglob("*.py") if ">>>" in p.read_text())


def test_examples_were_found():
    assert "reproduce.run_log" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)
    assert result.attempted > 0, f"{name}: no example was collected (a '>>>' outside a docstring?)"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
