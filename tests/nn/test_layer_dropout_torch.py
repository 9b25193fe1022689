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

from bptt.functional import dropout as F_dropout
from cases.layer_dropout import MODES, Recorder, inputs, make, randomize, run
from helpers import assert_close, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch


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
    m = make(mode, D, H, num_layers, p, bidirectional, rng=int(rng.integers(1000)))
    randomize(m, rng)
    rec = Recorder()
    monkeypatch.setattr(F_dropout, "forward", rec)
    x, hx, dout, dstate = inputs(mode, rng, T, B, D, H, n, nd)
    res = run(m, x, hx, dout, dstate)

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
