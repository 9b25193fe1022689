"""Chunked truncated BPTT equals one full pass when the state and its gradient are carried across chunks.

A length-12 sequence is run in chunks, each starting from the previous chunk's final state. Backpropagating
the chunks in reverse order, each fed the later chunk's ``dh0`` (``dc0``) as its ``dh_n`` (``dc_n``), must
give exactly the full pass's ``dx``, initial-state gradients and accumulated parameter gradients; dropping
the carried gradient (true truncation) must not.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import nn
from helpers import assert_close, seeded_rng

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def _module(mode: str, D: int, H: int, batch_first: bool, rng: np.random.Generator) -> nn.RNNBase:
    kw = dict(num_layers=2, batch_first=batch_first, dtype=np.float64, rng=rng)
    if mode == "LSTM":
        return nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return nn.GRU(D, H, **kw)
    return nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def _randomize(m: nn.Module, rng: np.random.Generator) -> None:
    for p in m.parameters():  # non-zero, distinct biases (b_ih != b_hh)
        p.data[...] = rng.uniform(-0.7, 0.7, p.shape)


def _time_slice(a: np.ndarray, sl: slice, batch_first: bool) -> np.ndarray:
    return a[:, sl] if batch_first else a[sl]


def _cat(parts: list[np.ndarray], batch_first: bool) -> np.ndarray:
    return np.concatenate(parts, axis=1 if batch_first else 0)


def _state_list(mode, s):
    return list(s) if mode == "LSTM" else [s]


CHUNKINGS = {"4+4+4": (4, 4, 4), "5+3+4": (5, 3, 4), "1+10+1": (1, 10, 1)}


@pytest.mark.parametrize("chunking", sorted(CHUNKINGS))
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("mode", MODES)
def test_chunked_bptt_equals_full_pass(mode, batch_first, chunking):
    rng = seeded_rng("tbptt", mode, batch_first, chunking)
    T, B, D, H = 12, 3, 4, 5
    sizes = CHUNKINGS[chunking]
    assert sum(sizes) == T
    m = _module(mode, D, H, batch_first, rng)
    _randomize(m, rng)
    lstm = mode == "LSTM"
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    h0 = 0.5 * rng.standard_normal((2, B, H))
    c0 = 0.5 * rng.standard_normal((2, B, H))
    hx0 = (h0, c0) if lstm else h0
    dout = rng.standard_normal((B, T, H) if batch_first else (T, B, H))
    dh_n, dc_n = rng.standard_normal((2, B, H)), rng.standard_normal((2, B, H))
    dstate_n = (dh_n, dc_n) if lstm else dh_n

    # one full pass
    m.zero_grad()
    out_full, state_full = m(x, hx0)
    dx_full, dstate0_full = m.backward(dout, dstate_n)
    grads_full = {n: p.grad.copy() for n, p in m.named_parameters()}

    # chunks, carrying the state forward ...
    m.zero_grad()
    bounds = np.cumsum((0,) + sizes)
    slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    outs, state = [], hx0
    for sl in slices:
        out, state = m(_time_slice(x, sl, batch_first), state)
        outs.append(out)
    assert_close(_cat(outs, batch_first), out_full, name="out")
    for name, a, b in zip(
        ["h_n", "c_n"], _state_list(mode, state), _state_list(mode, state_full), strict=False
    ):
        assert_close(a, b, name=name)

    # ... and the state gradient backward (the module pops its caches last-in first-out)
    dxs, dstate = [], dstate_n
    for sl in reversed(slices):
        dx, dstate = m.backward(_time_slice(dout, sl, batch_first), dstate)
        dxs.append(dx)
    assert_close(_cat(dxs[::-1], batch_first), dx_full, name="dx")
    for name, a, b in zip(
        ["dh0", "dc0"], _state_list(mode, dstate), _state_list(mode, dstate0_full), strict=False
    ):
        assert_close(a, b, name=name)
    for n, p in m.named_parameters():
        assert_close(p.grad, grads_full[n], name=f"grad {n}")
        assert np.any(p.grad != 0), n


@pytest.mark.parametrize("mode", MODES)
def test_truncation_without_carried_gradient_differs(mode):
    """Sanity check that the carried gradient matters: dropping it (true truncation) changes dW_hh."""
    rng = seeded_rng("truncated", mode)
    T, B, D, H = 12, 3, 4, 5
    m = _module(mode, D, H, False, rng)
    _randomize(m, rng)
    x = rng.standard_normal((T, B, D))
    dout = rng.standard_normal((T, B, H))
    m(x)
    m.backward(dout)
    full = m.weight_hh_l0.grad.copy()
    m.zero_grad()
    state = None
    for k in range(3):
        _, state = m(x[4 * k : 4 * k + 4], state)
    for k in reversed(range(3)):
        m.backward(dout[4 * k : 4 * k + 4])  # no carried dh_n: truncated
    assert np.max(np.abs(m.weight_hh_l0.grad - full)) > 1e-6 * np.max(np.abs(full))
