"""Property-based parity with PyTorch: hypothesis draws the shapes and configurations (float64, 1e-10)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bptt
from helpers import assert_close

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@SETTINGS
@given(
    mode=st.sampled_from(["LSTM", "GRU", "RNN"]),
    T=st.integers(1, 6),
    B=st.integers(1, 4),
    D=st.integers(1, 5),
    H=st.integers(1, 5),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    with_hx=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_recurrent_module_matches_torch(mode, T, B, D, H, num_layers, bidirectional, batch_first, with_hx, seed):
    rng = np.random.default_rng(seed)
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    tm = getattr(torch.nn, mode)(D, H, dtype=torch.float64, **kw)
    with torch.no_grad():
        for p in tm.parameters():  # non-zero, distinct biases (bias_ih != bias_hh)
            p.copy_(torch.tensor(rng.uniform(-0.8, 0.8, tuple(p.shape))))
    m = getattr(bptt.nn, mode)(D, H, dtype=np.float64, **kw)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    nd = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    h0 = rng.standard_normal((num_layers * nd, B, H))
    c0 = rng.standard_normal((num_layers * nd, B, H))
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    lstm = mode == "LSTM"
    hx = ((h0, c0) if lstm else h0) if with_hx else None
    hxt = ((h0t, c0t) if lstm else h0t) if with_hx else None
    out, state = m(x, hx)
    outt, statet = tm(xt, hxt)
    dout = rng.standard_normal(out.shape)
    dh = rng.standard_normal(h0.shape)
    dc = rng.standard_normal(c0.shape)
    loss = (outt * torch.tensor(dout)).sum()
    if lstm:
        loss = loss + (statet[0] * torch.tensor(dh)).sum() + (statet[1] * torch.tensor(dc)).sum()
        dx, (dh0, dc0) = m.backward(dout, (dh, dc))
    else:
        loss = loss + (statet * torch.tensor(dh)).sum()
        dx, dh0 = m.backward(dout, dh)
    loss.backward()
    assert_close(out, outt, name="out")
    assert_close(dx, xt.grad, name="dx")
    if with_hx:
        assert_close(dh0, h0t.grad, name="dh0")
        if lstm:
            assert_close(dc0, c0t.grad, name="dc0")
    tp = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert_close(p.grad, tp[name].grad, name=name)


@SETTINGS
@given(
    N=st.integers(1, 8),
    C=st.integers(1, 7),
    scale=st.sampled_from([1.0, 30.0, 1e4]),
    ignore_some=st.booleans(),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_matches_torch(N, C, scale, ignore_some, reduction, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C)) * scale
    y = rng.integers(0, C, N)
    if ignore_some:
        y[rng.random(N) < 0.4] = -100
    if reduction == "mean" and (y == -100).all():
        y[0] = 0  # an all-ignored mean is NaN in both libraries; tested elsewhere
    ce = bptt.nn.CrossEntropyLoss(reduction=reduction)
    loss = ce(x, y)
    dl = np.ones(N) if reduction == "none" else 1.0
    dx = ce.backward(dl)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(y), ignore_index=-100, reduction=reduction)
    lt.backward(torch.ones(N, dtype=torch.float64) if reduction == "none" else None)
    assert_close(np.asarray(loss), lt, name="loss")
    assert_close(dx, xt.grad, name="dx")
