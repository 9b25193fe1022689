"""Bad input to the recurrent modules' forward and backward (LSTM, GRU, RNN) is rejected with a clear exception.

``expect`` (tests/bad_input.py) checks the exact exception class, the message fragments (argument, expected,
actual) in order, and that the error is raised by bptt's own validation in ``src/bptt/nn`` (never by NumPy or
Python internals deep inside the computation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import bptt.nn as nn
from bad_input import CELLS, F32, F64, IN, RECURRENT, B, H, T, all_grads_zero, expect, hx_for, make, state, x_seq


# ---------------------------------------------------------------- recurrent forward
@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("shape", [(IN,), (T, B, IN, 1), (T, B, 1, IN), ()])
def test_recurrent_x_wrong_rank(cls: str, shape: tuple) -> None:
    m = make(cls)
    shown = str(shape)
    expect(
        ValueError,
        lambda: m(x_seq(shape=shape)),
        f"{cls}.forward: x must have shape (T, B, {IN})",
        f"(input_size={IN}",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("shape", "shown"),
    [
        ((T, B, IN + 1), f"({T}, {B}, {IN + 1})"),
        ((T, B, IN - 1), f"({T}, {B}, {IN - 1})"),
        ((T, IN + 2), f"({T}, {IN + 2})"),
    ],
)
def test_recurrent_x_wrong_last_dim(cls: str, shape: tuple, shown: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(shape=shape)),
        f"{cls}.forward: x must have shape (T, B, {IN})",
        f"(input_size={IN}",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_x_wrong_last_dim_batch_first(cls: str) -> None:
    m = make(cls, batch_first=True)
    expect(
        ValueError,
        lambda: m(x_seq(shape=(B, T, IN + 1))),
        f"x must have shape (B, T, {IN})",
        "batch_first=True",
        f"got ({B}, {T}, {IN + 1})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("module_dtype", "x_dtype"),
    [
        (F32, F64),
        (F64, F32),
        (F32, np.int64),
        (F32, np.int32),
        (F64, np.float16),
        (F32, bool),
        (F32, np.complex64),
    ],
)
def test_recurrent_x_wrong_dtype(cls: str, module_dtype: Any, x_dtype: Any) -> None:
    m = make(cls, dtype=module_dtype)
    x = x_seq(F64).astype(x_dtype)
    expect(
        TypeError,
        lambda: m(x),
        f"{cls}.forward: x must have dtype {np.dtype(module_dtype)}",
        f"got {np.dtype(x_dtype)}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("shape", [(0, B, IN), (T, 0, IN), (0, IN)])
def test_recurrent_empty_time_or_batch(cls: str, shape: tuple) -> None:
    m = make(cls)
    shown = str(shape)
    expect(
        ValueError,
        lambda: m(np.zeros(shape, F32)),
        f"{cls}.forward: x must have at least one time step",
        "T >= 1, B >= 1",
        f"got shape {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_empty_batch_first(cls: str) -> None:
    m = make(cls, batch_first=True)
    expect(
        ValueError,
        lambda: m(np.zeros((0, T, IN), F32)),
        "x must have at least one time step",
        f"got shape (0, {T}, {IN})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_x_not_array_like(cls: str) -> None:
    m = make(cls)
    expect(
        TypeError, lambda: m(None), f"{cls}.forward: x must be a numpy.ndarray of dtype float32", "got None"
    )
    expect(
        ValueError,
        lambda: m([[[0.0] * IN], [[0.0] * IN] * 2]),
        "x must be a numpy.ndarray",
        "regular (rectangular) shape",
        "got a ragged list",
    )
    expect(TypeError, lambda: m([[["a"] * IN] * B] * T), "x must have dtype float32", "got <U1")
    expect(TypeError, lambda: m(x_seq().astype(object)), "x must have dtype float32", "got object")


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_x_nested_list_of_numbers_is_accepted(cls: str) -> None:
    m = make(cls)
    out, _ = m(x_seq(F64).tolist())
    assert out.dtype == np.float32 and out.shape == (T, B, H)


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("kwargs", "bad", "good"),
    [
        ({}, (2, B, H), (1, B, H)),  # wrong num_layers * num_directions
        ({"num_layers": 2}, (1, B, H), (2, B, H)),
        ({"bidirectional": True}, (1, B, H), (2, B, H)),
        ({"num_layers": 2, "bidirectional": True}, (2, B, H), (4, B, H)),
        ({}, (1, B + 1, H), (1, B, H)),  # wrong batch
        ({}, (1, B, H + 1), (1, B, H)),  # wrong hidden
        ({}, (B, H), (1, B, H)),  # wrong rank
    ],
)
def test_recurrent_hx_wrong_shape(cls: str, kwargs: dict, bad: tuple, good: tuple) -> None:
    m = make(cls, **kwargs)
    x = x_seq()
    exp = str(good)
    got = str(bad)
    note = "(num_layers * num_directions, batch, hidden_size)"
    if cls == "LSTM":
        expect(
            ValueError,
            lambda: m(x, (state(bad), state(good))),
            f"{cls}.forward: h0 must have shape {exp}",
            note,
            f"got {got}",
        )
        expect(
            ValueError,
            lambda: m(x, (state(good), state(bad))),
            f"{cls}.forward: c0 must have shape {exp}",
            note,
            f"got {got}",
        )
    else:
        expect(
            ValueError,
            lambda: m(x, state(bad)),
            f"{cls}.forward: h0 must have shape {exp}",
            note,
            f"got {got}",
        )
    m(x, hx_for(cls, state(good)))  # the right shape works


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(("module_dtype", "h_dtype"), [(F32, F64), (F64, F32), (F32, np.int64)])
def test_recurrent_hx_wrong_dtype(cls: str, module_dtype: Any, h_dtype: Any) -> None:
    m = make(cls, dtype=module_dtype)
    x = x_seq(module_dtype)
    bad, good = state(dtype=h_dtype), state(dtype=module_dtype)
    exp, got = f"must have dtype {np.dtype(module_dtype)}", f"got {np.dtype(h_dtype)}"
    if cls == "LSTM":
        expect(TypeError, lambda: m(x, (bad, good)), f"{cls}.forward: h0 {exp}", got)
        expect(TypeError, lambda: m(x, (good, bad)), f"{cls}.forward: c0 {exp}", got)
    else:
        expect(TypeError, lambda: m(x, bad), f"{cls}.forward: h0 {exp}", got)


def test_lstm_hx_not_a_pair() -> None:
    m = make("LSTM")
    x, h = x_seq(), state()
    expect(TypeError, lambda: m(x, h), "LSTM.forward: hx must be a tuple (h0, c0) for LSTM", "got ndarray")
    expect(TypeError, lambda: m(x, (h,)), "hx must be a tuple (h0, c0)", "got a tuple of length 1")
    expect(TypeError, lambda: m(x, (h, h, h)), "hx must be a tuple (h0, c0)", "got a tuple of length 3")
    expect(TypeError, lambda: m(x, {"h0": h, "c0": h}), "hx must be a tuple (h0, c0)", "got dict")
    expect(TypeError, lambda: m(x, (None, h)), "h0 must be a numpy.ndarray", "got None")


@pytest.mark.parametrize("cls", ["GRU", "RNN"])
def test_gru_rnn_hx_given_as_tuple(cls: str) -> None:
    m = make(cls)
    h = state()
    expect(
        TypeError,
        lambda: m(x_seq(), (h, h)),
        f"{cls}.forward: hx must be a single array h0 for {cls}",
        "got a tuple",
    )
    expect(TypeError, lambda: m(x_seq(), (h,)), "hx must be a single array h0", "got a tuple")


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_hx_batched_but_x_unbatched(cls: str) -> None:
    m = make(cls)
    x = x_seq(shape=(T, IN))
    expect(
        ValueError,
        lambda: m(x, hx_for(cls, state((1, B, H)))),
        f"{cls}.forward: h0 must have shape (1, {H})",
        "hidden_size for unbatched input",
        f"got (1, {B}, {H})",
    )
    expect(
        ValueError,
        lambda: m(x, hx_for(cls, state((1, 1, H)))),
        f"h0 must have shape (1, {H})",
        f"got (1, 1, {H})",
    )
    m(x, hx_for(cls, state((1, H))))


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_hx_unbatched_but_x_batched(cls: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(), hx_for(cls, state((1, H)))),
        f"{cls}.forward: h0 must have shape (1, {B}, {H})",
        "batch",
        f"got (1, {H})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_batch_first_layout_mismatch(cls: str) -> None:
    m = make(cls, batch_first=True)
    x_time_major = x_seq(shape=(T, B, IN))  # (T, B, D) given to a batch_first module: read as B=T, T=B
    h = state((1, B, H))
    expect(
        ValueError,
        lambda: m(x_time_major, hx_for(cls, h)),
        f"h0 must have shape (1, {T}, {H})",
        "batch is x.shape[0] since batch_first=True",
        f"got (1, {B}, {H})",
    )
    expect(
        ValueError,
        lambda: m(x_time_major, lengths=np.full(B, T)),
        f"lengths must have shape ({T},)",
        "batch is x.shape[0] since batch_first=True",
        f"got ({B},)",
    )
    out, _ = m(x_seq(shape=(B, T, IN)), hx_for(cls, h), lengths=np.full(B, T))  # the right layout works
    assert out.shape == (B, T, H)


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_lengths_wrong_shape(cls: str) -> None:
    m = make(cls)
    x = x_seq()
    expect(
        ValueError,
        lambda: m(x, lengths=np.array([T] * (B + 1))),
        f"{cls}.forward: lengths must have shape ({B},)",
        f"got ({B + 1},)",
    )
    expect(
        ValueError,
        lambda: m(x, lengths=np.full((1, B), T)),
        f"lengths must have shape ({B},)",
        f"got (1, {B})",
    )
    expect(ValueError, lambda: m(x, lengths=T), f"lengths must have shape ({B},)", "got ()")


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("lengths", "shown"),
    [
        (np.array([3.0, 5.0]), "float64"),
        (np.array([True, True]), "bool"),
        ([3.5, 2.0], "float64"),
        (["3", "2"], "<U1"),
    ],
)
def test_recurrent_lengths_wrong_dtype(cls: str, lengths: Any, shown: str) -> None:
    m = make(cls)
    expect(
        TypeError,
        lambda: m(x_seq(), lengths=lengths),
        f"{cls}.forward: lengths must be an integer array",
        f"of shape ({B},)",
        f"got dtype {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("lengths", "shown"),
    [([0, 3], "min 0 and max 3"), ([3, T + 1], f"min 3 and max {T + 1}"), ([-1, 2], "min -1 and max 2")],
)
def test_recurrent_lengths_out_of_range(cls: str, lengths: list, shown: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(), lengths=np.array(lengths)),
        f"{cls}.forward: lengths must be in [1, {T}] (T={T})",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_failed_forward_leaves_no_cache(cls: str) -> None:
    m = make(cls)
    with pytest.raises(ValueError):
        m(x_seq(), lengths=np.array([0, 1]))
    assert m._caches == []
    expect(RuntimeError, lambda: m.backward(np.zeros((T, B, H), F32)), f"{cls}.backward: no forward pass")


# ---------------------------------------------------------------- recurrent backward
@pytest.mark.parametrize("cls", RECURRENT + CELLS + ["Linear", "Embedding", "Dropout", "CrossEntropyLoss"])
def test_backward_before_forward(cls: str) -> None:
    m = {"Dropout": lambda: nn.Dropout(0.5, rng=0), "CrossEntropyLoss": nn.CrossEntropyLoss}.get(
        cls, lambda: make(cls)
    )()
    expect(
        RuntimeError,
        lambda: m.backward(np.zeros(1, F32)),
        f"{cls}.backward: no forward pass to differentiate",
        "call the module first",
    )


def _forward_once(cls: str, m: Any) -> Any:
    """Run one forward; return a matching valid upstream gradient for backward."""
    if cls in RECURRENT:
        out, _ = m(x_seq())
        return (np.ones_like(out),)
    if cls in CELLS:
        h = m(x_seq(shape=(B, IN)))
        h = h[0] if isinstance(h, tuple) else h
        return (np.ones_like(h),)
    if cls == "Linear":
        return (np.ones_like(m(x_seq(shape=(B, IN)))),)
    if cls == "Embedding":
        return (np.ones_like(m(np.array([[0, 1, 2]]))),)
    if cls == "Dropout":
        return (np.ones_like(m(np.ones((B, 3), F32))),)
    if cls == "CrossEntropyLoss":
        m(np.zeros((B, 3), F32), np.array([0, 1]))
        return ()
    raise AssertionError(cls)


@pytest.mark.parametrize("cls", RECURRENT + CELLS + ["Linear", "Embedding", "Dropout", "CrossEntropyLoss"])
def test_backward_twice_after_one_forward(cls: str) -> None:
    m = {"Dropout": lambda: nn.Dropout(0.5, rng=0), "CrossEntropyLoss": nn.CrossEntropyLoss}.get(
        cls, lambda: make(cls)
    )()
    grad = _forward_once(cls, m)
    m.backward(*grad)
    expect(
        RuntimeError,
        lambda: m.backward(*grad),
        f"{cls}.backward: no forward pass to differentiate",
        "each backward consumes one forward call",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("kwargs", "good", "bad"),
    [
        ({}, (T, B, H), (T, B, H + 1)),
        ({}, (T, B, H), (T + 1, B, H)),
        ({}, (T, B, H), (B, T, H)),
        ({}, (T, B, H), (T, B)),
        ({"batch_first": True}, (B, T, H), (T, B, H)),
        ({"bidirectional": True}, (T, B, 2 * H), (T, B, H)),
    ],
)
def test_recurrent_dout_wrong_shape(cls: str, kwargs: dict, good: tuple, bad: tuple) -> None:
    m = make(cls, **kwargs)
    m(x_seq(shape=(B, T, IN)) if kwargs.get("batch_first") else x_seq())
    exp = str(good)
    got = str(bad)
    expect(
        ValueError,
        lambda: m.backward(np.ones(bad, F32)),
        f"{cls}.backward: dout must have shape {exp}",
        "(the output's shape)",
        f"got {got}",
    )
    assert all_grads_zero(m)  # nothing accumulated by the rejected call
    m.backward(np.ones(good, F32))  # the cache survived the rejected call


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_dout_wrong_shape_unbatched(cls: str) -> None:
    m = make(cls)
    m(x_seq(shape=(T, IN)))
    expect(
        ValueError,
        lambda: m.backward(np.ones((T, 1, H), F32)),
        f"dout must have shape ({T}, {H})",
        f"got ({T}, 1, {H})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ((2, B, H), f"(2, {B}, {H})"),
        ((1, B + 1, H), f"(1, {B + 1}, {H})"),
        ((1, B, H + 1), f"(1, {B}, {H + 1})"),
        ((B, H), f"({B}, {H})"),
    ],
)
def test_recurrent_dh_n_wrong_shape(cls: str, bad: tuple, shown: str) -> None:
    m = make(cls)
    m(x_seq())
    dout, good = np.ones((T, B, H), F32), state()
    exp = f"must have shape (1, {B}, {H}) (num_layers * num_directions, batch, hidden_size)"
    if cls == "LSTM":
        expect(
            ValueError,
            lambda: m.backward(dout, (state(bad), good)),
            f"LSTM.backward: dh_n {exp}",
            f"got {shown}",
        )
        expect(
            ValueError,
            lambda: m.backward(dout, (good, state(bad))),
            f"LSTM.backward: dc_n {exp}",
            f"got {shown}",
        )
        expect(
            ValueError,
            lambda: m.backward(None, (None, state(bad))),
            f"LSTM.backward: dc_n {exp}",
            f"got {shown}",
        )
        m.backward(dout, (good, good))
    else:
        expect(
            ValueError, lambda: m.backward(dout, state(bad)), f"{cls}.backward: dh_n {exp}", f"got {shown}"
        )
        m.backward(dout, good)
    assert not all_grads_zero(m)


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_dh_n_wrong_dtype(cls: str) -> None:
    m = make(cls)
    m(x_seq())
    bad = state(dtype=F64)
    dh = (bad, None) if cls == "LSTM" else bad
    expect(
        TypeError,
        lambda: m.backward(None, dh),
        f"{cls}.backward: dh_n must have dtype float32",
        "got float64",
    )


def test_lstm_backward_dhx_not_a_pair() -> None:
    m = make("LSTM")
    m(x_seq())
    dout = np.ones((T, B, H), F32)
    expect(
        TypeError,
        lambda: m.backward(dout, state()),
        "LSTM.backward: dhx must be a tuple (dh_n, dc_n)",
        "got ndarray",
    )
    expect(
        TypeError,
        lambda: m.backward(dout, (state(),)),
        "dhx must be a tuple (dh_n, dc_n)",
        "got a tuple of length 1",
    )
    m.backward(dout, (state(), None))
