"""Cases shared by tests/nn/test_layer_dropout*.py: modules, inputs and the dropout-mask recorder.
"""

from __future__ import annotations

import numpy as np

from bptt import nn
from bptt.functional import dropout as F_dropout
from helpers import distinct_uniform

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def make(mode: str, D: int, H: int, num_layers: int, dropout: float, bidirectional: bool = False,
          rng=0) -> nn.RNNBase:
    kw = dict(num_layers=num_layers, dropout=dropout, bidirectional=bidirectional, dtype=np.float64, rng=rng)
    if mode == "LSTM":
        return nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return nn.GRU(D, H, **kw)
    return nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def randomize(m: nn.Module, rng: np.random.Generator) -> None:
    for p in m.parameters():
        p.data[...] = distinct_uniform(rng, p.shape, -0.8, 0.8)


def run(m, x, hx, dout, dstate):
    """Forward + backward; returns a dict of every output and gradient (copies)."""
    lstm = isinstance(m, nn.LSTM)
    out, state = m(x, hx)
    dx, dhx = m.backward(dout, dstate)
    res = {"out": out.copy(), "dx": dx.copy()}
    if lstm:
        res.update(h_n=state[0].copy(), c_n=state[1].copy(), dh0=dhx[0].copy(), dc0=dhx[1].copy())
    else:
        res.update(h_n=state.copy(), dh0=dhx.copy())
    res.update({f"grad {k}": p.grad.copy() for k, p in m.named_parameters()})
    return res


def inputs(mode, rng, T, B, D, H, n, nd):
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((n, B, H))
    c0 = rng.standard_normal((n, B, H))
    dout = rng.standard_normal((T, B, nd * H))
    dh = rng.standard_normal((n, B, H))
    dc = rng.standard_normal((n, B, H))
    if mode == "LSTM":
        return x, (h0, c0), dout, (dh, dc)
    return x, h0, dout, dh


class Recorder:
    """Wraps ``bptt.functional.dropout.forward``: records (input shape, p, scaled mask) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, float, np.ndarray | None]] = []
        self._orig = F_dropout.forward

    def __call__(self, x, p, rng, training=True, **kwargs):
        y, cache = self._orig(x, p, rng, training, **kwargs)
        self.calls.append((x.shape, p, None if cache is None else np.array(cache.scaled_mask, copy=True)))
        return y, cache
