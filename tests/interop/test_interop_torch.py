"""``bptt.interop``: weight converters between PyTorch-layout state dicts and TensorFlow / Keras layouts.

The TF / Keras equations are re-implemented here in plain NumPy (independently of the library), run with
the converted weights, and compared with ``bptt.nn`` / ``torch.nn`` modules holding the original weights
(float64, max abs difference <= 1e-12). Round trips must be exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bptt import interop as I
from bptt import nn
from cases.tf_keras import D, H, close, gru, inputs, keras_gru, keras_lstm, lstm, tf_basic_lstm

pytestmark = pytest.mark.torch


def torch_module(cls, sd, D=D, H=H, **kw):
    m = cls(D, H, dtype=torch.float64, **kw)
    m.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()})
    return m


def t(a):
    return torch.from_numpy(a)


@pytest.mark.parametrize("keep", [False, True])
def test_tf_to_torch_matches(keep):
    rng = np.random.default_rng(14)
    kernel, bias = 0.5 * rng.standard_normal((D + H, 4 * H)), 0.5 * rng.standard_normal(4 * H)
    x, h0, c0 = inputs(15)
    y_tf, h_tf, c_tf = tf_basic_lstm(x, kernel, bias, 1.0, h0[0], c0[0])
    if keep:  # a bptt LSTM that adds the same forget_bias at run time
        sd = I.tf_lstm_to_torch(kernel, bias, tf_forget_bias=1.0, torch_forget_bias=1.0)
        m = nn.LSTM(D, H, forget_bias=1.0, dtype=np.float64)
        m.load_state_dict(sd)
        y, (h_n, c_n) = m(x, (h0, c0))
    else:  # folded into bias_ih: a plain torch.nn.LSTM
        sd = I.tf_lstm_to_torch(kernel, bias, tf_forget_bias=1.0)
        with torch.no_grad():
            y, (h_n, c_n) = torch_module(torch.nn.LSTM, sd)(t(x), (t(h0), t(c0)))
        y, h_n, c_n = y.numpy(), h_n.numpy(), c_n.numpy()
    close(y, y_tf)
    close(h_n[0], h_tf)
    close(c_n[0], c_tf)


@pytest.mark.parametrize("bias", [True, False])
def test_keras_lstm_both_directions_match(bias):
    sd = lstm(16, bias=bias).state_dict()
    x, h0, c0 = inputs(17)
    with torch.no_grad():
        y, (h_n, c_n) = torch_module(torch.nn.LSTM, sd, bias=bias)(t(x), (t(h0), t(c0)))
    k = I.torch_lstm_to_keras(sd)
    assert ("bias" in k) == bias
    y_k, h_k, c_k = keras_lstm(x, k["kernel"], k["recurrent_kernel"], k.get("bias"), h0[0], c0[0])
    close(y.numpy(), y_k)
    close(h_n[0].numpy(), h_k)
    close(c_n[0].numpy(), c_k)
    # Keras -> torch: random Keras weights into bptt.nn.LSTM
    rng = np.random.default_rng(18)
    kw = [0.5 * rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)][: 3 if bias else 2]]
    m = nn.LSTM(D, H, bias=bias, dtype=np.float64)
    m.load_state_dict(I.keras_lstm_to_torch(*kw))
    y2, (h2, c2) = m(x, (h0, c0))
    y_k2, h_k2, c_k2 = keras_lstm(x, *kw[:2], kw[2] if bias else None, h0[0], c0[0])
    close(y2, y_k2)
    close(h2[0], h_k2)
    close(c2[0], c_k2)


@pytest.mark.parametrize("bias", [True, False])
def test_keras_gru_both_directions_match(bias):
    sd = gru(21, bias=bias).state_dict()
    x, h0, _ = inputs(22)
    with torch.no_grad():
        y, h_n = torch_module(torch.nn.GRU, sd, bias=bias)(t(x), t(h0))
    k = I.torch_gru_to_keras(sd)
    y_k, h_k = keras_gru(x, k["kernel"], k["recurrent_kernel"], k.get("bias"), h0[0])
    close(y.numpy(), y_k)
    close(h_n[0].numpy(), h_k)
    rng = np.random.default_rng(23)
    kw = [0.5 * rng.standard_normal(s) for s in [(D, 3 * H), (H, 3 * H), (2, 3 * H)][: 3 if bias else 2]]
    m = nn.GRU(D, H, bias=bias, dtype=np.float64)
    m.load_state_dict(I.keras_gru_to_torch(*kw, reset_after=True))
    y2, h2 = m(x, h0)
    y_k2, h_k2 = keras_gru(x, *kw[:2], kw[2] if bias else None, h0[0])
    close(y2, y_k2)
    close(h2[0], h_k2)


def test_layers_accept_get_weights_lists_and_torch_state_dicts():
    tm = torch.nn.LSTM(D, H, num_layers=2, dtype=torch.float64)
    layers = I.torch_to_layers(tm.state_dict(), "keras_lstm")  # torch tensors accepted
    as_lists = [[w["kernel"], w["recurrent_kernel"], w["bias"]] for w in layers]
    back = I.layers_to_torch(as_lists, "keras_lstm")
    for key, v in tm.state_dict().items():
        if key.startswith("weight"):
            assert np.array_equal(back[key], v.numpy())
