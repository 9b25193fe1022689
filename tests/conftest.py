"""Collection rules of the test suite. Never imports torch.

Tests that need PyTorch live in modules named ``*_torch.py`` marked ``pytestmark = pytest.mark.torch`` (the
meta-test tests/test_suite_layout.py enforces both). Without torch installed:

* ``python -m pytest -m "not torch"`` ignores those modules at collection (they cannot even be imported), so
  the NumPy-only suite runs;
* any run that would select them stops with one clear message instead of an ``ImportError`` per module.

Tests marked ``mpi`` launch ``mpiexec -n 2`` subprocesses: without mpi4py or an ``mpiexec`` they are skipped
with the reason and the install command, and fail instead under ``BPTT_REQUIRE_MPI=1`` (CI sets it).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import re
import sys
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

from mpi_helpers import mpi_missing

TORCH_MISSING = (
    "PyTorch is not installed, but the selected tests include the torch-marked modules (*_torch.py).\n"
    'Install the test dependencies with  python -m pip install ".[test]"  or run the NumPy-only tests with\n'
    '  python -m pytest -m "not torch"'
)


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def deselects_torch(markexpr: str) -> bool:
    """True when the ``-m`` expression rejects every test marked ``torch``, whatever its other markers.

    The expression is evaluated with ``torch`` set and every combination of the other markers it names.
    """
    if not markexpr.strip():
        return False
    expr = Expression.compile(markexpr)
    others = sorted(set(_idents(expr, markexpr)) - {"torch"})
    for k in range(len(others) + 1):
        for on in itertools.combinations(others, k):
            if expr.evaluate(lambda name, on=set(on), **kwargs: not kwargs and (name == "torch" or name in on)):
                return False
    return True


def _idents(expr: Expression, markexpr: str) -> frozenset[str]:
    if hasattr(expr, "idents"):  # pytest >= 9
        return expr.idents()
    # older pytest: the identifiers of a -m expression are its words other than and/or/not

    return frozenset(w for w in re.findall(r"[\w.+-]+", markexpr) if w not in ("and", "or", "not"))


TORCH_MODULES_WITHOUT_TORCH = pytest.StashKey[list]()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without torch, skip importing the *_torch.py modules: deselected, or reported once after collection."""
    if not collection_path.name.endswith("_torch.py") or torch_installed():
        return None
    if not deselects_torch(config.option.markexpr or ""):
        config.stash.setdefault(TORCH_MODULES_WITHOUT_TORCH, []).append(collection_path.relative_to(config.rootpath))
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = config.stash.get(TORCH_MODULES_WITHOUT_TORCH, [])
    if missing:
        raise pytest.UsageError(f"{TORCH_MISSING}\n({len(missing)} torch-marked modules selected, e.g. {missing[0]})")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Test modules that imported torch directly get torch_helpers' one-thread limit too.

    Only when a collected module already loaded torch: this never imports torch itself.
    """
    if "torch" in sys.modules and "torch_helpers" not in sys.modules:
        importlib.import_module("torch_helpers")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``mpi`` tests need mpi4py and an mpiexec: a skip naming the install command, or a failure in CI."""
    if item.get_closest_marker("mpi") is None:
        return
    reason = mpi_missing()
    if reason is None:
        return
    if os.environ.get("BPTT_REQUIRE_MPI") == "1":
        pytest.fail(f"BPTT_REQUIRE_MPI=1: the MPI tests must run, but {reason} (pip install '.[mpi]')")
    pytest.skip(f"{reason}: the MPI tests (2 processes under mpiexec) need  pip install '.[mpi]'")
