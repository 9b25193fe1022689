"""Cases shared by tests/trace: float64 recurrent modules with distinct weights, run traced and untraced."""

from __future__ import annotations

import numpy as np

import bptt
from bptt import nn
from helpers import assert_close, distinct_uniform


def make(kind: str, D: int, H: int, num_layers: int, bidirectional: bool, rng: np.random.Generator, **kw):
    """A float64 module with distinct, non-zero weights and biases."""
    if kind == "lstm":
        m = nn.LSTM(D, H, num_layers, bidirectional=bidirectional, dtype=np.float64, rng=0,
                    forget_bias=kw.pop("forget_bias", 0.7), **kw)
    elif kind == "gru":
        m = nn.GRU(D, H, num_layers, bidirectional=bidirectional, dtype=np.float64, rng=0)
    elif kind in ("rnn", "rnn_relu"):
        m = nn.RNN(D, H, num_layers, nonlinearity="relu" if kind == "rnn_relu" else "tanh",
                   bidirectional=bidirectional, dtype=np.float64, rng=0)
    elif kind in ("mingru", "minlstm"):
        m = (nn.MinGRU if kind == "mingru" else nn.MinLSTM)(D, H, num_layers, bidirectional=bidirectional,
                                                            dtype=np.float64, rng=0, **kw)
    else:
        m = nn.LayerNormLSTM(D, H, num_layers, bidirectional=bidirectional, dtype=np.float64, rng=0, **kw)
    for _, p in m.named_parameters():
        p.data[...] = distinct_uniform(rng, p.data.shape)
    return m


def run(m, x, hx, dout, dh_n, dc_n, lengths=None):
    """Forward + backward; returns (out, dx, dh0, dc0, parameter gradients)."""
    out, _ = m(x, hx, lengths=lengths)
    m.zero_grad()
    if m.has_cell_state:
        dx, (dh0, dc0) = m.backward(dout, None if dh_n is None else (dh_n, dc_n))
    else:
        dx, dh0 = m.backward(dout, dh_n)
        dc0 = None
    return out, dx, dh0, dc0, {n: p.grad.copy() for n, p in m.named_parameters()}


def run_traced(m, T: int, B: int, rng: np.random.Generator, lengths=None, final_grads: bool = True):
    """Forward + backward inside a trace, with non-zero dout and final-state gradients; also checks that the
    traced pass (reference tier) gives the untraced (fused) pass's results."""
    nd, L = m.num_directions, m.num_layers
    x = rng.standard_normal((T, B, m.input_size))
    P, S = m.output_size, m.state_size  # output and state sizes (a MinGRU's projection maps only the output)
    h0 = rng.standard_normal((L * nd, B, S)) * 0.5
    hx = (h0, rng.standard_normal((L * nd, B, m.hidden_size)) * 0.5) if m.has_cell_state else h0
    dout = rng.standard_normal((T, B, nd * P))
    dh_n = rng.standard_normal((L * nd, B, S)) if final_grads else None
    dc_n = rng.standard_normal((L * nd, B, m.hidden_size)) if (final_grads and m.has_cell_state) else None
    fused = run(m, x, hx, dout, dh_n, dc_n, lengths)
    with bptt.trace() as tr:
        out, dx, dh0, dc0, grads = run(m, x, hx, dout, dh_n, dc_n, lengths)
    for name, a, b in (("out", out, fused[0]), ("dx", dx, fused[1]), ("dh0", dh0, fused[2]),
                       ("dc0", dc0, fused[3])):
        assert_close(a, b, 1e-12, f"traced {name} = fused {name}")
    for name in grads:
        assert_close(grads[name], fused[4][name], 1e-12, f"traced {name}.grad = fused")
    return tr, dict(x=x, hx=hx, dout=dout, dh_n=dh_n, dc_n=dc_n, dx=dx, dh0=dh0, dc0=dc0)
