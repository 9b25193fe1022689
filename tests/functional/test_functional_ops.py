"""Every op in ``bptt.functional``: finite-difference gradcheck, saturation, identities (NumPy only).

The float64 parity with PyTorch autograd lives in test_functional_ops_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest

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
from cases.functional import (
    GATES,
    RECURRENT_CASES,
    activation_input,
    backward_ours,
    ce_case,
    embedding_case,
    grad_names,
    ours_recurrent,
    recurrent_inputs,
)
from helpers import seeded_rng


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3)])
def test_linear_gradcheck(x_shape, bias):
    rng = seeded_rng("linear-gc", x_shape, bias)
    x = rng.standard_normal(x_shape)
    W = rng.standard_normal((4, x_shape[-1]))
    b = rng.standard_normal(4) if bias else None
    report = bptt.check_function(linear.forward, linear.backward, [x, W, b], names=["x", "W", "b"])
    assert set(report.errors) == ({"x", "W", "b"} if bias else {"x", "W"})


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_gradcheck(padding_idx):
    _, E, ids = embedding_case(padding_idx, "gc")
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


ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradcheck(name):
    mod = ACTIVATIONS[name]
    rng = seeded_rng("act-gc", name)
    x = activation_input(name, rng)
    x[0, :2] = [40.0, -40.0]
    bptt.check_function(mod.forward, mod.backward, [x], names=["x"])


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


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_family_gradcheck(op, axis):
    mod = {"softmax": softmax, "log_softmax": log_softmax}[op]
    x = seeded_rng(op, "gc", axis).standard_normal((3, 5)) * 2
    bptt.check_function(mod.forward, mod.backward, [x], kwargs={"axis": axis}, names=["x"])


@pytest.mark.parametrize("ignore_index,n_ignored", [(-100, 0), (1, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(reduction, ignore_index, n_ignored):
    _, x, y = ce_case("gc", ignore_index, n_ignored)
    report = bptt.check_function(
        cross_entropy.forward,
        lambda d, cache: (cross_entropy.backward(d, cache), None),
        [x, y],
        kwargs={"ignore_index": ignore_index, "reduction": reduction},
        names=["x", "y"],
    )
    assert set(report.errors) == {"x"}


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


@pytest.mark.parametrize("kind", sorted(GATES))
def test_recurrent_none_upstream_equals_zeros(kind):
    """``backward`` accepts ``None`` for any upstream gradient and treats it as zeros."""
    rng = seeded_rng("rec-none", kind)
    inp = recurrent_inputs(kind, rng, True, 4, 2, 3, 3)
    outs, cache = ours_recurrent(kind, inp, reverse=False)
    n = len(outs)
    for missing in range(n):
        ups = [rng.standard_normal(o.shape) for o in outs]
        with_none = tuple(None if j == missing else u for j, u in enumerate(ups))
        zeros = tuple(np.zeros_like(u) if j == missing else u for j, u in enumerate(ups))
        g_none = backward_ours(kind, with_none, cache)
        g_zero = backward_ours(kind, zeros, cache)
        for name, a, b in zip(grad_names(kind), g_none, g_zero, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=f"missing={missing} d{name}")


def test_recurrent_has_two_distinct_bias_gradients_for_gru():
    """GRU: ``b_hn`` sits inside the reset product: ``db_ih != db_hh`` on the n block, equal on r and z."""
    rng = seeded_rng("gru-bias")
    inp = recurrent_inputs("gru", rng, True, 4, 2, 3, 3)
    outs, cache = ours_recurrent("gru", inp)
    *_, db_ih, db_hh = gru.backward(tuple(rng.standard_normal(o.shape) for o in outs), cache)
    np.testing.assert_allclose(db_ih[:6], db_hh[:6], rtol=1e-13)
    assert np.max(np.abs(db_ih[6:] - db_hh[6:])) > 1e-3


@pytest.mark.parametrize("kind,forget_bias,reverse,bias", RECURRENT_CASES)
def test_recurrent_gradcheck(kind, forget_bias, reverse, bias):
    rng = seeded_rng("rec-gc", kind, forget_bias, reverse, bias)
    T, B, D, H = 3, 2, 3, 2
    inp = recurrent_inputs(kind, rng, bias, T, B, D, H)
    names = grad_names(kind)
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
        fwd, lambda d, c: backward_ours(kind, d, c), args, kwargs=kwargs, names=names
    )
    expected = {n for n in names if inp[n] is not None}
    assert set(report.errors) == expected
