"""Shared helpers for the library's bad-input tests (tests/nn/test_errors_*.py): NumPy only.

``expect`` checks three things for every case:

* the exception class (``ValueError`` for bad values/shapes, ``TypeError`` for bad types/dtypes,
  ``RuntimeError`` for a backward without its forward), exactly, not a subclass;
* the message names the argument, the expected value and the actual value (the given fragments, in order);
* the exception is raised by bptt's own validation in ``src/bptt/nn`` (the innermost traceback frame), never
  by NumPy or Python internals deep inside the computation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bptt.nn as nn

NN_DIR = Path(nn.__file__).resolve().parent

IN, H, T, B = 3, 4, 5, 2
F32, F64 = np.float32, np.float64

RECURRENT = ["LSTM", "GRU", "RNN"]
CELLS = ["LSTMCell", "GRUCell", "RNNCell"]


def expect(exc: type[BaseException], fn: Callable[..., Any], *fragments: str) -> pytest.ExceptionInfo:
    """Call ``fn``: require ``exc``, its message holding ``fragments`` in order, raised inside ``bptt.nn``."""
    pattern = ".*".join(re.escape(f) for f in fragments)
    with pytest.raises(exc, match=pattern) as excinfo:
        fn()
    assert type(excinfo.value) is exc, f"expected exactly {exc.__name__}, got {type(excinfo.value).__name__}"
    origin = Path(str(excinfo.traceback[-1].path)).resolve()
    assert origin.is_relative_to(NN_DIR), f"raised from {origin}, not from bptt's validation in {NN_DIR}"
    return excinfo


def make(name: str, **kw: Any) -> Any:
    """A small module of class ``name`` with a fixed seed."""
    kw.setdefault("rng", 0)
    cls = getattr(nn, name)
    if name in RECURRENT or name in CELLS:
        return cls(IN, H, **kw)
    if name == "Linear":
        return cls(IN, 5, **kw)
    if name == "Embedding":
        return cls(5, H, **kw)
    raise AssertionError(name)


def x_seq(dtype: Any = F32, shape: tuple = (T, B, IN)) -> np.ndarray:
    """A fixed random input sequence, (T, B, IN) by default."""
    return np.random.default_rng(1).standard_normal(shape).astype(dtype)


def state(shape: tuple = (1, B, H), dtype: Any = F32) -> np.ndarray:
    """A zero hidden state, (1, B, H) by default."""
    return np.zeros(shape, dtype=dtype)


def hx_for(name: str, h: np.ndarray) -> Any:
    """The initial state argument of module class ``name``: ``(h, c)`` for an LSTM, ``h`` otherwise."""
    return (h, h.copy()) if name == "LSTM" else h


def all_grads_zero(module: nn.Module) -> bool:
    return all(not p.grad.any() for p in module.parameters())
