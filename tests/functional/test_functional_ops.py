"""Every op in ``bptt.functional``: finite-difference gradcheck and float64 parity with PyTorch autograd.

Parity is ``max|ours - torch| <= 1e-10 * max|torch|`` per array (``conftest.assert_close``), for the
output and for every gradient, under a random upstream gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import bptt
from bptt.functional import (
    cross_entropy,
    dropout,
    embedding,
    gru,
    linear,
    log_softmax,
    lstm,
    relu,
    rnn,
    sigmoid,
    softmax,
    tanh,
)
from conftest import assert_close, distinct_uniform, seeded_rng, t64

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


# ------------------------------------------------------------------------------------------ helpers
def _torch_backward(outs: list[torch.Tensor], upstream: list[np.ndarray | None]) -> None:
    """Backpropagate ``sum_j <upstream_j, out_j>`` (``None`` upstream = not part of the loss)."""
    loss = sum((o * t64(u, False)).sum() for o, u in zip(outs, upstream, strict=True) if u is not None)
    loss.backward()


def _grad(t: torch.Tensor | None) -> torch.Tensor | None:
    if t is None:
        return None
    assert t.grad is not None, "torch produced no gradient for a leaf that should have one"
    return t.grad


def _recurrent_inputs(
    kind: str, rng: np.random.Generator, bias: bool, T: int, B: int, D: int, H: int
) -> dict:
    G = GATES[kind] * H
    inp = {
        "x": rng.standard_normal((T, B, D)),
        "h0": 0.5 * rng.standard_normal((B, H)),
        "W_ih": distinct_uniform(rng, (G, D)),
        "W_hh": distinct_uniform(rng, (G, H)),
        "b_ih": distinct_uniform(rng, (G,)) if bias else None,
        "b_hh": distinct_uniform(rng, (G,)) if bias else None,
    }
    if kind == "lstm":
        inp["c0"] = 0.5 * rng.standard_normal((B, H))
    if bias:
        assert not np.any(inp["b_ih"] == inp["b_hh"])
    return inp


def _torch_recurrent(kind: str, inp: dict, *, forget_bias: float = 0.0, reverse: bool = False):
    """PyTorch's fused single-layer kernels; ``reverse`` = run on the time-flipped sequence and flip back.

    Returns ``(outputs, leaves)``; ``forget_bias`` is added to the forget block of ``b_ih`` (a constant shift,
    so the gradients of the leaves are unaffected by the shift itself).
    """
    leaves = {k: (None if v is None else t64(v)) for k, v in inp.items()}
    x = leaves["x"].flip(0) if reverse else leaves["x"]
    H = inp["W_hh"].shape[1]
    params = [leaves["W_ih"], leaves["W_hh"]]
    has_bias = leaves["b_ih"] is not None
    if kind == "lstm":
        shift = torch.zeros(4 * H, dtype=torch.float64)
        shift[H : 2 * H] = forget_bias
        if has_bias:
            params += [leaves["b_ih"] + shift, leaves["b_hh"]]
        elif forget_bias:
            params += [shift, torch.zeros(4 * H, dtype=torch.float64)]
            has_bias = True
        y, h_n, c_n = torch._VF.lstm(
            x, (leaves["h0"][None], leaves["c0"][None]), params, has_bias, 1, 0.0, False, False, False
        )
        outs = [y.flip(0) if reverse else y, h_n[0], c_n[0]]
    else:
        if has_bias:
            params += [leaves["b_ih"], leaves["b_hh"]]
        fn = {"gru": torch._VF.gru, "rnn_tanh": torch._VF.rnn_tanh, "rnn_relu": torch._VF.rnn_relu}[kind]
        y, h_n = fn(x, leaves["h0"][None], params, has_bias, 1, 0.0, False, False, False)
        outs = [y.flip(0) if reverse else y, h_n[0]]
    return outs, leaves


def _ours_recurrent(kind: str, inp: dict, *, forget_bias: float = 0.0, reverse: bool = False, **kw):
    args = (
        [inp["x"], inp["h0"]]
        + ([inp["c0"]] if kind == "lstm" else [])
        + [inp["W_ih"], inp["W_hh"], inp["b_ih"], inp["b_hh"]]
    )
    if kind == "lstm":
        return lstm.forward(*args, forget_bias=forget_bias, reverse=reverse, **kw)
    if kind == "gru":
        return gru.forward(*args, reverse=reverse, **kw)
    return rnn.forward(*args, nonlinearity=kind[4:], reverse=reverse, **kw)


def _backward_ours(kind: str, dout, cache):
    return {"lstm": lstm, "gru": gru}.get(kind, rnn).backward(dout, cache)


def _grad_names(kind: str) -> list[str]:
    return ["x", "h0"] + (["c0"] if kind == "lstm" else []) + ["W_ih", "W_hh", "b_ih", "b_hh"]


# ------------------------------------------------------------------------------------------- linear
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_matches_torch(x_shape, bias):
    rng = seeded_rng("linear", x_shape, bias)
    K = 4
    x = rng.standard_normal(x_shape)
    W = rng.standard_normal((K, x_shape[-1]))
    b = rng.standard_normal(K) if bias else None
    y, cache = linear.forward(x, W, b)
    dy = rng.standard_normal(y.shape)
    dx, dW, db = linear.backward(dy, cache)

    xt, Wt = t64(x), t64(W)
    bt = t64(b) if bias else None
    yt = TF.linear(xt, Wt, bt)
    _torch_backward([yt], [dy])
    assert_close(y, yt, name="y")
    assert_close(dx, xt.grad, name="dx")
    assert_close(dW, Wt.grad, name="dW")
    assert_close(db, _grad(bt), name="db")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3)])
def test_linear_gradcheck(x_shape, bias):
    rng = seeded_rng("linear-gc", x_shape, bias)
    x = rng.standard_normal(x_shape)
    W = rng.standard_normal((4, x_shape[-1]))
    b = rng.standard_normal(4) if bias else None
    report = bptt.check_function(linear.forward, linear.backward, [x, W, b], names=["x", "W", "b"])
    assert set(report.errors) == ({"x", "W", "b"} if bias else {"x", "W"})


# ---------------------------------------------------------------------------------------- embedding
def _embedding_case(padding_idx, seed_key):
    rng = seeded_rng("embedding", padding_idx, seed_key)
    V, D = 6, 3
    E = rng.standard_normal((V, D))
    ids = rng.integers(0, V, size=(4, 5))
    ids[0, :3] = 2  # repeated ids accumulate
    ids[1, 1] = ids[2, 2] = 0
    ids[3, 4] = V - 1
    return rng, E, ids


@pytest.mark.parametrize("padding_idx", [None, 0, 2, 5])
def test_embedding_matches_torch(padding_idx):
    rng, E, ids = _embedding_case(padding_idx, "parity")
    e, cache = embedding.forward(ids, E, padding_idx)
    de = rng.standard_normal(e.shape)
    dE = embedding.backward(de, cache)

    Et = t64(E)
    et = TF.embedding(torch.from_numpy(ids), Et, padding_idx=padding_idx)
    _torch_backward([et], [de])
    assert_close(e, et, name="e")
    assert_close(dE, Et.grad, name="dE")
    if padding_idx is not None:
        assert np.all(dE[padding_idx] == 0)
    # repeated ids: row 2 collects every occurrence
    if padding_idx != 2:
        np.testing.assert_allclose(dE[2], de[ids == 2].sum(axis=0), rtol=1e-12, atol=1e-14)


def test_embedding_negative_padding_idx_matches_torch():
    """``torch.nn.functional.embedding`` reads ``padding_idx=-1`` as the last row (V - 1)."""
    rng, E, ids = _embedding_case(-1, "neg")
    e, cache = embedding.forward(ids, E, -1)
    de = rng.standard_normal(e.shape)
    dE = embedding.backward(de, cache)
    Et = t64(E)
    et = TF.embedding(torch.from_numpy(ids), Et, padding_idx=-1)
    _torch_backward([et], [de])
    assert_close(e, et, name="e")
    assert_close(dE, Et.grad, name="dE")


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_gradcheck(padding_idx):
    _, E, ids = _embedding_case(padding_idx, "gc")
    assert padding_idx is None or np.any(ids == padding_idx)
    pad_row = E[padding_idx].copy() if padding_idx is not None else None

    def fwd(ids_, E_):
        # PyTorch semantics: the padding row is a constant of the lookup (it gets no gradient), so the
        # finite differences must see it as one too.
        if padding_idx is not None:
            E_ = E_.copy()
            E_[padding_idx] = pad_row
        return embedding.forward(ids_, E_, padding_idx)

    report = bptt.check_function(
        fwd, lambda de, cache: (None, embedding.backward(de, cache)), [ids, E], names=["ids", "E"]
    )
    assert set(report.errors) == {"E"}


# -------------------------------------------------------------------------------------- activations
def _activation_input(name: str, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((3, 7)) * 2
    if name == "relu":  # keep finite differences away from the kink
        x = np.where(np.abs(x) < 0.05, 0.3, x)
    return x


ACTIVATIONS = {
    "sigmoid": (sigmoid, torch.sigmoid),
    "tanh": (tanh, torch.tanh),
    "relu": (relu, torch.relu),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch(name):
    mod, tfn = ACTIVATIONS[name]
    rng = seeded_rng("act", name)
    x = _activation_input(name, rng)
    x[0, :6] = [40.0, -40.0, 0.0, 800.0, -800.0, 1e-300]
    y, cache = mod.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = mod.backward(dy, cache)
    xt = t64(x)
    yt = tfn(xt)
    _torch_backward([yt], [dy])
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert_close(y, yt, name="y")
    assert_close(dx, xt.grad, name="dx")


def test_sigmoid_saturation_keeps_relative_precision():
    """At x = -40 the sigmoid is ~4.2e-18: both it and its derivative must be exact to rounding, not 0."""
    x = np.array([-40.0, -30.0, 40.0, 30.0])
    s, cache = sigmoid.forward(x)
    ds = sigmoid.backward(np.ones(4), cache)
    # 40-digit values of e^x / (1 + e^x)
    np.testing.assert_allclose(s[:2], [4.248354255291588977e-18, 9.357622968839298954e-14], rtol=1e-14)
    np.testing.assert_allclose(s[2:], 1.0 / (1.0 + np.exp(-x[2:])), rtol=1e-15)
    np.testing.assert_allclose(ds[:2], s[:2] * (1 - s[:2]), rtol=1e-15)
    assert ds[0] > 0 and ds[1] > 0


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradcheck(name):
    mod, _ = ACTIVATIONS[name]
    rng = seeded_rng("act-gc", name)
    x = _activation_input(name, rng)
    x[0, :2] = [40.0, -40.0]
    bptt.check_function(mod.forward, mod.backward, [x], names=["x"])


# ----------------------------------------------------------------------------------- softmax family
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_family_matches_torch(op, axis):
    mod, tfn = {"softmax": (softmax, TF.softmax), "log_softmax": (log_softmax, TF.log_softmax)}[op]
    rng = seeded_rng(op, axis)
    x = rng.standard_normal((3, 4, 5)) * 3
    y, cache = mod.forward(x, axis=axis)
    dy = rng.standard_normal(y.shape)
    dx = mod.backward(dy, cache)
    xt = t64(x)
    yt = tfn(xt, dim=axis)
    _torch_backward([yt], [dy])
    assert_close(y, yt, name="y")
    assert_close(dx, xt.grad, name="dx")


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_family_large_logits_are_stable(op):
    mod, tfn = {"softmax": (softmax, TF.softmax), "log_softmax": (log_softmax, TF.log_softmax)}[op]
    rng = seeded_rng(op, "large")
    x = rng.standard_normal((4, 6)) * 1e4
    y, cache = mod.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = mod.backward(dy, cache)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    xt = t64(x)
    yt = tfn(xt, dim=-1)
    _torch_backward([yt], [dy])
    assert_close(y, yt, name="y")
    assert_close(dx, xt.grad, name="dx")


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_family_gradcheck(op, axis):
    mod = {"softmax": softmax, "log_softmax": log_softmax}[op]
    x = seeded_rng(op, "gc", axis).standard_normal((3, 5)) * 2
    bptt.check_function(mod.forward, mod.backward, [x], kwargs={"axis": axis}, names=["x"])


# ------------------------------------------------------------------------------------ cross-entropy
def _ce_case(key, ignore_index: int, n_ignored: int, scale: float = 2.0):
    rng = seeded_rng("ce", key, ignore_index, n_ignored, scale)
    N, C = 7, 5
    x = rng.standard_normal((N, C)) * scale
    y = rng.integers(0, C, size=N)
    if ignore_index >= 0:
        y[y == ignore_index] = (ignore_index + 1) % C  # only the rows chosen below are ignored
    y[rng.choice(N, size=n_ignored, replace=False)] = ignore_index
    return rng, x, y


def _ce_parity(x, y, ignore_index, reduction, rng):
    loss, cache = cross_entropy.forward(x, y, ignore_index, reduction)
    dloss = rng.standard_normal(np.shape(loss))
    dx = cross_entropy.backward(dloss if reduction == "none" else float(dloss), cache)
    xt = t64(x)
    lt = TF.cross_entropy(xt, torch.from_numpy(y), ignore_index=ignore_index, reduction=reduction)
    _torch_backward([lt], [dloss])
    assert_close(loss, lt, name="loss")
    assert_close(dx, xt.grad, name="dx")
    return loss, dx


@pytest.mark.parametrize("ignore_index,n_ignored", [(-100, 0), (-100, 3), (2, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction, ignore_index, n_ignored):
    rng, x, y = _ce_case("parity", ignore_index, n_ignored)
    loss, dx = _ce_parity(x, y, ignore_index, reduction, rng)
    ignored = y == ignore_index
    assert np.all(dx[ignored] == 0)
    if reduction == "none":
        assert np.all(loss[ignored] == 0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_large_logits_are_stable(reduction):
    """Logits of magnitude 1e4: a naive exp overflows; log-sum-exp gives a finite loss equal to torch's."""
    rng, x, y = _ce_case("large", -100, 1, scale=1e4)
    loss, dx = _ce_parity(x, y, -100, reduction, rng)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dx))
    assert np.max(np.abs(loss)) > 1e3  # really in the large-logit regime


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_all_targets_ignored_matches_torch(reduction):
    """Every row ignored: torch's loss is NaN for ``mean`` (0 otherwise) and its gradient is exactly 0."""
    rng, x, _ = _ce_case("all-ignored", -100, 0)
    y = np.full(x.shape[0], -100)
    _ce_parity(x, y, -100, reduction, rng)


