"""``bptt.nn.LSTM(peepholes=True)``: parameters in PyTorch's order plus ``weight_peep_l{k}``, the layer runs the
functional op with them, and bad arguments are refused (NumPy only; the math is checked in
tests/functional/reference against torch autograd, finite differences and the fast tier)."""

from __future__ import annotations

import numpy as np
import pytest

from bptt import functional as F
from bptt import nn
from helpers import assert_close, seeded_rng


def test_parameters_names_shapes_and_order():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, peepholes=True, rng=0)
    names = list(m.state_dict())
    assert names[:7] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
                         "weight_peep_l0", "weight_ih_l0_reverse"]
    assert [n for n in names if "peep" in n] == ["weight_peep_l0", "weight_peep_l0_reverse", "weight_peep_l1",
                                                 "weight_peep_l1_reverse"]
    assert m.weight_peep_l1.shape == (12,) and m.weight_peep_l1.dtype == np.float32
    assert np.abs(m.weight_peep_l0.data).max() <= 0.5 and m.weight_peep_l0.data.any()
    assert "peepholes=True" in repr(m)
    assert not any("peep" in n for n in nn.LSTM(3, 4).state_dict())
    assert m.layer_parameters(1, 1)["W_peep"] is m.weight_peep_l1_reverse


def test_the_layer_is_the_functional_op_with_peepholes():
    rng = seeded_rng("nn-peep")
    m = nn.LSTM(3, 4, peepholes=True, forget_bias=0.5, dtype=np.float64, rng=1)
    x = rng.standard_normal((5, 2, 3))
    h0, c0 = rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 2, 4))
    y, (h_n, c_n) = m(x, (h0, c0), lengths=np.array([5, 3]))
    sd = m.state_dict()
    (y_f, h_f, c_f), cache = F.lstm.forward(x, h0[0], c0[0], sd["weight_ih_l0"], sd["weight_hh_l0"],
                                            sd["bias_ih_l0"], sd["bias_hh_l0"], None, sd["weight_peep_l0"],
                                            forget_bias=0.5, lengths=np.array([5, 3]))
    assert_close(y, y_f, 0.0)
    assert_close(h_n[0], h_f, 0.0)
    assert_close(c_n[0], c_f, 0.0)
    dy = rng.standard_normal(y.shape)
    m.backward(dy)
    g = F.lstm.backward((dy, None, None), cache)
    assert type(g).__name__ == "LSTMPeepholeGrads" and g.dW_hr is None
    assert_close(m.weight_peep_l0.grad, g.dW_peep, 1e-15)
    assert_close(m.weight_hh_l0.grad, g.dW_hh, 1e-15)


def test_peepholes_change_the_function():
    """Zero peepholes are the plain LSTM; non-zero ones are not."""
    rng = seeded_rng("nn-peep-zero")
    plain = nn.LSTM(3, 4, dtype=np.float64, rng=2)
    peep = nn.LSTM(3, 4, peepholes=True, dtype=np.float64, rng=2)
    sd = {**plain.state_dict(), "weight_peep_l0": np.zeros(12)}
    peep.load_state_dict(sd)
    x = rng.standard_normal((4, 2, 3))
    assert_close(peep(x)[0], plain(x)[0], 0.0)
    peep.weight_peep_l0.data[...] = 0.5
    assert np.abs(peep(x)[0] - plain(x)[0]).max() > 1e-3


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_peepholes_must_be_a_bool(value):
    with pytest.raises(TypeError, match=rf"^LSTM: peepholes must be a bool, got {type(value).__name__} "):
        nn.LSTM(3, 4, peepholes=value)
