"""``bptt.check_module`` passes on every module in float64, and the checkers catch a wrong backward."""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from bptt import nn
from bptt.functional import linear, lstm, tanh
from helpers import seeded_rng


def _recurrent(mode: str, D: int, H: int, **kw) -> nn.RNNBase:
    kw.setdefault("dtype", np.float64)
    if mode == "LSTM":
        return nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return nn.GRU(D, H, **kw)
    return nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def _randomize(m: nn.Module, rng: np.random.Generator, scale: float = 0.6) -> None:
    for p in m.parameters():
        p.data[...] = rng.uniform(-scale, scale, p.shape)


def _assert_report_complete(report: bptt.GradcheckReport, m: nn.Module, n_inputs: int) -> None:
    assert report.ok, str(report)
    checked = set(report.errors)
    assert {n for n, _ in m.named_parameters()} <= checked
    assert {f"input[{i}]" for i in range(n_inputs)} <= checked


@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
def test_check_module_recurrent_two_layers_bidirectional(mode, batch_first):
    rng = seeded_rng("gc-rnn", mode, batch_first)
    T, B, D, H = 4, 2, 3, 3
    m = _recurrent(mode, D, H, num_layers=2, bidirectional=True, batch_first=batch_first, rng=0)
    _randomize(m, rng)
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    h0 = 0.5 * rng.standard_normal((4, B, H))
    hx = (h0, 0.5 * rng.standard_normal((4, B, H))) if mode == "LSTM" else h0
    report = bptt.check_module(m, x, hx)
    _assert_report_complete(report, m, 3 if mode == "LSTM" else 2)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_check_module_recurrent_unbatched_and_no_hx(mode):
    rng = seeded_rng("gc-rnn-unbatched", mode)
    m = _recurrent(mode, 2, 3, num_layers=2, bidirectional=True, rng=0)
    _randomize(m, rng)
    _assert_report_complete(bptt.check_module(m, rng.standard_normal((4, 2))), m, 1)


def test_check_module_lstm_with_forget_bias():
    rng = seeded_rng("gc-forget")
    m = nn.LSTM(3, 3, 2, forget_bias=1.0, dtype=np.float64, rng=0)
    _randomize(m, rng)
    _assert_report_complete(bptt.check_module(m, rng.standard_normal((4, 2, 3))), m, 1)


@pytest.mark.parametrize("proj_size", [2])
def test_check_module_peephole_lstm_stack(proj_size):
    """Two bidirectional peephole layers (with a projection, packed lengths): every parameter, both states."""
    rng = seeded_rng("gc-peep", proj_size)
    T, B, D, H = 4, 2, 3, 3
    m = nn.LSTM(D, H, 2, bidirectional=True, proj_size=proj_size, peepholes=True, forget_bias=0.5,
                dtype=np.float64, rng=0)
    _randomize(m, rng)
    assert {n for n, _ in m.named_parameters()} >= {"weight_peep_l0", "weight_peep_l1_reverse"}
    P = proj_size or H
    hx = (0.5 * rng.standard_normal((4, B, P)), 0.5 * rng.standard_normal((4, B, H)))
    report = bptt.check_module(m, rng.standard_normal((T, B, D)), hx)
    _assert_report_complete(report, m, 3)


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
def test_check_module_cells(mode, unbatched):
    rng = seeded_rng("gc-cell", mode, unbatched)
    D, H, B = 3, 4, 2
    if mode == "LSTM":
        cell = nn.LSTMCell(D, H, forget_bias=0.5, dtype=np.float64, rng=0)
    elif mode == "GRU":
        cell = nn.GRUCell(D, H, dtype=np.float64, rng=0)
    else:
        cell = nn.RNNCell(D, H, nonlinearity=mode[4:].lower(), dtype=np.float64, rng=0)
    _randomize(cell, rng)
    shape = (lambda *s: s[1:]) if unbatched else (lambda *s: s)
    x = rng.standard_normal(shape(B, D))
    h0 = 0.5 * rng.standard_normal(shape(B, H))
    hx = (h0, 0.5 * rng.standard_normal(shape(B, H))) if mode == "LSTM" else h0
    report = bptt.check_module(cell, x, hx)
    _assert_report_complete(report, cell, 3 if mode == "LSTM" else 2)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3)], ids=["2d", "3d"])
def test_check_module_linear(x_shape, bias):
    rng = seeded_rng("gc-linear", x_shape, bias)
    lin = nn.Linear(3, 4, bias=bias, dtype=np.float64, rng=0)
    _assert_report_complete(bptt.check_module(lin, rng.standard_normal(x_shape)), lin, 1)


