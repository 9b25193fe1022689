"""``LSTM(proj_size=P)`` against ``torch.nn.LSTM(proj_size=P)``: parameters, outputs, states, gradients.

With a projection ``h_t = (o_t * tanh c_t) W_hr^T`` has size ``P < H``: ``weight_hh`` is ``(4H, P)``, layer
``k > 0`` reads ``num_directions * P`` features, ``h_n`` is ``(L * nd, B, P)`` and ``c_n`` stays
``(L * nd, B, H)``. Everything is compared to 1e-10, with and without ``lengths``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bptt import nn
from helpers import assert_close, distinct_uniform, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch


def _pair(D, H, P, num_layers, bidirectional, batch_first, rng):
    tmod = torch.nn.LSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                         proj_size=P, dtype=torch.float64)
    with torch.no_grad():
        for p in tmod.parameters():
            p.copy_(torch.from_numpy(distinct_uniform(rng, tuple(p.shape), -0.8, 0.8)))
    ours = nn.LSTM(D, H, num_layers, True, batch_first, 0.0, bidirectional, P, dtype=np.float64, rng=0)
    ours.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    return ours, tmod


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_proj_parameter_names_and_shapes(bidirectional, num_layers):
    D, H, P = 3, 5, 2
    tmod = torch.nn.LSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, proj_size=P)
    ours = nn.LSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, proj_size=P, dtype=np.float64)
    theirs = [(k, tuple(v.shape)) for k, v in tmod.named_parameters()]
    mine = [(k, tuple(p.shape)) for k, p in ours.named_parameters()]
    assert mine == theirs
    nd = 2 if bidirectional else 1
    for k in range(num_layers):
        for sfx in ("", "_reverse")[:nd]:
            assert dict(mine)[f"weight_hr_l{k}{sfx}"] == (P, H)
            assert dict(mine)[f"weight_hh_l{k}{sfx}"] == (4 * H, P)
            assert dict(mine)[f"weight_ih_l{k}{sfx}"] == (4 * H, D if k == 0 else nd * P)
    assert ours.proj_size == P


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_proj_matches_torch(bidirectional, num_layers, batch_first, with_lengths):
    rng = seeded_rng("proj", bidirectional, num_layers, batch_first, with_lengths)
    T, B, D, H, P = 5, 3, 3, 5, 3
    nd = 2 if bidirectional else 1
    n = num_layers * nd
    ours, tmod = _pair(D, H, P, num_layers, bidirectional, batch_first, rng)
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    h0 = rng.standard_normal((n, B, P))
    c0 = rng.standard_normal((n, B, H))
    oshape = (B, T, nd * P) if batch_first else (T, B, nd * P)
    dout = distinct_uniform(rng, oshape, -1.0, 1.0)
    dh_n = rng.standard_normal((n, B, P))
    dc_n = rng.standard_normal((n, B, H))
    lengths = np.array([2, T, 1]) if with_lengths else None

    out, (h_n, c_n) = ours(x, (h0, c0), lengths=lengths)
    assert out.shape == oshape
    assert h_n.shape == (n, B, P) and c_n.shape == (n, B, H)
    dx, (dh0, dc0) = ours.backward(dout, (dh_n, dc_n))
    assert dh0.shape == (n, B, P) and dc0.shape == (n, B, H)

    xt, th0, tc0 = t64(x), t64(h0), t64(c0)
    if with_lengths:
        packed = pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=batch_first,
                                      enforce_sorted=False)
        tpo, (th_n, tc_n) = tmod(packed, (th0, tc0))
        tout, _ = pad_packed_sequence(tpo, batch_first=batch_first, total_length=T)
    else:
        tout, (th_n, tc_n) = tmod(xt, (th0, tc0))
    loss = (tout * t64(dout, False)).sum() + (th_n * t64(dh_n, False)).sum() + (tc_n * t64(dc_n, False)).sum()
    loss.backward()

    assert_close(out, tout, name="out")
    assert_close(h_n, th_n, name="h_n")
    assert_close(c_n, tc_n, name="c_n")
    assert_close(dx, xt.grad, name="dx")
    assert_close(dh0, th0.grad, name="dh0")
    assert_close(dc0, tc0.grad, name="dc0")
    if with_lengths:
        pad = np.arange(T)[:, None] >= lengths[None, :]
        if batch_first:
            pad = pad.T
        assert np.all(out[pad] == 0.0) and np.all(dx[pad] == 0.0)
    tparams = dict(tmod.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, tparams[name].grad, name=f"grad {name}")


def test_proj_default_hx_and_unbatched():
    rng = seeded_rng("proj-unbatched")
    T, D, H, P = 4, 2, 4, 2
    ours, tmod = _pair(D, H, P, 2, True, False, rng)
    x = rng.standard_normal((T, D))
    out, (h_n, c_n) = ours(x)
    assert out.shape == (T, 2 * P) and h_n.shape == (4, P) and c_n.shape == (4, H)
    dout = rng.standard_normal((T, 2 * P))
    dx, (dh0, dc0) = ours.backward(dout)
    xt = t64(x)
    tout, (th_n, tc_n) = tmod(xt)
    (tout * t64(dout, False)).sum().backward()
    assert_close(out, tout, name="out")
    assert_close(h_n, th_n, name="h_n")
    assert_close(c_n, tc_n, name="c_n")
    assert_close(dx, xt.grad, name="dx")
    for name, p in ours.named_parameters():
        assert_close(p.grad, dict(tmod.named_parameters())[name].grad, name=f"grad {name}")