@pytest.mark.parametrize("ignore_index,n_ignored", [(-100, 0), (1, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(reduction, ignore_index, n_ignored):
    _, x, y = _ce_case("gc", ignore_index, n_ignored)
    report = bptt.check_function(
        cross_entropy.forward,
        lambda d, cache: (cross_entropy.backward(d, cache), None),
        [x, y],
        kwargs={"ignore_index": ignore_index, "reduction": reduction},
        names=["x", "y"],
    )
    assert set(report.errors) == {"x"}


# ------------------------------------------------------------------------------------------ dropout
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_backward_uses_the_forward_mask(p):
    rng = seeded_rng("dropout", p)
    x = rng.uniform(0.5, 2.0, (40, 50)) * rng.choice([-1.0, 1.0], (40, 50))
    y, cache = dropout.forward(x, p, np.random.default_rng(7))
    dy = rng.standard_normal(x.shape)
    dx = dropout.backward(dy, cache)
    kept = y != 0
    # forward: kept elements scaled by 1/(1-p), the rest exactly 0; about (1-p) of them kept
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-15)
    assert abs(kept.mean() - (1 - p)) < 0.05
    # backward: the very same mask and scale (torch autograd of x * mask / (1-p))
    xt = t64(x)
    yt = xt * torch.from_numpy(kept.astype(np.float64)) / (1 - p)
    _torch_backward([yt], [dy])
    assert_close(y, yt, name="y")
    assert_close(dx, xt.grad, name="dx")
    assert np.all(dx[~kept] == 0)
    # the same seed reproduces the mask
    y2, _ = dropout.forward(x, p, np.random.default_rng(7))
    np.testing.assert_array_equal(y, y2)


def test_dropout_identity_and_p_one():
    x = seeded_rng("dropout-id").standard_normal((3, 4))
    dy = np.arange(12.0).reshape(3, 4)
    for p, training in [(0.5, False), (0.0, True)]:
        y, cache = dropout.forward(x, p, None if p == 0.0 else np.random.default_rng(0), training)
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(dropout.backward(dy, cache), dy)
    y, cache = dropout.forward(x, 1.0, np.random.default_rng(0))
    assert np.all(y == 0) and np.all(dropout.backward(dy, cache) == 0)


@pytest.mark.parametrize("p", [0.3, 0.7])
def test_dropout_gradcheck(p):
    """A fresh generator with a fixed seed per call keeps the mask fixed across finite differences."""
    x = seeded_rng("dropout-gc", p).standard_normal((4, 6))
    report = bptt.check_function(
        lambda x_: dropout.forward(x_, p, np.random.default_rng(123)), dropout.backward, [x], names=["x"]
    )
    assert report.ok


# --------------------------------------------------------------------------------- recurrent layers
RECURRENT_CASES = [
    pytest.param(
        "lstm", fb, rev, bias, id=f"lstm-fb{fb}-{'rev' if rev else 'fwd'}-{'bias' if bias else 'nobias'}"
    )
    for fb in (0.0, 1.3)
    for rev in (False, True)
    for bias in (True, False)
] + [
    pytest.param(kind, 0.0, rev, bias, id=f"{kind}-{'rev' if rev else 'fwd'}-{'bias' if bias else 'nobias'}")
    for kind in ("gru", "rnn_tanh", "rnn_relu")
    for rev in (False, True)
    for bias in (True, False)
]


def _shape(rng):
    return int(rng.integers(1, 7)), int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))


