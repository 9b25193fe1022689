"""``bptt.nn`` modules against ``torch.nn`` modules holding identical float64 weights.

Every comparison is ``max|ours - torch| <= 1e-10 * max|torch|`` per array, for outputs, final states and the
gradients of the input, the initial states and every parameter under random upstream gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bptt import nn
from conftest import assert_close, distinct_uniform, seeded_rng, t64

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


# ----------------------------------------------------------------------------------------- builders
def _torch_rnn(
    mode: str,
    D: int,
    H: int,
    num_layers: int = 1,
    bias: bool = True,
    batch_first: bool = False,
    bidirectional: bool = False,
    dtype=torch.float64,
) -> torch.nn.RNNBase:
    kw = dict(
        num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, dtype=dtype
    )
    if mode == "LSTM":
        return torch.nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return torch.nn.GRU(D, H, **kw)
    return torch.nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def _ours_rnn(
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


def _randomize(tmod: torch.nn.Module, rng: np.random.Generator) -> None:
    """Random non-zero weights; biases distinct (``b_ih != b_hh`` everywhere)."""
    with torch.no_grad():
        for p in tmod.parameters():
            p.copy_(torch.from_numpy(distinct_uniform(rng, tuple(p.shape))))
        for name, p in tmod.named_parameters():
            if "bias_ih" in name:
                other = dict(tmod.named_parameters())[name.replace("bias_ih", "bias_hh")]
                assert not torch.any(p == other)


def _load_from_torch(ours: nn.Module, tmod: torch.nn.Module) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})


def _pair(mode, D, H, rng, **cfg):
    tmod = _torch_rnn(mode, D, H, **cfg)
    _randomize(tmod, rng)
    ours = _ours_rnn(mode, D, H, **cfg, rng=0)
    _load_from_torch(ours, tmod)
    return ours, tmod


def _compare_param_grads(ours: nn.Module, tmod: torch.nn.Module) -> None:
    tparams = dict(tmod.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert list(ours_params) == list(tparams)
    for name, p in ours_params.items():
        assert tparams[name].grad is not None, name
        assert_close(p.grad, tparams[name].grad, name=f"grad {name}")


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
    _compare_param_grads(ours, tmod)


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
    _compare_param_grads(ours, tmod)


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
    tmod = _torch_rnn("LSTM", D, H, num_layers=2, bidirectional=bidirectional)
    _randomize(tmod, rng)
    ours = nn.LSTM(D, H, 2, bidirectional=bidirectional, forget_bias=forget_bias, dtype=np.float64, rng=0)
    _load_from_torch(ours, tmod)  # unshifted biases: forget_bias is applied at run time
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
    _randomize(tcell, rng)
    cell = nn.LSTMCell(D, H, forget_bias=f, dtype=np.float64, rng=0)
    _load_from_torch(cell, tcell)
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
    _randomize(tcell, rng)
    _load_from_torch(cell, tcell)
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
    _compare_param_grads(cell, tcell)


@pytest.mark.parametrize("with_hx", [True, False], ids=["hx", "no_hx"])
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("mode", CELL_MODES)
def test_cell_matches_torch(mode, bias, unbatched, with_hx):
    rng = seeded_rng("cell", mode, bias, unbatched, with_hx)
    _, B, D, H = _shapes(rng)
    cell, tcell = _cell_pair(mode, D, H, bias, rng)
    _run_cell_case(mode, cell, tcell, rng, B, D, H, unbatched, with_hx)


# ------------------------------------------------------------------------------------- feed-forward
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)], ids=["2d", "3d", "1d"])
def test_linear_module_matches_torch(x_shape, bias):
    rng = seeded_rng("Linear", x_shape, bias)
    K = 4
    tlin = torch.nn.Linear(x_shape[-1], K, bias=bias, dtype=torch.float64)
    _randomize(tlin, rng)
    lin = nn.Linear(x_shape[-1], K, bias=bias, dtype=np.float64)
    _load_from_torch(lin, tlin)
    x = rng.standard_normal(x_shape)
    y = lin(x)
    dy = rng.standard_normal(y.shape)
    dx = lin.backward(dy)
    xt = t64(x)
    yt = tlin(xt)
    (yt * t64(dy, False)).sum().backward()
    assert_close(y, yt, name="y")
    assert_close(dx, xt.grad, name="dx")
    _compare_param_grads(lin, tlin)


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_module_matches_torch(padding_idx):
    rng = seeded_rng("Embedding", padding_idx)
    V, D = 7, 4
    temb = torch.nn.Embedding(V, D, padding_idx=padding_idx, dtype=torch.float64)
    with torch.no_grad():
        temb.weight.copy_(torch.from_numpy(rng.standard_normal((V, D))))
    emb = nn.Embedding(V, D, padding_idx=padding_idx, dtype=np.float64)
    _load_from_torch(emb, temb)
    ids = rng.integers(0, V, size=(3, 6))
    ids[0, :4] = 2  # repeated
    ids[1, :2] = [0, V - 1]
    ids[2, 5] = 3
    e = emb(ids)
    de = rng.standard_normal(e.shape)
    assert emb.backward(de) is None
    et = temb(torch.from_numpy(ids))
    (et * t64(de, False)).sum().backward()
    assert_close(e, et, name="e")
    _compare_param_grads(emb, temb)
    if padding_idx is not None:
        assert np.all(emb.weight.grad[padding_idx % V] == 0)


@pytest.mark.parametrize("padding_idx", [None, 1, -2])
def test_embedding_init_zeroes_padding_row(padding_idx):
    emb = nn.Embedding(5, 3, padding_idx=padding_idx, rng=0)
    temb = torch.nn.Embedding(5, 3, padding_idx=padding_idx)
    for i in range(5):
        is_pad = bool(torch.all(temb.weight[i] == 0))
        assert bool(np.all(emb.weight.data[i] == 0)) == is_pad, i


CE_SHAPES = {
    "2d": ((6, 5), (6,)),
    "kdim": ((3, 5, 4), (3, 4)),
    "k2dim": ((2, 5, 3, 2), (2, 3, 2)),
    "unbatched": ((5,), ()),
}


@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", sorted(CE_SHAPES))
def test_cross_entropy_module_matches_torch(shape, reduction, ignore_index):
    rng = seeded_rng("CE", shape, reduction, ignore_index)
    x_shape, y_shape = CE_SHAPES[shape]
    C = 5
    x = rng.standard_normal(x_shape) * 2
    y = rng.integers(0, C, size=y_shape)
    if y.ndim:
        y[y == ignore_index] = 0
        flat = y.reshape(-1)
        flat[rng.choice(flat.size, size=2, replace=False)] = ignore_index  # some ignored targets
    else:
        y = np.array(3)
    crit = nn.CrossEntropyLoss(ignore_index=ignore_index, reduction=reduction)
    loss = crit(x, y)
    dloss = rng.standard_normal(np.shape(loss))
    dx = crit.backward(dloss if reduction == "none" else float(dloss))
    xt = t64(x)
    lt = torch.nn.CrossEntropyLoss(ignore_index=ignore_index, reduction=reduction)(xt, torch.from_numpy(y))
    (lt * t64(dloss, False)).sum().backward()
    assert_close(loss, lt, name="loss")
    assert_close(dx, xt.grad, name="dx")


def test_cross_entropy_module_default_backward_is_one():
    rng = seeded_rng("CE default")
    x = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 1])
    crit = nn.CrossEntropyLoss()
    crit(x, y)
    dx = crit.backward()
    xt = t64(x)
    torch.nn.functional.cross_entropy(xt, torch.from_numpy(y)).backward()
    assert_close(dx, xt.grad, name="dx")


# ---------------------------------------------------------------------------------- names and state
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_parameter_names_order_and_shapes_equal_torch(mode, num_layers, bidirectional, bias):
    cfg = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    tmod = _torch_rnn(mode, 3, 5, **cfg)
    ours = _ours_rnn(mode, 3, 5, **cfg, rng=0)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tmod.named_parameters()
    ]
    assert list(ours.state_dict()) == list(tmod.state_dict())
    assert ours.num_parameters() == sum(p.numel() for p in tmod.parameters())


def test_feed_forward_and_cell_parameter_names_equal_torch():
    pairs = [
        (nn.Linear(3, 4), torch.nn.Linear(3, 4)),
        (nn.Linear(3, 4, bias=False), torch.nn.Linear(3, 4, bias=False)),
        (nn.Embedding(6, 2), torch.nn.Embedding(6, 2)),
        (nn.LSTMCell(3, 4), torch.nn.LSTMCell(3, 4)),
        (nn.GRUCell(3, 4), torch.nn.GRUCell(3, 4)),
        (nn.RNNCell(3, 4), torch.nn.RNNCell(3, 4)),
        (nn.LSTMCell(3, 4, bias=False), torch.nn.LSTMCell(3, 4, bias=False)),
        (nn.GRUCell(3, 4, bias=False), torch.nn.GRUCell(3, 4, bias=False)),
    ]
    for ours, tmod in pairs:
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in tmod.named_parameters()
        ], type(ours).__name__
        assert list(ours.state_dict()) == list(tmod.state_dict())


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trip_both_ways(mode):
    rng = seeded_rng("roundtrip", mode)
    T, B, D, H = 4, 2, 3, 5
    ours = _ours_rnn(mode, D, H, num_layers=2, bidirectional=True, rng=int(rng.integers(1000)))
    tmod = _torch_rnn(mode, D, H, num_layers=2, bidirectional=True)
    # ours -> torch
    tmod.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((T, B, D))
    out, state = ours(x)
    ours.clear_caches()
    with torch.no_grad():
        tout, tstate = tmod(t64(x, False))
    assert_close(out, tout, name="out")
    if mode == "LSTM":
        assert_close(state[0], tstate[0], name="h_n")
        assert_close(state[1], tstate[1], name="c_n")
    else:
        assert_close(state, tstate, name="h_n")
    # torch -> ours (a fresh module): bit-identical parameters, and a snapshot state_dict
    _randomize(tmod, rng)
    ours2 = _ours_rnn(mode, D, H, num_layers=2, bidirectional=True, rng=1)
    _load_from_torch(ours2, tmod)
    sd = ours2.state_dict()
    for k, v in tmod.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy(), err_msg=k)
    next(ours2.parameters()).data[...] += 1.0
    np.testing.assert_array_equal(next(iter(sd.values())), next(iter(tmod.state_dict().values())).numpy())


def test_load_state_dict_rejects_wrong_keys_and_shapes():
    ours = nn.LSTM(3, 4, dtype=np.float64)
    good = {k: v.copy() for k, v in ours.state_dict().items()}
    bad_shape = dict(good, weight_ih_l0=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="weight_ih_l0"):
        ours.load_state_dict(bad_shape)
    missing = {k: v for k, v in good.items() if k != "bias_hh_l0"}
    with pytest.raises(ValueError, match="bias_hh_l0"):
        ours.load_state_dict(missing)
    np.testing.assert_array_equal(ours.weight_ih_l0.data, good["weight_ih_l0"])


# ----------------------------------------------------------------------------------- init and dtype
def _assert_uniform(a: np.ndarray, k: float, name: str) -> None:
    """``a`` looks like i.i.d. U(-k, k): inside the bounds, reaching them, mean 0 and std k/sqrt(3).

    Tolerances are 5 standard errors of the statistic for ``n`` samples (for the sample std of a uniform,
    relative standard error sqrt((kurtosis - 1) / (4 n)) = sqrt(0.2 / n)); for the large weight matrices this
    is well under 1%.
    """
    a = a.astype(np.float64).ravel()
    n = a.size
    amax = np.abs(a).max()
    assert amax <= k * (1 + 1e-6), f"{name}: values outside [-{k}, {k}]: max |w| = {amax}"
    assert amax > k * (1 - 10 / n), f"{name}: max |w| = {amax} far below the bound {k} (n={n})"
    sigma = k / math.sqrt(3)
    rel = a.std() / sigma - 1
    assert abs(rel) < 5 * math.sqrt(0.2 / n), f"{name}: std {a.std():.6f} vs U(-k, k)'s {sigma:.6f} (n={n})"
    assert abs(a.mean()) < 5 * sigma / math.sqrt(n), f"{name}: mean {a.mean():.6f} (n={n})"
    if n >= 10_000:
        assert abs(rel) < 0.02


@pytest.mark.parametrize("mode", MODES)
def test_recurrent_init_is_uniform_one_over_sqrt_hidden(mode):
    H = 200
    ours = _ours_rnn(
        mode, 50, H, num_layers=2, bidirectional=True, dtype=np.float32, rng=seeded_rng("init", mode)
    )
    k = 1 / math.sqrt(H)
    for name, p in ours.named_parameters():
        _assert_uniform(p.data, k, name)


@pytest.mark.parametrize("mode", MODES)
def test_cell_init_is_uniform_one_over_sqrt_hidden(mode):
    D, H = 60, 150
    cls = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell}.get(mode, nn.RNNCell)
    cell = cls(D, H, rng=seeded_rng("cell-init", mode))
    for name, p in cell.named_parameters():
        _assert_uniform(p.data, 1 / math.sqrt(H), name)


def test_linear_init_is_uniform_one_over_sqrt_in():
    lin = nn.Linear(400, 300, rng=seeded_rng("linear-init"))
    _assert_uniform(lin.weight.data, 1 / math.sqrt(400), "weight")
    _assert_uniform(lin.bias.data, 1 / math.sqrt(400), "bias")


def test_embedding_init_is_standard_normal():
    emb = nn.Embedding(2000, 64, rng=seeded_rng("emb-init"))
    w = emb.weight.data.astype(np.float64).ravel()
    assert abs(w.mean()) < 5 / math.sqrt(w.size)
    assert abs(w.std() - 1) < 0.01
    kurt = np.mean(w**4) / w.var() ** 2
    assert abs(kurt - 3) < 0.1  # Gaussian, not uniform (1.8)


def test_init_is_reproducible_from_the_seed():
    a = nn.LSTM(3, 4, 2, rng=123)
    b = nn.LSTM(3, 4, 2, rng=np.random.default_rng(123))
    c = nn.LSTM(3, 4, 2, rng=124)
    for (n, pa), (_, pb), (_, pc) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=n)
        assert not np.array_equal(pa.data, pc.data), n


def _all_modules(dtype):
    kw = {} if dtype is None else {"dtype": dtype}
    return [
        nn.LSTM(3, 4, 2, bidirectional=True, **kw),
        nn.GRU(3, 4, **kw),
        nn.RNN(3, 4, nonlinearity="relu", **kw),
        nn.LSTMCell(3, 4, **kw),
        nn.GRUCell(3, 4, **kw),
        nn.RNNCell(3, 4, **kw),
        nn.Linear(3, 4, **kw),
        nn.Embedding(5, 4, **kw),
    ]


@pytest.mark.parametrize("dtype", [None, np.float32, np.float64], ids=["default", "float32", "float64"])
def test_dtype_of_parameters_outputs_and_gradients(dtype):
    expected = np.dtype(np.float32 if dtype is None else dtype)
    rng = seeded_rng("dtype", str(dtype))
    for m in _all_modules(dtype):
        for n, p in m.named_parameters():
            assert p.data.dtype == expected and p.grad.dtype == expected, (type(m).__name__, n)
    lstm, gru, rnn_, lcell, gcell, rcell, lin, emb = _all_modules(dtype)
    x = rng.standard_normal((4, 2, 3)).astype(expected)
    out, (h, c) = lstm(x)
    dx, (dh0, dc0) = lstm.backward(np.ones_like(out), (np.ones_like(h), np.ones_like(c)))
    for a in (out, h, c, dx, dh0, dc0):
        assert a.dtype == expected
    for m in (gru, rnn_):
        out, h = m(x)
        dx, dh0 = m.backward(np.ones_like(out), np.ones_like(h))
        assert {out.dtype, h.dtype, dx.dtype, dh0.dtype} == {expected}
    x2 = x[0]
    h1, c1 = lcell(x2)
    dx, (dh0, dc0) = lcell.backward(np.ones_like(h1), np.ones_like(c1))
    assert {h1.dtype, c1.dtype, dx.dtype, dh0.dtype, dc0.dtype} == {expected}
    for m in (gcell, rcell, lin):
        y = m(x2)
        dx = m.backward(np.ones_like(y))
        assert {y.dtype, (dx[0] if isinstance(dx, tuple) else dx).dtype} == {expected}
    e = emb(np.array([[0, 1], [4, 4]]))
    emb.backward(np.ones_like(e))
    assert e.dtype == expected and emb.weight.grad.dtype == expected


def test_float32_module_rejects_float64_input():
    m = nn.LSTM(3, 4)
    with pytest.raises(TypeError, match="float32"):
        m(np.zeros((2, 1, 3)))


def test_float32_lstm_close_to_torch_float32():
    """float32 is supported: parity at float32 precision (the float64 checks above are the tight ones)."""
    rng = seeded_rng("f32")
    tmod = _torch_rnn("LSTM", 3, 4, num_layers=2, bidirectional=True, dtype=torch.float32)
    _randomize(tmod, rng)
    ours = nn.LSTM(3, 4, 2, bidirectional=True, rng=0)
    _load_from_torch(ours, tmod)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out, (h, c) = ours(x)
    dx, _ = ours.backward(np.ones_like(out))
    xt = torch.tensor(x, requires_grad=True)
    tout, _ = tmod(xt)
    tout.sum().backward()
    assert out.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_dropout_between_layers_is_inactive_in_eval_mode():
    rng = seeded_rng("rnn-dropout")
    tmod = _torch_rnn("LSTM", 3, 4, num_layers=3)
    _randomize(tmod, rng)
    ours = nn.LSTM(3, 4, 3, dropout=0.5, dtype=np.float64, rng=0)
    _load_from_torch(ours, tmod)
    ours.eval()
    x = rng.standard_normal((4, 2, 3))
    out, _ = ours(x)
    dx, _ = ours.backward(np.ones_like(out))
    xt = t64(x)
    tout, _ = tmod(xt)
    tout.sum().backward()
    assert_close(out, tout, name="out")
    assert_close(dx, xt.grad, name="dx")
    ours.train()
    out_train, _ = ours(x)
    ours.clear_caches()
    assert not np.allclose(out_train, out)
