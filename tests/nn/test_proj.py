"""``LSTM(proj_size=P)`` without PyTorch: argument checks and state shapes.

The parity with ``torch.nn.LSTM(proj_size=P)`` lives in test_proj_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import nn
from bptt.nn import RNNBase


@pytest.mark.parametrize("proj_size", [5, 6, 100])
def test_proj_size_not_smaller_than_hidden_raises(proj_size):
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 5, proj_size=proj_size)


def test_negative_proj_size_raises():
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 5, proj_size=-1)


def test_proj_size_zero_means_no_projection():
    m = nn.LSTM(3, 5, proj_size=0, dtype=np.float64)
    assert not any("weight_hr" in k for k, _ in m.named_parameters())


@pytest.mark.parametrize("mode", ["GRU", "RNN_TANH", "RNN_RELU"])
def test_proj_size_on_non_lstm_raises(mode):
    with pytest.raises(ValueError, match="proj_size"):
        RNNBase(mode, 3, 5, proj_size=2)


def test_gru_rejects_proj_size_keyword():
    with pytest.raises((TypeError, ValueError), match="proj_size"):
        nn.GRU(3, 5, proj_size=2)


def test_proj_state_shapes_are_checked():
    m = nn.LSTM(3, 5, proj_size=2, dtype=np.float64, rng=0)
    x = np.zeros((4, 2, 3))
    good_h, good_c = np.zeros((1, 2, 2)), np.zeros((1, 2, 5))
    m(x, (good_h, good_c))
    with pytest.raises(ValueError, match="h0"):
        m(x, (np.zeros((1, 2, 5)), good_c))  # h0 has hidden_size, must have proj_size
    with pytest.raises(ValueError, match="c0"):
        m(x, (good_h, np.zeros((1, 2, 2))))  # c0 has proj_size, must have hidden_size
