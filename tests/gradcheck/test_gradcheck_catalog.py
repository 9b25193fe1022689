"""``bptt.gradcheck.CATALOG``: every hand-derived backward pass of both tiers, each passing finite differences.

Coverage is measured, not declared: the catalog's checks run under :func:`sys.setprofile`, and every public
backward function (``backward``, ``step_backward``, ``*_backward``) of every module in
:mod:`bptt.functional` and :mod:`bptt.functional.reference` must have been called by some entry.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import numpy as np
import pytest

import bptt.functional
import bptt.functional.reference
from bptt.gradcheck import CATALOG, CatalogEntry, GradcheckReport, Sizes, catalog


def _functional_modules() -> list:
    mods = []
    for package in (bptt.functional, bptt.functional.reference):
        for info in pkgutil.iter_modules(package.__path__):
            mod = importlib.import_module(f"{package.__name__}.{info.name}")
            if not info.ispkg:
                mods.append(mod)
    return mods


def _backward_functions(module) -> list:
    return [f for name, f in vars(module).items()
            if inspect.isfunction(f) and f.__module__ == module.__name__ and not name.startswith("_")
            and (name == "backward" or name.endswith("_backward"))]


@pytest.mark.parametrize("entry", CATALOG, ids=[e.name for e in CATALOG])
def test_every_entry_passes_finite_differences(entry: CatalogEntry):
    report = entry.check(np.random.default_rng(0), Sizes())
    assert isinstance(report, GradcheckReport) and report.ok
    inputs, _ = entry.arguments(np.random.default_rng(0), Sizes())
    floats = {n for n, a in zip(entry.names, inputs)
              if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)}
    assert set(report.errors) == floats, f"{entry.name}: checked {sorted(report.errors)}, float inputs {floats}"


def test_every_backward_of_both_tiers_is_exercised():
    called: set = set()

    def profiler(frame, event, arg):
        if event == "call":
            called.add(frame.f_code)

    rng = np.random.default_rng(1)
    sys.setprofile(profiler)
    try:
        for entry in CATALOG:
            entry.check(rng, Sizes(steps=2, batch=2, input_size=2, hidden_size=3), max_elements=1)
    finally:
        sys.setprofile(None)
    modules = _functional_modules()
    with_backward = [m for m in modules if _backward_functions(m)]
    names = {m.__name__.rsplit(".", 1)[1] for m in with_backward}
    assert {"lstm", "gru", "rnn", "ln_lstm", "attention", "cross_entropy", "linear"} <= names  # the scan works
    missing = [f"{m.__name__}.{f.__name__}" for m in with_backward for f in _backward_functions(m)
               if f.__code__ not in called]
    assert not missing, f"backward passes no catalog entry runs: {missing}"
    covered = {e.module for e in CATALOG}
    assert set(with_backward) <= covered, {m.__name__ for m in with_backward} - {m.__name__ for m in covered}


def test_each_recurrent_entry_has_its_textbook_twin():
    fast = {e.name: e for e in CATALOG if e.tier == "fast"}
    reference = {e.name: e for e in CATALOG if e.tier == "reference"}
    assert reference, "no textbook entries"
    for name, entry in reference.items():
        twin = fast[name.removeprefix("reference ")]
        assert twin.arguments is entry.arguments and twin.names == entry.names
        assert entry.module.__name__ == "bptt.functional.reference." + twin.module.__name__.rsplit(".", 1)[1]
    assert len({e.name for e in CATALOG}) == len(CATALOG)


def test_cases_are_the_command_line_tuples():
    cases = catalog.cases(np.random.default_rng(0), steps=3, batch=2, input_size=4, hidden_size=5)
    assert [c.name for c in cases] == [e.name for e in CATALOG]
    name, op, inputs, kwargs, names = cases[[c.name for c in cases].index("lstm")]
    assert op.forward is bptt.functional.lstm.forward and names[:3] == ("x", "h0", "c0")
    assert inputs[0].shape == (3, 2, 4) and inputs[3].shape == (20, 4)
    report = bptt.gradcheck.check_function(op.forward, op.backward, inputs, kwargs=kwargs, names=names)
    assert report.ok


def test_a_wrong_backward_fails_its_entry():
    """The catalog's checks can fail: an LSTM backward whose dW_hh is off by 1e-4 is caught."""
    entry = next(e for e in CATALOG if e.name == "reference lstm")

    def wrong_backward(dout, cache):
        g = entry.backward(dout, cache)
        return g._replace(dW_hh=g.dW_hh * 1.0001)

    bad = CatalogEntry(entry.name, entry.module, entry.forward, wrong_backward, entry.arguments, entry.names)
    report = bad.check(np.random.default_rng(0), raise_on_failure=False)
    assert report.failures == ["W_hh"]
