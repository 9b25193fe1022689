"""PyTorch-style ``dropout=p`` between stacked recurrent layers.

Dropout is applied to the output of every layer except the last, only in ``train()`` mode, with masks from
the module's own seeded generator. The masks a real call draws are recorded (by wrapping
``bptt.functional.dropout.forward``) and replayed in a torch reference built from single-layer torch modules,
so outputs and gradients under dropout are checked to 1e-10; with masks fixed, finite differences check the
gradients too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
from bptt import nn
from bptt.functional import dropout as F_dropout
from conftest import assert_close, distinct_uniform, seeded_rng, t64

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def _make(mode: str, D: int, H: int, num_layers: int, dropout: float, bidirectional: bool = False,
          rng=0) -> nn.RNNBase:
    kw = dict(num_layers=num_layers, dropout=dropout, bidirectional=bidirectional, dtype=np.float64, rng=rng)
    if mode == "LSTM":
        return nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return nn.GRU(D, H, **kw)
    return nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def _randomize(m: nn.Module, rng: np.random.Generator) -> None:
    for p in m.parameters():
        p.data[...] = distinct_uniform(rng, p.shape, -0.8, 0.8)


def _run(m, x, hx, dout, dstate):
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


def _inputs(mode, rng, T, B, D, H, n, nd):
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((n, B, H))
    c0 = rng.standard_normal((n, B, H))
    dout = rng.standard_normal((T, B, nd * H))
    dh = rng.standard_normal((n, B, H))
    dc = rng.standard_normal((n, B, H))
    if mode == "LSTM":
        return x, (h0, c0), dout, (dh, dc)
    return x, h0, dout, dh


class _Recorder:
    """Wraps ``bptt.functional.dropout.forward``: records (input shape, p, scaled mask) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, float, np.ndarray | None]] = []
        self._orig = F_dropout.forward

    def __call__(self, x, p, rng, training=True):
        y, cache = self._orig(x, p, rng, training)
        self.calls.append((x.shape, p, None if cache is None else np.array(cache.scaled_mask, copy=True)))
        return y, cache


# ----------------------------------------------------------------------------------------- train / eval
@pytest.mark.parametrize("mode", MODES)
def test_dropout_active_in_train_only(mode):
    rng = seeded_rng("drop-train-eval", mode)
    T, B, D, H, L = 5, 3, 3, 4, 3
    a = _make(mode, D, H, L, 0.5)
    b = _make(mode, D, H, L, 0.0)
    _randomize(a, rng)
    b.load_state_dict(a.state_dict())
    x, hx, dout, dstate = _inputs(mode, rng, T, B, D, H, L, 1)
    ra_train = _run(a, x, hx, dout, dstate)
    rb = _run(b, x, hx, dout, dstate)
    assert not np.allclose(ra_train["out"], rb["out"]), "dropout=0.5 in train() mode must change the output"
    assert not np.allclose(ra_train["dx"], rb["dx"])
    a.zero_grad()
    b.zero_grad()
    a.eval()
    b.eval()
    ra_eval = _run(a, x, hx, dout, dstate)
    rb_eval = _run(b, x, hx, dout, dstate)
    for k, v in rb_eval.items():
        assert np.array_equal(ra_eval[k], v), f"{k}: eval() must disable dropout exactly"
        assert np.array_equal(rb[k], v), f"{k}: train/eval must not matter without dropout"


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_single_layer_dropout_has_no_effect(mode, bidirectional):
    """The last layer's output is never dropped: with one layer, dropout does nothing even in train()."""
    rng = seeded_rng("drop-single", mode, bidirectional)
    T, B, D, H = 5, 3, 3, 4
    nd = 2 if bidirectional else 1
    a = _make(mode, D, H, 1, 0.9, bidirectional)
    b = _make(mode, D, H, 1, 0.0, bidirectional)
    _randomize(a, rng)
    b.load_state_dict(a.state_dict())
    assert a.training
    x, hx, dout, dstate = _inputs(mode, rng, T, B, D, H, nd, nd)
    ra, rb = _run(a, x, hx, dout, dstate), _run(b, x, hx, dout, dstate)
    for k, v in rb.items():
        assert np.array_equal(ra[k], v), k


