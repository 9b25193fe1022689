"""``bptt.nn.utils.clip_grad_norm_`` and ``clip_grad_value_`` without PyTorch: single parameters, generators,
empty lists, bad input. The parity with ``torch.nn.utils`` lives in test_clip_torch.py.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from bptt.nn import Linear, Parameter
from bptt.nn.utils import clip_grad_norm_, clip_grad_value_


def test_clip_grad_norm_single_parameter_generator_and_empty() -> None:
    p = Parameter(np.zeros(4))
    p.grad[...] = [3.0, 4.0, 0.0, 0.0]
    assert clip_grad_norm_(p, 1.0) == 5.0
    np.testing.assert_allclose(p.grad, np.array([3.0, 4.0, 0.0, 0.0]) / (5.0 + 1e-6), rtol=1e-15)
    model = Linear(3, 2)
    for q in model.parameters():
        q.grad.fill(1.0)
    assert clip_grad_norm_(model.parameters(), 100.0) == pytest.approx(math.sqrt(8.0), rel=1e-15)
    assert clip_grad_norm_([], 1.0) == 0.0
    assert clip_grad_norm_(iter([]), 1.0, norm_type=math.inf) == 0.0
    # an empty gradient contributes nothing to the inf-norm (PyTorch raises on it instead)
    assert clip_grad_norm_([Parameter(np.zeros((0,))), p], 10.0, norm_type=math.inf) == 4.0 / (5.0 + 1e-6)


def test_clip_grad_value_single_parameter() -> None:
    p = Parameter(np.zeros(3))
    p.grad[...] = [-2.0, 0.5, 3.0]
    clip_grad_value_(p, 1)
    np.testing.assert_array_equal(p.grad, [-1.0, 0.5, 1.0])


BAD_NORM = [
    (dict(max_norm="1"), TypeError, "clip_grad_norm_: max_norm must be a float, got str '1'"),
    (dict(max_norm=None), TypeError, "clip_grad_norm_: max_norm must be a float, got NoneType None"),
    (dict(max_norm=True), TypeError, "clip_grad_norm_: max_norm must be a float, got bool True"),
    (dict(max_norm=math.nan), ValueError, "clip_grad_norm_: max_norm must not be NaN, got nan"),
    (dict(max_norm=-1.0), ValueError, "clip_grad_norm_: max_norm must be >= 0, got -1.0"),
    (dict(max_norm=1.0, norm_type=0), ValueError, "clip_grad_norm_: norm_type must be > 0 or inf, got 0.0"),
    (dict(max_norm=1.0, norm_type=-2), ValueError, "clip_grad_norm_: norm_type must be > 0 or inf, got -2.0"),
    (
        dict(max_norm=1.0, norm_type="fro"),
        TypeError,
        "clip_grad_norm_: norm_type must be a float, got str 'fro'",
    ),
    (dict(max_norm=1.0, norm_type=math.nan), ValueError, "clip_grad_norm_: norm_type must not be NaN"),
]


@pytest.mark.parametrize(("kw", "exc", "message"), BAD_NORM, ids=[m for _, _, m in BAD_NORM])
def test_clip_grad_norm_bad_inputs(kw: dict[str, Any], exc: type, message: str) -> None:
    p = Parameter(np.ones(3))
    p.grad.fill(2.0)
    with pytest.raises(exc, match=re.escape(message)):
        clip_grad_norm_([p], **kw)
    assert np.array_equal(p.grad, np.full(3, 2.0))  # nothing was changed


BAD_VALUE = [
    (-1.0, ValueError, "clip_grad_value_: clip_value must be a float >= 0, got -1.0"),
    (math.nan, ValueError, "clip_grad_value_: clip_value must not be NaN, got nan"),
    ("1", TypeError, "clip_grad_value_: clip_value must be a float, got str '1'"),
    (None, TypeError, "clip_grad_value_: clip_value must be a float, got NoneType None"),
]


@pytest.mark.parametrize(("clip_value", "exc", "message"), BAD_VALUE, ids=[m for _, _, m in BAD_VALUE])
def test_clip_grad_value_bad_inputs(clip_value: Any, exc: type, message: str) -> None:
    p = Parameter(np.ones(3))
    p.grad.fill(2.0)
    with pytest.raises(exc, match=re.escape(message)):
        clip_grad_value_([p], clip_value)
    assert np.array_equal(p.grad, np.full(3, 2.0))


@pytest.mark.parametrize("fn", [lambda ps: clip_grad_norm_(ps, 1.0), lambda ps: clip_grad_value_(ps, 1.0)])
def test_bad_parameters(fn: Any) -> None:
    with pytest.raises(TypeError, match=r"parameters must all be Parameters, got ndarray at index 1"):
        fn([Parameter(np.ones(2)), np.ones(2)])
    with pytest.raises(TypeError, match=r"parameters must be a Parameter or an iterable of Parameters"):
        fn(3.0)
