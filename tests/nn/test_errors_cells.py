"""Bad input to the recurrent cells (LSTMCell, GRUCell, RNNCell) is rejected with a clear exception.

``expect`` (tests/bad_input.py) checks the exact exception class, the message fragments (argument, expected,
actual) in order, and that the error is raised by bptt's own validation in ``src/bptt/nn``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bad_input import CELLS, F32, F64, IN, B, H, T, all_grads_zero, expect, make, x_seq


# ---------------------------------------------------------------- cells
def _cell_h(cls: str, h: np.ndarray) -> Any:
    return (h, h.copy()) if cls == "LSTMCell" else h


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("shape", "shown"),
    [
        ((B, IN + 1), f"({B}, {IN + 1})"),
        ((T, B, IN), f"({T}, {B}, {IN})"),
        ((IN + 1,), f"({IN + 1},)"),
        ((), "()"),
    ],
)
def test_cell_x_wrong_shape(cls: str, shape: tuple, shown: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(shape=shape)),
        f"{cls}.forward: x must have shape (B, {IN}) or ({IN},)",
        f"(input_size={IN})",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", CELLS)
def test_cell_x_empty_batch(cls: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(np.zeros((0, IN), F32)),
        f"{cls}.forward: x must have at least one sequence",
        "B >= 1",
        f"got shape (0, {IN})",
    )


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("x_shape", "bad", "exp"),
    [
        ((B, IN), (B + 1, H), (B, H)),
        ((B, IN), (B, H + 1), (B, H)),
        ((B, IN), (H,), (B, H)),  # unbatched state with batched x
        ((IN,), (1, H), (H,)),  # batched state with unbatched x
        ((IN,), (B, H), (H,)),
    ],
)
def test_cell_hx_wrong_shape(cls: str, x_shape: tuple, bad: tuple, exp: tuple) -> None:
    m = make(cls)
    x = x_seq(shape=x_shape)
    if cls == "LSTMCell":
        good = np.zeros(exp, F32)
        expect(
            ValueError,
            lambda: m(x, (np.zeros(bad, F32), good)),
            f"{cls}.forward: h0 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
        expect(
            ValueError,
            lambda: m(x, (good, np.zeros(bad, F32))),
            f"{cls}.forward: c0 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
    else:
        expect(
            ValueError,
            lambda: m(x, np.zeros(bad, F32)),
            f"{cls}.forward: h0 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
    m(x, _cell_h(cls, np.zeros(exp, F32)))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_hx_wrong_dtype(cls: str) -> None:
    m = make(cls)
    bad = np.zeros((B, H), F64)
    expect(
        TypeError,
        lambda: m(x_seq(shape=(B, IN)), _cell_h(cls, bad)),
        f"{cls}.forward: h0 must have dtype float32",
        "got float64",
    )


def test_lstm_cell_hx_not_a_pair() -> None:
    m = make("LSTMCell")
    x, h = x_seq(shape=(B, IN)), np.zeros((B, H), F32)
    expect(TypeError, lambda: m(x, h), "LSTMCell.forward: hx must be a tuple (h0, c0)", "got ndarray")
    expect(TypeError, lambda: m(x, (h, h, h)), "hx must be a tuple (h0, c0)", "got a tuple of length 3")


@pytest.mark.parametrize("cls", ["GRUCell", "RNNCell"])
def test_gru_rnn_cell_hx_given_as_tuple(cls: str) -> None:
    m = make(cls)
    h = np.zeros((B, H), F32)
    expect(
        TypeError,
        lambda: m(x_seq(shape=(B, IN)), (h, h)),
        f"{cls}.forward: hx must be a single array h0 for {cls}",
        "got a tuple",
    )


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("x_shape", "bad", "exp"),
    [((B, IN), (B, H + 1), (B, H)), ((B, IN), (B + 1, H), (B, H)), ((IN,), (1, H), (H,))],
)
def test_cell_backward_wrong_shape(cls: str, x_shape: tuple, bad: tuple, exp: tuple) -> None:
    m = make(cls)
    m(x_seq(shape=x_shape))
    expect(
        ValueError,
        lambda: m.backward(np.ones(bad, F32)),
        f"{cls}.backward: dh1 must have shape {str(exp)}",
        f"got {str(bad)}",
    )
    if cls == "LSTMCell":
        expect(
            ValueError,
            lambda: m.backward(None, np.ones(bad, F32)),
            f"{cls}.backward: dc1 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
    assert all_grads_zero(m)
    m.backward(np.ones(exp, F32))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_backward_wrong_dtype(cls: str) -> None:
    m = make(cls)
    m(x_seq(shape=(B, IN)))
    expect(
        TypeError,
        lambda: m.backward(np.ones((B, H), F64)),
        f"{cls}.backward: dh1 must have dtype float32",
        "got float64",
    )
    expect(
        TypeError, lambda: m.backward(np.ones((B, H), np.int64)), "dh1 must have dtype float32", "got int64"
    )