@pytest.mark.parametrize("mode", MODES)
def test_seed_reproduces_masks_bit_for_bit(mode):
    rng = seeded_rng("drop-seed", mode)
    T, B, D, H, L = 5, 3, 3, 4, 3
    a = _make(mode, D, H, L, 0.4, True, rng=123)
    b = _make(mode, D, H, L, 0.4, True, rng=123)
    x, hx, dout, dstate = _inputs(mode, rng, T, B, D, H, 2 * L, 2)
    r1a, r1b = _run(a, x, hx, dout, dstate), _run(b, x, hx, dout, dstate)
    for k, v in r1a.items():
        assert np.array_equal(v, r1b[k]), k
    r2a, r2b = _run(a, x, hx, dout, dstate), _run(b, x, hx, dout, dstate)
    for k, v in r2a.items():
        assert np.array_equal(v, r2b[k]), k
    assert not np.array_equal(r1a["out"], r2a["out"]), "each call must draw fresh masks"
    c = _make(mode, D, H, L, 0.4, True, rng=124)
    c.load_state_dict(a.state_dict())
    assert not np.array_equal(_run(c, x, hx, dout, dstate)["out"], r1a["out"]), "another seed, other masks"


# ----------------------------------------------------------------------------------------- torch replay
def _torch_layer(mode, in_size, H, bidirectional, params, k):
    """Single-layer torch module with layer ``k``'s weights taken from ``params`` (name -> array)."""
    kw = dict(bidirectional=bidirectional, dtype=torch.float64)
    if mode == "LSTM":
        t = torch.nn.LSTM(in_size, H, **kw)
    elif mode == "GRU":
        t = torch.nn.GRU(in_size, H, **kw)
    else:
        t = torch.nn.RNN(in_size, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)
    with torch.no_grad():
        for name, p in t.named_parameters():
            p.copy_(torch.from_numpy(params[name.replace("_l0", f"_l{k}")]))
    return t