def test_check_module_embedding():
    emb = nn.Embedding(6, 3, padding_idx=None, dtype=np.float64, rng=0)
    report = bptt.check_module(emb, np.array([[0, 2, 2], [5, 1, 0]]))
    _assert_report_complete(report, emb, 0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kdim", [False, True], ids=["2d", "kdim"])
def test_check_module_cross_entropy(reduction, kdim):
    rng = seeded_rng("gc-ce", reduction, kdim)
    x = rng.standard_normal((3, 5, 2) if kdim else (6, 5)) * 2
    y = rng.integers(0, 5, size=(3, 2) if kdim else (6,))
    y.reshape(-1)[1] = -100
    crit = nn.CrossEntropyLoss(reduction=reduction)
    _assert_report_complete(bptt.check_module(crit, x, y), crit, 1)


def test_check_module_leaves_existing_gradients_untouched():
    rng = seeded_rng("gc-keep")
    lin = nn.Linear(3, 2, dtype=np.float64, rng=0)
    lin.weight.grad[...] = 7.0
    bptt.check_module(lin, rng.standard_normal((4, 3)))
    assert np.all(lin.weight.grad == 7.0) and np.all(lin.bias.grad == 0.0)


# ---------------------------------------------------------------------------------- wrong backward detection
def test_check_function_passes_a_correct_pair():
    x = seeded_rng("gc-ok").standard_normal((3, 4))
    assert bptt.check_function(tanh.forward, tanh.backward, [x]).ok


@pytest.mark.parametrize("factor", [1.01, 0.99, -1.0, 1.0001])
def test_check_function_catches_a_scaled_gradient(factor):
    x = seeded_rng("gc-wrong", factor).standard_normal((3, 4))
    with pytest.raises(bptt.GradcheckError, match="input"):
        bptt.check_function(tanh.forward, lambda dy, cache: factor * tanh.backward(dy, cache), [x])
    report = bptt.check_function(
        tanh.forward, lambda dy, cache: factor * tanh.backward(dy, cache), [x], raise_on_failure=False
    )
    assert not report.ok and report.failures == ["input[0]"]


def test_check_function_catches_one_wrong_gradient_among_several():
    rng = seeded_rng("gc-one-wrong")
    x, W, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)

    def bad_backward(dy, cache):
        dx, dW, db = linear.backward(dy, cache)
        return dx, dW, db * 1.01

    with pytest.raises(bptt.GradcheckError) as info:
        bptt.check_function(linear.forward, bad_backward, [x, W, b], names=["x", "W", "b"])
    assert "'b'" in str(info.value) and "'x'" not in str(info.value) and "'W'" not in str(info.value)


def test_check_function_catches_a_missing_recurrent_term():
    """An LSTM backward that forgets the carried cell gradient ``dc0`` is caught on ``c0``."""
    rng = seeded_rng("gc-lstm-wrong")
    T, B, D, H = 3, 2, 3, 2
    args = [
        rng.standard_normal((T, B, D)),
        rng.standard_normal((B, H)),
        rng.standard_normal((B, H)),
        rng.uniform(-0.6, 0.6, (4 * H, D)),
        rng.uniform(-0.6, 0.6, (4 * H, H)),
        rng.uniform(-0.6, 0.6, 4 * H),
        rng.uniform(-0.6, 0.6, 4 * H),
    ]

    def bad_backward(dout, cache):
        g = list(lstm.backward(dout, cache))
        g[2] = np.zeros_like(g[2])
        return tuple(g)

    report = bptt.check_function(lstm.forward, bad_backward, args, raise_on_failure=False)
    assert report.failures == ["input[2]"]
    with pytest.raises(bptt.GradcheckError):
        bptt.check_function(lstm.forward, bad_backward, args)


class _BrokenLinear(nn.Linear):
    """Linear whose backward over-reports the weight gradient by 1%."""

    def backward(self, dy):
        before = self.weight.grad.copy()
        dx = super().backward(dy)
        self.weight.grad[...] = before + 1.01 * (self.weight.grad - before)
        return dx


def test_check_module_catches_a_wrong_parameter_gradient():
    lin = _BrokenLinear(3, 2, dtype=np.float64, rng=0)
    with pytest.raises(bptt.GradcheckError, match="weight"):
        bptt.check_module(lin, seeded_rng("gc-broken").standard_normal((4, 3)))
    report = bptt.check_module(lin, seeded_rng("gc-broken").standard_normal((4, 3)), raise_on_failure=False)
    assert report.failures == ["weight"]


def test_check_module_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        bptt.check_module(nn.Linear(3, 2), np.zeros((1, 3), dtype=np.float32))
