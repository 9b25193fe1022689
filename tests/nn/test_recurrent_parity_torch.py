"""``bptt.nn`` modules against ``torch.nn`` modules holding identical float64 weights.

Every comparison is ``max|ours - torch| <= 1e-10 * max|torch|`` per array, for outputs, final states and the
gradients of the input, the initial states and every parameter under random upstream gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bptt import nn
from cases.nn_parity import MODES, ours_rnn
from cases.torch_nn_parity import compare_param_grads, load_from_torch, randomize, torch_rnn
from helpers import assert_close, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch


def _pair(mode, D, H, rng, **cfg):
    tmod = torch_rnn(mode, D, H, **cfg)
    randomize(tmod, rng)
    ours = ours_rnn(mode, D, H, **cfg, rng=0)
    load_from_torch(ours, tmod)
    return ours, tmod


def _run_recurrent(mode, ours, tmod, x, hx, upstream, *, torch_hx):
    """Forward + backward in both; ``hx`` (arrays or None) goes to ours, ``torch_hx`` (arrays) to torch.

    Returns ``(ours_results, torch_results)`` as dicts of arrays / tensors.
    """
    lstm = mode == "LSTM"
    dout, dh_n, dc_n = upstream
    out, state = ours(x, hx)
    if lstm:
        h_n, c_n = state
        dx, (dh0, dc0) = ours.backward(dout, (dh_n, dc_n))
    else:
        h_n, c_n = state, None
        dx, dh0 = ours.backward(dout, dh_n)
        dc0 = None
    res = {"out": out, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}

    xt = t64(x)
    th0 = t64(torch_hx[0])
    tc0 = t64(torch_hx[1]) if lstm else None
    if lstm:
        tout, (th_n, tc_n) = tmod(xt, (th0, tc0))
        loss = (
            (tout * t64(dout, False)).sum()
            + (th_n * t64(dh_n, False)).sum()
            + (tc_n * t64(dc_n, False)).sum()
        )
    else:
        tout, th_n = tmod(xt, th0)
        tc_n = None
        loss = (tout * t64(dout, False)).sum() + (th_n * t64(dh_n, False)).sum()
    loss.backward()
    ref = {
        "out": tout,
        "h_n": th_n,
        "c_n": tc_n,
        "dx": xt.grad,
        "dh0": th0.grad,
        "dc0": None if tc0 is None else tc0.grad,
    }
    return res, ref


def _shapes(rng):
    return int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))


def _states(rng, n, B, H, unbatched=False):
    shape = (n, H) if unbatched else (n, B, H)
    return 0.5 * rng.standard_normal(shape), 0.5 * rng.standard_normal(shape)


def _check_all(mode, ours, tmod, res, ref):
    for k in res:
        assert_close(res[k], ref[k], name=k)
    compare_param_grads(ours, tmod)


# ---------------------------------------------------------------------------------------- full grid
@pytest.mark.parametrize("with_hx", [True, False], ids=["hx", "no_hx"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_recurrent_module_matches_torch(mode, num_layers, bidirectional, batch_first, with_hx):
    rng = seeded_rng("grid", mode, num_layers, bidirectional, batch_first, with_hx)
    T, B, D, H = _shapes(rng)
    ours, tmod = _pair(
        mode, D, H, rng, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional
    )
    nd = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    h0, c0 = _states(rng, num_layers * nd, B, H)
    if not with_hx:
        h0, c0 = np.zeros_like(h0), np.zeros_like(c0)
    hx = None if not with_hx else ((h0, c0) if mode == "LSTM" else h0)
    upstream = (
        rng.standard_normal((B, T, nd * H) if batch_first else (T, B, nd * H)),
        rng.standard_normal(h0.shape),
        rng.standard_normal(c0.shape) if mode == "LSTM" else None,
    )
    res, ref = _run_recurrent(mode, ours, tmod, x, hx, upstream, torch_hx=(h0, c0))
    _check_all(mode, ours, tmod, res, ref)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_recurrent_module_without_bias_matches_torch(mode, bidirectional):
    rng = seeded_rng("nobias", mode, bidirectional)
    T, B, D, H = _shapes(rng)
    ours, tmod = _pair(mode, D, H, rng, num_layers=2, bias=False, bidirectional=bidirectional)
    assert not any("bias" in n for n, _ in ours.named_parameters())
    nd = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, D))
    h0, c0 = _states(rng, 2 * nd, B, H)
    hx = (h0, c0) if mode == "LSTM" else h0
    upstream = (
        rng.standard_normal((T, B, nd * H)),
        rng.standard_normal(h0.shape),
        rng.standard_normal(c0.shape),
    )
    res, ref = _run_recurrent(mode, ours, tmod, x, hx, upstream, torch_hx=(h0, c0))
    _check_all(mode, ours, tmod, res, ref)


@pytest.mark.parametrize("with_hx", [True, False], ids=["hx", "no_hx"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_recurrent_module_unbatched_matches_torch(mode, bidirectional, num_layers, with_hx):
    """2-D input ``(T, D)`` with states ``(L * nd, H)``."""
    rng = seeded_rng("unbatched", mode, bidirectional, num_layers, with_hx)
    T, _, D, H = _shapes(rng)
    ours, tmod = _pair(mode, D, H, rng, num_layers=num_layers, bidirectional=bidirectional)
    nd = 2 if bidirectional else 1
    x = rng.standard_normal((T, D))
    h0, c0 = _states(rng, num_layers * nd, 1, H, unbatched=True)
    if not with_hx:
        h0, c0 = np.zeros_like(h0), np.zeros_like(c0)
    hx = None if not with_hx else ((h0, c0) if mode == "LSTM" else h0)
    upstream = (
        rng.standard_normal((T, nd * H)),
        rng.standard_normal(h0.shape),
        rng.standard_normal(c0.shape),
    )
    res, ref = _run_recurrent(mode, ours, tmod, x, hx, upstream, torch_hx=(h0, c0))
    assert res["out"].shape == (T, nd * H) and res["h_n"].shape == (num_layers * nd, H)
    assert res["dx"].shape == (T, D) and res["dh0"].shape == (num_layers * nd, H)
    _check_all(mode, ours, tmod, res, ref)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_recurrent_module_lengths_match_packed_sequence(mode, bidirectional):
    """``lengths`` = PyTorch's packed sequences: padded outputs 0, ``h_n`` each sequence's last state."""
    rng = seeded_rng("lengths", mode, bidirectional)
    T, B, D, H = 5, 4, 3, 3
    lengths = np.array([5, 2, 4, 1])
    ours, tmod = _pair(mode, D, H, rng, num_layers=2, bidirectional=bidirectional)
    nd = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, D))
    h0, c0 = _states(rng, 2 * nd, B, H)
    hx = (h0, c0) if mode == "LSTM" else h0
    dout = rng.standard_normal((T, B, nd * H))
    dh_n, dc_n = rng.standard_normal(h0.shape), rng.standard_normal(c0.shape)
    out, state = ours(x, hx, lengths=lengths)
    if mode == "LSTM":
        dx, (dh0, dc0) = ours.backward(dout, (dh_n, dc_n))
        h_n, c_n = state
    else:
        dx, dh0 = ours.backward(dout, dh_n)
        h_n = state

    xt, th0, tc0 = t64(x), t64(h0), t64(c0)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.from_numpy(lengths), enforce_sorted=False)
    if mode == "LSTM":
        tout, (th_n, tc_n) = tmod(packed, (th0, tc0))
    else:
        tout, th_n = tmod(packed, th0)
    tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, total_length=T)
    loss = (tout * t64(dout, False)).sum() + (th_n * t64(dh_n, False)).sum()
    if mode == "LSTM":
        loss = loss + (tc_n * t64(dc_n, False)).sum()
    loss.backward()
    assert_close(out, tout, name="out")
    assert_close(h_n, th_n, name="h_n")
    assert_close(dx, xt.grad, name="dx")
    assert_close(dh0, th0.grad, name="dh0")
    if mode == "LSTM":
        assert_close(c_n, tc_n, name="c_n")
        assert_close(dc0, tc0.grad, name="dc0")
    compare_param_grads(ours, tmod)


# -------------------------------------------------------------------------------- backward contract
def _forward_backward(mode, ours, x, hx, dout, dstate):
    out, state = ours(x, hx)
    if mode == "LSTM":
        dx, (dh0, dc0) = ours.backward(dout, dstate) if dstate is not ... else ours.backward(dout)
        return out, state, dx, dh0, dc0
    dx, dh0 = ours.backward(dout, dstate) if dstate is not ... else ours.backward(dout)
    return out, state, dx, dh0, None


def _grads(m):
    return {n: p.grad.copy() for n, p in m.named_parameters()}


@pytest.mark.parametrize("mode", MODES)
def test_backward_state_gradient_omitted_equals_zeros(mode):
    rng = seeded_rng("omitted", mode)
    T, B, D, H = 4, 2, 3, 3
    ours, _ = _pair(mode, D, H, rng, num_layers=2, bidirectional=True)
    x = rng.standard_normal((T, B, D))
    dout = rng.standard_normal((T, B, 2 * H))
    zeros = np.zeros((4, B, H))
    results = []
    variants = [...]  # omitted entirely
    variants += [(zeros, zeros), (None, None)] if mode == "LSTM" else [zeros, None]
    for dstate in variants:
        ours.zero_grad()
        *_, dx, dh0, dc0 = _forward_backward(mode, ours, x, None, dout, dstate)
        results.append((dx, dh0, dc0, _grads(ours)))
    base = results[0]
    for other in results[1:]:
        for a, b, name in zip(base[:3], other[:3], ["dx", "dh0", "dc0"], strict=True):
            assert_close(a, b, rtol=0.0, name=name)
        for n in base[3]:
            assert_close(base[3][n], other[3][n], rtol=0.0, name=n)
    assert np.any(base[1] != 0)  # the output gradient alone reaches h0


@pytest.mark.parametrize("mode", MODES)
def test_backward_output_gradient_none_equals_zeros(mode):
    """``backward(None, dstate)``: only the final states are differentiated."""
    rng = seeded_rng("dout-none", mode)
    T, B, D, H = 4, 2, 3, 3
    ours, _ = _pair(mode, D, H, rng, num_layers=2, bidirectional=True)
    x = rng.standard_normal((T, B, D))
    dh = rng.standard_normal((4, B, H))
    dstate = (dh, rng.standard_normal((4, B, H))) if mode == "LSTM" else dh
    got = []
    for dout in (None, np.zeros((T, B, 2 * H))):
        ours.zero_grad()
        *_, dx, dh0, dc0 = _forward_backward(mode, ours, x, None, dout, dstate)
        got.append((dx, dh0, dc0, _grads(ours)))
    for a, b, name in zip(got[0][:3], got[1][:3], ["dx", "dh0", "dc0"], strict=True):
        assert_close(a, b, rtol=0.0, name=name)
    for n in got[0][3]:
        assert_close(got[0][3][n], got[1][3][n], rtol=0.0, name=n)


@pytest.mark.parametrize("mode", MODES)
def test_two_forwards_two_backwards_accumulate_then_zero_grad(mode):
    rng = seeded_rng("accumulate", mode)
    T, B, D, H = 4, 3, 3, 5
    ours, _ = _pair(mode, D, H, rng, num_layers=2, bidirectional=True)
    lstm = mode == "LSTM"
    xs = [rng.standard_normal((T, B, D)) for _ in range(2)]
    douts = [rng.standard_normal((T, B, 2 * H)) for _ in range(2)]
    dstates = [
        (rng.standard_normal((4, B, H)), rng.standard_normal((4, B, H)))
        if lstm
        else rng.standard_normal((4, B, H))
        for _ in range(2)
    ]
    single = []
    for x, dout, ds in zip(xs, douts, dstates, strict=True):
        ours.zero_grad()
        single.append(_forward_backward(mode, ours, x, None, dout, ds)[2:] + (_grads(ours),))
    ours.zero_grad()
    ours(xs[0])
    ours(xs[1])
    # caches are popped last-in first-out: the second forward is differentiated first
    second = ours.backward(douts[1], dstates[1])
    first = ours.backward(douts[0], dstates[0])
    assert_close(second[0], single[1][0], rtol=0.0, name="dx (second call)")
    assert_close(first[0], single[0][0], rtol=0.0, name="dx (first call)")
    for n, p in ours.named_parameters():
        assert_close(p.grad, single[0][3][n] + single[1][3][n], rtol=1e-13, name=f"accumulated {n}")
        assert np.any(p.grad != 0)
    ours.zero_grad()
    for n, p in ours.named_parameters():
        assert np.all(p.grad == 0), n
    with pytest.raises(RuntimeError):
        ours.backward(douts[0])  # every cache has been consumed


# -------------------------------------------------------------------------------------- forget_bias
@pytest.mark.parametrize("forget_bias", [1.0, -0.7, 2.5])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_lstm_forget_bias_equals_shifted_torch_bias(forget_bias, bidirectional):
    rng = seeded_rng("forget_bias", forget_bias, bidirectional)
    T, B, D, H = 5, 3, 4, 3
    tmod = torch_rnn("LSTM", D, H, num_layers=2, bidirectional=bidirectional)
    randomize(tmod, rng)
    ours = nn.LSTM(D, H, 2, bidirectional=bidirectional, forget_bias=forget_bias, dtype=np.float64, rng=0)
    load_from_torch(ours, tmod)  # unshifted biases: forget_bias is applied at run time
    with torch.no_grad():
        for name, p in tmod.named_parameters():
            if name.startswith("bias_ih"):
                p[H : 2 * H] += forget_bias
    nd = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, D))
    h0, c0 = _states(rng, 2 * nd, B, H)
    upstream = (
        rng.standard_normal((T, B, nd * H)),
        rng.standard_normal(h0.shape),
        rng.standard_normal(c0.shape),
    )
    res, ref = _run_recurrent("LSTM", ours, tmod, x, (h0, c0), upstream, torch_hx=(h0, c0))
    _check_all("LSTM", ours, tmod, res, ref)
    # the parameters themselves were not shifted
    for name, p in ours.named_parameters():
        if name.startswith("bias_ih"):
            assert_close(p.data[H : 2 * H], tmod.state_dict()[name][H : 2 * H] - forget_bias, name=name)


@pytest.mark.parametrize("unbatched", [False, True])
def test_lstm_cell_forget_bias_equals_shifted_torch_bias(unbatched):
    rng = seeded_rng("cell forget_bias", unbatched)
    B, D, H, f = 3, 4, 3, 1.3
    tcell = torch.nn.LSTMCell(D, H, dtype=torch.float64)
    randomize(tcell, rng)
    cell = nn.LSTMCell(D, H, forget_bias=f, dtype=np.float64, rng=0)
    load_from_torch(cell, tcell)
    with torch.no_grad():
        tcell.bias_ih[H : 2 * H] += f
    _run_cell_case("LSTM", cell, tcell, rng, B, D, H, unbatched, True)


# -------------------------------------------------------------------------------------------- cells
CELL_MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def _cell_pair(mode, D, H, bias, rng):
    if mode == "LSTM":
        tcell, cell = (
            torch.nn.LSTMCell(D, H, bias, dtype=torch.float64),
            nn.LSTMCell(D, H, bias, dtype=np.float64),
        )
    elif mode == "GRU":
        tcell, cell = (
            torch.nn.GRUCell(D, H, bias, dtype=torch.float64),
            nn.GRUCell(D, H, bias, dtype=np.float64),
        )
    else:
        nl = "tanh" if mode == "RNN_TANH" else "relu"
        tcell = torch.nn.RNNCell(D, H, bias, nonlinearity=nl, dtype=torch.float64)
        cell = nn.RNNCell(D, H, bias, nl, dtype=np.float64)
    randomize(tcell, rng)
    load_from_torch(cell, tcell)
    return cell, tcell


def _run_cell_case(mode, cell, tcell, rng, B, D, H, unbatched, with_hx):
    lstm = mode == "LSTM"
    xs = (D,) if unbatched else (B, D)
    hs = (H,) if unbatched else (B, H)
    x = rng.standard_normal(xs)
    h0 = 0.5 * rng.standard_normal(hs) if with_hx else np.zeros(hs)
    c0 = 0.5 * rng.standard_normal(hs) if with_hx else np.zeros(hs)
    dh1, dc1 = rng.standard_normal(hs), rng.standard_normal(hs)
    xt, th0, tc0 = t64(x), t64(h0), t64(c0)
    if lstm:
        h1, c1 = cell(x, (h0, c0) if with_hx else None)
        dx, (dh0, dc0) = cell.backward(dh1, dc1)
        th1, tc1 = tcell(xt, (th0, tc0))
        ((th1 * t64(dh1, False)).sum() + (tc1 * t64(dc1, False)).sum()).backward()
        assert_close(c1, tc1, name="c1")
        assert_close(dc0, tc0.grad, name="dc0")
    else:
        h1 = cell(x, h0 if with_hx else None)
        dx, dh0 = cell.backward(dh1)
        th1 = tcell(xt, th0)
        (th1 * t64(dh1, False)).sum().backward()
    assert_close(h1, th1, name="h1")
    assert_close(dx, xt.grad, name="dx")
    assert_close(dh0, th0.grad, name="dh0")
    compare_param_grads(cell, tcell)


@pytest.mark.parametrize("with_hx", [True, False], ids=["hx", "no_hx"])
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("mode", CELL_MODES)
def test_cell_matches_torch(mode, bias, unbatched, with_hx):
    rng = seeded_rng("cell", mode, bias, unbatched, with_hx)
    _, B, D, H = _shapes(rng)
    cell, tcell = _cell_pair(mode, D, H, bias, rng)
    _run_cell_case(mode, cell, tcell, rng, B, D, H, unbatched, with_hx)
