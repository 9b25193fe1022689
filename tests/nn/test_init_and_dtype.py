"""``bptt.nn`` modules without a reference framework: initialisation ranges and seeds, dtypes, state-dict refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bptt import nn
from cases.nn_parity import MODES, ours_rnn
from helpers import seeded_rng


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
    ours = ours_rnn(
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
