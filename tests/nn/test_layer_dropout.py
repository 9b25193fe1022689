"""PyTorch-style ``dropout=p`` between stacked recurrent layers, without PyTorch.

Dropout is applied to the output of every layer except the last, only in ``train()`` mode, with masks from
the module's own seeded generator; with masks fixed, finite differences check the gradients. The replayed-mask
parity with torch lives in test_layer_dropout_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from bptt import nn
from bptt.functional import dropout as F_dropout
from cases.layer_dropout import MODES, Recorder, inputs, make, randomize, run
from helpers import seeded_rng


# ----------------------------------------------------------------------------------------- train / eval
@pytest.mark.parametrize("mode", MODES)
def test_dropout_active_in_train_only(mode):
    rng = seeded_rng("drop-train-eval", mode)
    T, B, D, H, L = 5, 3, 3, 4, 3
    a = make(mode, D, H, L, 0.5)
    b = make(mode, D, H, L, 0.0)
    randomize(a, rng)
    b.load_state_dict(a.state_dict())
    x, hx, dout, dstate = inputs(mode, rng, T, B, D, H, L, 1)
    ra_train = run(a, x, hx, dout, dstate)
    rb = run(b, x, hx, dout, dstate)
    assert not np.allclose(ra_train["out"], rb["out"]), "dropout=0.5 in train() mode must change the output"
    assert not np.allclose(ra_train["dx"], rb["dx"])
    a.zero_grad()
    b.zero_grad()
    a.eval()
    b.eval()
    ra_eval = run(a, x, hx, dout, dstate)
    rb_eval = run(b, x, hx, dout, dstate)
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
    a = make(mode, D, H, 1, 0.9, bidirectional)
    b = make(mode, D, H, 1, 0.0, bidirectional)
    randomize(a, rng)
    b.load_state_dict(a.state_dict())
    assert a.training
    x, hx, dout, dstate = inputs(mode, rng, T, B, D, H, nd, nd)
    ra, rb = run(a, x, hx, dout, dstate), run(b, x, hx, dout, dstate)
    for k, v in rb.items():
        assert np.array_equal(ra[k], v), k


@pytest.mark.parametrize("mode", MODES)
def test_seed_reproduces_masks_bit_for_bit(mode):
    rng = seeded_rng("drop-seed", mode)
    T, B, D, H, L = 5, 3, 3, 4, 3
    a = make(mode, D, H, L, 0.4, True, rng=123)
    b = make(mode, D, H, L, 0.4, True, rng=123)
    x, hx, dout, dstate = inputs(mode, rng, T, B, D, H, 2 * L, 2)
    r1a, r1b = run(a, x, hx, dout, dstate), run(b, x, hx, dout, dstate)
    for k, v in r1a.items():
        assert np.array_equal(v, r1b[k]), k
    r2a, r2b = run(a, x, hx, dout, dstate), run(b, x, hx, dout, dstate)
    for k, v in r2a.items():
        assert np.array_equal(v, r2b[k]), k
    assert not np.array_equal(r1a["out"], r2a["out"]), "each call must draw fresh masks"
    c = make(mode, D, H, L, 0.4, True, rng=124)
    c.load_state_dict(a.state_dict())
    assert not np.array_equal(run(c, x, hx, dout, dstate)["out"], r1a["out"]), "another seed, other masks"


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_dropout_gradients_match_finite_differences_with_fixed_masks(mode, bidirectional, monkeypatch):
    """Fixed masks (one per non-final layer) make the training-mode module deterministic: gradcheck it."""
    rng = seeded_rng("drop-fd", mode, bidirectional)
    T, B, D, H, L, p = 4, 2, 3, 3, 3, 0.5
    nd = 2 if bidirectional else 1
    m = make(mode, D, H, L, p, bidirectional)
    randomize(m, rng)
    fixed = [(rng.random((T, B, nd * H)) >= p) / (1.0 - p) for _ in range(L - 1)]
    for f in fixed:
        assert (f == 0).any() and (f != 0).any()
    counter = [0]

    def fixed_forward(x, p_, rng_, training=True, **kwargs):
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
    rec = Recorder()
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
