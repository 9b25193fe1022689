"""Cases shared by tests/nn/test_lengths*.py: variable-length runs of our modules and the padding mask.
"""

from __future__ import annotations

import numpy as np

from bptt import nn

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def ours_rnn(mode: str, D: int, H: int, num_layers: int = 1, batch_first: bool = False,
              bidirectional: bool = False, **kw) -> nn.RNNBase:
    common = dict(num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional,
                  dtype=np.float64, rng=0)
    if mode == "LSTM":
        return nn.LSTM(D, H, **common, **kw)
    if mode == "GRU":
        return nn.GRU(D, H, **common, **kw)
    if mode == "LNLSTM_LN":
        return nn.LayerNormLSTM(D, H, layer_norm=True, forget_bias=0.7, **common, **kw)
    if mode == "LNLSTM_PLAIN":
        return nn.LayerNormLSTM(D, H, layer_norm=False, forget_bias=0.7, **common, **kw)
    return nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **common, **kw)


def pad_mask(lengths: np.ndarray, T: int, batch_first: bool) -> np.ndarray:
    """Boolean (T, B) (or (B, T)) mask, True at padded steps."""
    m = np.arange(T)[:, None] >= lengths[None, :]
    return m.T if batch_first else m


def run_ours(m, x, hx, dout, dh_n, dc_n, lengths, lstm):
    out, state = m(x, hx, lengths=lengths)
    if lstm:
        h_n, c_n = state
        dx, (dh0, dc0) = m.backward(dout, (dh_n, dc_n))
    else:
        h_n, c_n = state, None
        dx, dh0 = m.backward(dout, dh_n)
        dc0 = None
    return {"out": out, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}