@pytest.mark.parametrize("draw", [0, 1, 2])
@pytest.mark.parametrize("kind,forget_bias,reverse,bias", RECURRENT_CASES)
def test_recurrent_matches_torch(kind, forget_bias, reverse, bias, draw):
    rng = seeded_rng("rec-parity", kind, forget_bias, reverse, bias, draw)
    T, B, D, H = (5, 3, 4, 3) if draw == 0 else _shape(rng)
    inp = _recurrent_inputs(kind, rng, bias, T, B, D, H)
    outs, cache = _ours_recurrent(kind, inp, forget_bias=forget_bias, reverse=reverse)
    upstream = [rng.standard_normal(o.shape) for o in outs]
    grads = _backward_ours(kind, tuple(upstream), cache)

    touts, leaves = _torch_recurrent(kind, inp, forget_bias=forget_bias, reverse=reverse)
    _torch_backward(touts, upstream)
    for name, o, t in zip(["y", "h_n", "c_n"] if kind == "lstm" else ["y", "h_n"], outs, touts, strict=True):
        assert_close(o, t, name=name)
    names = _grad_names(kind)
    assert len(grads) == len(names)
    for name, g in zip(names, grads, strict=True):
        assert_close(g, _grad(leaves[name]), name="d" + name)


@pytest.mark.parametrize("kind", sorted(GATES))
def test_recurrent_none_upstream_equals_zeros(kind):
    """``backward`` accepts ``None`` for any upstream gradient and treats it as zeros."""
    rng = seeded_rng("rec-none", kind)
    inp = _recurrent_inputs(kind, rng, True, 4, 2, 3, 3)
    outs, cache = _ours_recurrent(kind, inp, reverse=False)
    n = len(outs)
    for missing in range(n):
        ups = [rng.standard_normal(o.shape) for o in outs]
        with_none = tuple(None if j == missing else u for j, u in enumerate(ups))
        zeros = tuple(np.zeros_like(u) if j == missing else u for j, u in enumerate(ups))
        g_none = _backward_ours(kind, with_none, cache)
        g_zero = _backward_ours(kind, zeros, cache)
        for name, a, b in zip(_grad_names(kind), g_none, g_zero, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"missing={missing} d{name}")


