"""Cases shared by the bptt.nn parity and initialisation tests (tests/nn/test_*parity_torch.py, test_init_and_dtype.py).
"""

from __future__ import annotations

import numpy as np

from bptt import nn

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def ours_rnn(
    mode: str,
    D: int,
    H: int,
    num_layers: int = 1,
    bias: bool = True,
    batch_first: bool = False,
    bidirectional: bool = False,
    dtype=np.float64,
    **kw,
) -> nn.RNNBase:
    if mode == "LSTM":
        return nn.LSTM(D, H, num_layers, bias, batch_first, 0.0, bidirectional, dtype=dtype, **kw)
    if mode == "GRU":
        return nn.GRU(D, H, num_layers, bias, batch_first, 0.0, bidirectional, dtype=dtype, **kw)
    nl = "tanh" if mode == "RNN_TANH" else "relu"
    return nn.RNN(D, H, num_layers, nl, bias, batch_first, 0.0, bidirectional, dtype=dtype, **kw)