@pytest.mark.parametrize("p", [0.3, 0.7])
@pytest.mark.parametrize("num_layers", [2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_dropout_matches_torch_with_replayed_masks(mode, bidirectional, num_layers, p, monkeypatch):
    rng = seeded_rng("drop-torch", mode, bidirectional, num_layers, p)
    T, B, D, H = 5, 3, 3, 4
    nd = 2 if bidirectional else 1
    n = num_layers * nd
    lstm = mode == "LSTM"
    m = _make(mode, D, H, num_layers, p, bidirectional, rng=int(rng.integers(1000)))
    _randomize(m, rng)
    rec = _Recorder()
    monkeypatch.setattr(F_dropout, "forward", rec)
    x, hx, dout, dstate = _inputs(mode, rng, T, B, D, H, n, nd)
    res = _run(m, x, hx, dout, dstate)

    # one call per non-final layer, on that layer's (T, B, nd*H) output, with the module's p
    assert len(rec.calls) == num_layers - 1
    masks = []
    for shape, p_used, mask in rec.calls:
        assert shape == (T, B, nd * H) and p_used == p
        assert mask is not None and mask.shape == shape
        assert set(np.unique(mask).tolist()) <= {0.0, 1.0 / (1.0 - p)}
        masks.append(mask)
    assert any((mk == 0).any() for mk in masks) and any((mk != 0).any() for mk in masks)

    params = {k: v.data.copy() for k, v in m.named_parameters()}
    layers = [
        _torch_layer(mode, D if k == 0 else nd * H, H, bidirectional, params, k) for k in range(num_layers)
    ]
    xt = t64(x)
    h0 = t64(hx[0] if lstm else hx)
    c0 = t64(hx[1]) if lstm else None
    inp = xt
    hns, cns = [], []
    for k, layer in enumerate(layers):
        sl = slice(k * nd, (k + 1) * nd)
        if lstm:
            out, (hn, cn) = layer(inp, (h0[sl], c0[sl]))
            cns.append(cn)
        else:
            out, hn = layer(inp, h0[sl])
        hns.append(hn)
        if k < num_layers - 1:
            out = out * torch.from_numpy(masks[k])
        inp = out
    th_n = torch.cat(hns)
    dh = dstate[0] if lstm else dstate
    loss = (inp * t64(dout, False)).sum() + (th_n * t64(dh, False)).sum()
    if lstm:
        tc_n = torch.cat(cns)
        loss = loss + (tc_n * t64(dstate[1], False)).sum()
    loss.backward()

    assert_close(res["out"], inp, name="out")
    assert_close(res["h_n"], th_n, name="h_n")
    assert_close(res["dx"], xt.grad, name="dx")
    assert_close(res["dh0"], h0.grad, name="dh0")
    if lstm:
        assert_close(res["c_n"], tc_n, name="c_n")
        assert_close(res["dc0"], c0.grad, name="dc0")
    for k, layer in enumerate(layers):
        for name, tp in layer.named_parameters():
            ours_name = name.replace("_l0", f"_l{k}")
            assert_close(res[f"grad {ours_name}"], tp.grad, name=f"grad {ours_name}")


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_dropout_gradients_match_finite_differences_with_fixed_masks(mode, bidirectional, monkeypatch):
    """Fixed masks (one per non-final layer) make the training-mode module deterministic: gradcheck it."""
    rng = seeded_rng("drop-fd", mode, bidirectional)
    T, B, D, H, L, p = 4, 2, 3, 3, 3, 0.5
    nd = 2 if bidirectional else 1
    m = _make(mode, D, H, L, p, bidirectional)
    _randomize(m, rng)
    fixed = [(rng.random((T, B, nd * H)) >= p) / (1.0 - p) for _ in range(L - 1)]
    for f in fixed:
        assert (f == 0).any() and (f != 0).any()
    counter = [0]

    def fixed_forward(x, p_, rng_, training=True):
        assert training and p_ == p
        mask = fixed[counter[0] % (L - 1)]
        counter[0] += 1
        return x * mask, F_dropout.DropoutCache(mask)

    monkeypatch.setattr(F_dropout, "forward", fixed_forward)
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((L * nd, B, H))
    hx = (h0, rng.standard_normal((L * nd, B, H))) if mode == "LSTM" else h0
    report = bptt.check_module(m, x, hx, max_elements=40, raise_on_failure=False)
    assert report.ok, str(report)
    # and the masks did matter: without them the output differs
    with nn.no_grad():
        masked, _ = m(x, hx)
        m.eval()
        plain, _ = m(x, hx)
    assert not np.allclose(masked, plain)


# ----------------------------------------------------------------------------------------- the op itself
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_functional_dropout_statistics(p):
    rng = np.random.default_rng(int(p * 1000))
    N = 1_000_000
    x = rng.normal(1.0, 1.0, N)
    y, cache = F_dropout.forward(x, p, np.random.default_rng(7))
    assert cache is not None
    mask = cache.scaled_mask
    assert mask.shape == x.shape
    kept = mask != 0
    keep_rate = kept.mean()
    assert abs(keep_rate - (1 - p)) <= 0.01 * (1 - p), keep_rate
    assert np.all(mask[kept] == 1.0 / (1.0 - p))
    assert np.array_equal(y[kept], x[kept] * (1.0 / (1.0 - p)))
    assert np.all(y[~kept] == 0.0)
    se = y.std() / np.sqrt(N)
    assert abs(y.mean() - x.mean()) <= 4 * se, (y.mean(), x.mean(), se)
    dy = rng.standard_normal(N)
    assert np.array_equal(F_dropout.backward(dy, cache), dy * mask)
    # reproducible from the generator alone
    y2, cache2 = F_dropout.forward(x, p, np.random.default_rng(7))
    assert np.array_equal(mask, cache2.scaled_mask) and np.array_equal(y, y2)


def test_functional_dropout_identity_cases():
    x = np.arange(12.0).reshape(3, 4)
    y, cache = F_dropout.forward(x, 0.5, np.random.default_rng(0), training=False)
    assert cache is None and np.array_equal(y, x)
    y, cache = F_dropout.forward(x, 0.0, np.random.default_rng(0))
    assert cache is None and np.array_equal(y, x)
    dy = np.ones_like(x)
    assert np.array_equal(F_dropout.backward(dy, None), dy)


def test_module_dropout_keep_rate_on_a_large_layer(monkeypatch):
    """The mask the module actually draws between layers keeps 1 - p of the units (within 1%)."""
    p = 0.3
    m = nn.GRU(2, 50, num_layers=2, dropout=p, dtype=np.float64, rng=5)
    rec = _Recorder()
    monkeypatch.setattr(F_dropout, "forward", rec)
    with nn.no_grad():
        m(np.random.default_rng(1).standard_normal((40, 50, 2)))
    assert len(rec.calls) == 1
    mask = rec.calls[0][2]
    assert mask.shape == (40, 50, 50)
    keep = (mask != 0).mean()
    assert abs(keep - (1 - p)) <= 0.01 * (1 - p), keep


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_bad_dropout_raises(bad):
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, num_layers=2, dropout=bad)