def test_recurrent_has_two_distinct_bias_gradients_for_gru():
    """GRU: ``b_hn`` sits inside the reset product: ``db_ih != db_hh`` on the n block, equal on r and z."""
    rng = seeded_rng("gru-bias")
    inp = _recurrent_inputs("gru", rng, True, 4, 2, 3, 3)
    outs, cache = _ours_recurrent("gru", inp)
    *_, db_ih, db_hh = gru.backward(tuple(rng.standard_normal(o.shape) for o in outs), cache)
    np.testing.assert_allclose(db_ih[:6], db_hh[:6], rtol=1e-13)
    assert np.max(np.abs(db_ih[6:] - db_hh[6:])) > 1e-3


@pytest.mark.parametrize("kind,forget_bias,reverse,bias", RECURRENT_CASES)
def test_recurrent_gradcheck(kind, forget_bias, reverse, bias):
    rng = seeded_rng("rec-gc", kind, forget_bias, reverse, bias)
    T, B, D, H = 3, 2, 3, 2
    inp = _recurrent_inputs(kind, rng, bias, T, B, D, H)
    names = _grad_names(kind)
    args = [inp[n] for n in names]
    kwargs: dict = {"reverse": reverse}
    if kind == "lstm":
        kwargs["forget_bias"] = forget_bias
        fwd = lstm.forward
    elif kind == "gru":
        fwd = gru.forward
    else:
        kwargs["nonlinearity"] = kind[4:]
        fwd = rnn.forward
    report = bptt.check_function(
        fwd, lambda d, c: _backward_ours(kind, d, c), args, kwargs=kwargs, names=names
    )
    expected = {n for n in names if inp[n] is not None}
    assert set(report.errors) == expected
