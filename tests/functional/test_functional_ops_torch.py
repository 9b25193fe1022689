"""Every op in ``bptt.functional`` against PyTorch autograd in float64.

Parity is ``max|ours - torch| <= 1e-10 * max|torch|`` per array (``helpers.assert_close``), for the
output and for every gradient, under a random upstream gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from bptt.functional import (
    cross_entropy,
    dropout,
    embedding,
    linear,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from cases.functional import (
    RECURRENT_CASES,
    activation_input,
    backward_ours,
    ce_case,
    embedding_case,
    grad_names,
    ours_recurrent,
    recurrent_inputs,
)
from helpers import assert_close, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch


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


@pytest.mark.parametrize("padding_idx", [None, 0, 2, 5])
def test_embedding_matches_torch(padding_idx):
    rng, E, ids = embedding_case(padding_idx, "parity")
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
    rng, E, ids = embedding_case(-1, "neg")
    e, cache = embedding.forward(ids, E, -1)
    de = rng.standard_normal(e.shape)
    dE = embedding.backward(de, cache)
    Et = t64(E)
    et = TF.embedding(torch.from_numpy(ids), Et, padding_idx=-1)
    _torch_backward([et], [de])
    assert_close(e, et, name="e")
    assert_close(dE, Et.grad, name="dE")


# -------------------------------------------------------------------------------------- activations
ACTIVATIONS = {
    "sigmoid": (sigmoid, torch.sigmoid),
    "tanh": (tanh, torch.tanh),
    "relu": (relu, torch.relu),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch(name):
    mod, tfn = ACTIVATIONS[name]
    rng = seeded_rng("act", name)
    x = activation_input(name, rng)
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
    rng, x, y = ce_case("parity", ignore_index, n_ignored)
    loss, dx = _ce_parity(x, y, ignore_index, reduction, rng)
    ignored = y == ignore_index
    assert np.all(dx[ignored] == 0)
    if reduction == "none":
        assert np.all(loss[ignored] == 0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_large_logits_are_stable(reduction):
    """Logits of magnitude 1e4: a naive exp overflows; log-sum-exp gives a finite loss equal to torch's."""
    rng, x, y = ce_case("large", -100, 1, scale=1e4)
    loss, dx = _ce_parity(x, y, -100, reduction, rng)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dx))
    assert np.max(np.abs(loss)) > 1e3  # really in the large-logit regime


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_all_targets_ignored_matches_torch(reduction):
    """Every row ignored: torch's loss is NaN for ``mean`` (0 otherwise) and its gradient is exactly 0."""
    rng, x, _ = ce_case("all-ignored", -100, 0)
    y = np.full(x.shape[0], -100)
    _ce_parity(x, y, -100, reduction, rng)


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


def _shape(rng):
    return int(rng.integers(1, 7)), int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))


@pytest.mark.parametrize("draw", [0, 1, 2])
@pytest.mark.parametrize("kind,forget_bias,reverse,bias", RECURRENT_CASES)
def test_recurrent_matches_torch(kind, forget_bias, reverse, bias, draw):
    rng = seeded_rng("rec-parity", kind, forget_bias, reverse, bias, draw)
    T, B, D, H = (5, 3, 4, 3) if draw == 0 else _shape(rng)
    inp = recurrent_inputs(kind, rng, bias, T, B, D, H)
    outs, cache = ours_recurrent(kind, inp, forget_bias=forget_bias, reverse=reverse)
    upstream = [rng.standard_normal(o.shape) for o in outs]
    grads = backward_ours(kind, tuple(upstream), cache)

    touts, leaves = _torch_recurrent(kind, inp, forget_bias=forget_bias, reverse=reverse)
    _torch_backward(touts, upstream)
    for name, o, t in zip(["y", "h_n", "c_n"] if kind == "lstm" else ["y", "h_n"], outs, touts, strict=True):
        assert_close(o, t, name=name)
    names = grad_names(kind)
    assert len(grads) == len(names)
    for name, g in zip(names, grads, strict=True):
        assert_close(g, _grad(leaves[name]), name="d" + name)
