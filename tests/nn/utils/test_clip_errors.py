"""Bad arguments to ``clip_grad_norm_`` / ``clip_grad_value_`` are rejected with a clear exception.

``expect`` (tests/bad_input.py) checks the exact exception class, the message fragments in order, and that the
error is raised by bptt's own validation in ``src/bptt/nn``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import bptt.nn as nn
from bad_input import F32, expect, make
from bptt.nn import utils


# ---------------------------------------------------------------- gradient clipping
def _params() -> list[nn.Parameter]:
    ps = [nn.Parameter(np.zeros((2, 3), F32)), nn.Parameter(np.zeros(4, F32))]
    ps[0].grad[...] = 3.0
    ps[1].grad[...] = -2.0
    return ps


CLIPPERS = [
    ("clip_grad_norm_", lambda p: utils.clip_grad_norm_(p, 1.0)),
    ("clip_grad_value_", lambda p: utils.clip_grad_value_(p, 1.0)),
]


@pytest.mark.parametrize(("name", "clip"), CLIPPERS)
def test_clip_non_parameter_items(name: str, clip: Callable) -> None:
    ps = _params()
    expect(
        TypeError,
        lambda: clip([ps[0], ps[1].grad]),
        f"{name}: parameters must all be Parameters",
        "got ndarray at index 1",
    )
    expect(
        TypeError, lambda: clip([ps[0], None]), "parameters must all be Parameters", "got NoneType at index 1"
    )
    expect(
        TypeError,
        lambda: clip(np.float32(2.0)),
        f"{name}: parameters must be a Parameter or an iterable of Parameters",
        "got float32",
    )
    expect(TypeError, lambda: clip(5), "parameters must be a Parameter or an iterable", "got int")
    expect(
        TypeError, lambda: clip(make("Linear")), "parameters must be a Parameter or an iterable", "got Linear"
    )
    expect(TypeError, lambda: clip("weight"), "parameters must be a Parameter or an iterable", "got str")
    np.testing.assert_array_equal(ps[0].grad, 3.0)  # nothing clipped


@pytest.mark.parametrize("value", [-1.0, -1e-9, -3])
def test_clip_value_negative(value: float) -> None:
    ps = _params()
    expect(
        ValueError,
        lambda: utils.clip_grad_value_(ps, value),
        "clip_grad_value_: clip_value must be a float >= 0",
        f"got {float(value)}",
    )
    np.testing.assert_array_equal(ps[0].grad, 3.0)


def test_clip_value_bad_type_or_nan() -> None:
    ps = _params()
    expect(
        TypeError,
        lambda: utils.clip_grad_value_(ps, "1"),
        "clip_grad_value_: clip_value must be a float",
        "got str '1'",
    )
    expect(
        TypeError, lambda: utils.clip_grad_value_(ps, None), "clip_value must be a float", "got NoneType None"
    )
    expect(ValueError, lambda: utils.clip_grad_value_(ps, math.nan), "clip_value must not be NaN", "got nan")
    np.testing.assert_array_equal(ps[1].grad, -2.0)


@pytest.mark.parametrize("norm_type", [0, 0.0, -1.0, -math.inf])
@pytest.mark.parametrize("empty", [False, True])
def test_clip_norm_type_not_positive(norm_type: float, empty: bool) -> None:
    ps = [] if empty else _params()
    expect(
        ValueError,
        lambda: utils.clip_grad_norm_(ps, 1.0, norm_type=norm_type),
        "clip_grad_norm_: norm_type must be > 0 or inf",
        f"got {float(norm_type)}",
    )
    if ps:
        np.testing.assert_array_equal(ps[0].grad, 3.0)


def test_clip_norm_bad_arguments() -> None:
    ps = _params()
    expect(
        ValueError,
        lambda: utils.clip_grad_norm_(ps, 1.0, norm_type=math.nan),
        "norm_type must not be NaN",
        "got nan",
    )
    expect(
        TypeError,
        lambda: utils.clip_grad_norm_(ps, 1.0, norm_type="2"),
        "clip_grad_norm_: norm_type must be a float",
        "got str '2'",
    )
    expect(
        ValueError,
        lambda: utils.clip_grad_norm_(ps, -1.0),
        "clip_grad_norm_: max_norm must be >= 0",
        "got -1.0",
    )
    expect(
        TypeError,
        lambda: utils.clip_grad_norm_(ps, "1"),
        "clip_grad_norm_: max_norm must be a float",
        "got str '1'",
    )
    expect(ValueError, lambda: utils.clip_grad_norm_(ps, math.nan), "max_norm must not be NaN", "got nan")
    np.testing.assert_array_equal(ps[0].grad, 3.0)
    assert utils.clip_grad_norm_(ps, 1.0, norm_type=math.inf) == pytest.approx(3.0)
