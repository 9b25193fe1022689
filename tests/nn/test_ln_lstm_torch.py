"""``nn.LayerNormLSTM`` against an independent torch-autograd TensorFlow ``LayerNormBasicLSTMCell``.

The reference below is written from TensorFlow 1's ``tf.contrib.rnn.LayerNormBasicLSTMCell.call``, one cell
step at a time, one sequence at a time (so ``lengths`` is just "run the first ``L`` steps", and the reverse
direction literally runs on the flipped sequence):

    [i, j, f, o] = split(cat([x, h]) @ kernel (+ bias only when layer_norm=False))
    i, j, f, o   = LN_input(i), LN_transform(j), LN_forget(f), LN_output(o)       (when layer_norm)
    g  = tanh(j)                                                        (* dropout mask, if any)
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g;   c' = LN_state(c')      (when layer_norm)
    h' = tanh(c') * sigmoid(o)

with ``LN(v) = (v - mean) / sqrt(var + 1e-12) * gamma + beta`` (population variance over the last axis).
Layers stack PyTorch-style: layer ``k > 0`` reads ``[fw; bw]`` of layer ``k - 1``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bptt
from cases.ln_lstm import module
from helpers import assert_close, distinct_uniform, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch
RTOL = 1e-8


# ----------------------------------------------------------------------------------------- reference
def _ln(v: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    mean = v.mean(dim=-1, keepdim=True)
    var = ((v - mean) ** 2).mean(dim=-1, keepdim=True)
    return (v - mean) / torch.sqrt(var + 1e-12) * gamma + beta


def _tf_cell(x, h, c, P, sfx, layer_norm, forget_bias, g_mask):
    """One step of TF's LayerNormBasicLSTMCell; ``P`` maps our parameter names to torch leaves."""
    concat = torch.cat([x, h], dim=1) @ P[f"kernel{sfx}"]
    if not layer_norm and f"bias{sfx}" in P:
        concat = concat + P[f"bias{sfx}"]
    i, j, f, o = torch.chunk(concat, 4, dim=1)
    if layer_norm:
        i = _ln(i, P[f"input_gamma{sfx}"], P[f"input_beta{sfx}"])
        j = _ln(j, P[f"transform_gamma{sfx}"], P[f"transform_beta{sfx}"])
        f = _ln(f, P[f"forget_gamma{sfx}"], P[f"forget_beta{sfx}"])
        o = _ln(o, P[f"output_gamma{sfx}"], P[f"output_beta{sfx}"])
    g = torch.tanh(j)
    if g_mask is not None:
        g = g * g_mask
    new_c = c * torch.sigmoid(f + forget_bias) + torch.sigmoid(i) * g
    if layer_norm:
        new_c = _ln(new_c, P[f"state_gamma{sfx}"], P[f"state_beta{sfx}"])
    new_h = torch.tanh(new_c) * torch.sigmoid(o)
    return new_h, new_c


def tf_reference(x, h0, c0, P, *, num_layers, bidirectional, layer_norm, forget_bias, lengths=None,
                 g_masks=None):
    """``x`` (T, B, D), ``h0``/``c0`` (L*nd, B, H) tensors -> ``out`` (T, B, nd*H), ``h_n``, ``c_n``.

    ``g_masks[idx]`` is a (T, B, H) array (time-ordered, also for the reverse direction) or ``None``.
    """
    T, B, _ = x.shape
    nd = 2 if bidirectional else 1
    H = h0.shape[-1]
    lens = [T] * B if lengths is None else [int(v) for v in lengths]
    outs, hns, cns = [], {}, {}
    for b in range(B):
        L = lens[b]
        inp = x[:L, b]  # (L, D): this sequence only
        for k in range(num_layers):
            dir_outs = []
            for d in range(nd):
                idx = k * nd + d
                sfx = f"_l{k}" + ("_reverse" if d else "")
                h, c = h0[idx, b : b + 1], c0[idx, b : b + 1]
                steps = range(L) if d == 0 else range(L - 1, -1, -1)  # reverse: the flipped sequence
                ys = [None] * L
                for t in steps:
                    gm = None
                    if g_masks is not None and g_masks[idx] is not None:
                        gm = torch.from_numpy(g_masks[idx][t, b : b + 1])
                    h, c = _tf_cell(inp[t : t + 1], h, c, P, sfx, layer_norm, forget_bias, gm)
                    ys[t] = h
                dir_outs.append(torch.cat(ys, dim=0))
                hns[idx, b], cns[idx, b] = h[0], c[0]
            inp = torch.cat(dir_outs, dim=1)  # (L, nd*H)
        pad = torch.zeros((T - L, nd * H), dtype=x.dtype)
        outs.append(torch.cat([inp, pad], dim=0))
    out = torch.stack(outs, dim=1)
    n = num_layers * nd
    h_n = torch.stack([torch.stack([hns[i, b] for b in range(B)]) for i in range(n)])
    c_n = torch.stack([torch.stack([cns[i, b] for b in range(B)]) for i in range(n)])
    return out, h_n, c_n


def _compare(m, x, h0, c0, dout, dh_n, dc_n, lengths, ref_kw, g_masks=None, check_hx=True):
    """Run ours (forward + backward) and the reference; compare everything to RTOL."""
    out, (h_n, c_n) = m(x, (h0, c0), lengths=lengths)
    dx, (dh0, dc0) = m.backward(dout, (dh_n, dc_n))
    P = {k: t64(p.data) for k, p in m.named_parameters()}
    xt, th0, tc0 = t64(x), t64(h0), t64(c0)
    tout, th_n, tc_n = tf_reference(xt, th0, tc0, P, lengths=lengths, g_masks=g_masks, **ref_kw)
    loss = (tout * t64(dout, False)).sum() + (th_n * t64(dh_n, False)).sum() + (tc_n * t64(dc_n, False)).sum()
    loss.backward()
    assert_close(out, tout, RTOL, name="out")
    assert_close(h_n, th_n, RTOL, name="h_n")
    assert_close(c_n, tc_n, RTOL, name="c_n")
    assert_close(dx, xt.grad, RTOL, name="dx")
    assert_close(dh0, th0.grad, RTOL, name="dh0")
    assert_close(dc0, tc0.grad, RTOL, name="dc0")
    for name, p in m.named_parameters():
        assert P[name].grad is not None, name
        assert_close(p.grad, P[name].grad, RTOL, name=f"grad {name}")
    return out


# ----------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("forget_bias", [1.0, 0.3])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_matches_tensorflow_cell_reference(layer_norm, bidirectional, num_layers, with_lengths, forget_bias):
    rng = seeded_rng("lnlstm", layer_norm, bidirectional, num_layers, with_lengths, forget_bias)
    T, B, D, H = 5, 3, 3, 4
    nd = 2 if bidirectional else 1
    n = num_layers * nd
    m = module(D, H, num_layers, bidirectional, layer_norm, forget_bias, rng)
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((n, B, H))
    c0 = rng.standard_normal((n, B, H))
    dout = distinct_uniform(rng, (T, B, nd * H), -1.0, 1.0)
    dh_n = rng.standard_normal((n, B, H))
    dc_n = rng.standard_normal((n, B, H))
    lengths = np.array([3, T, 1]) if with_lengths else None
    ref_kw = dict(num_layers=num_layers, bidirectional=bidirectional, layer_norm=layer_norm,
                  forget_bias=forget_bias)
    out = _compare(m, x, h0, c0, dout, dh_n, dc_n, lengths, ref_kw)
    if with_lengths:
        assert np.all(out[3:, 0] == 0.0) and np.all(out[1:, 2] == 0.0)


@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_batch_first_and_default_state(layer_norm):
    rng = seeded_rng("lnlstm-bf", layer_norm)
    T, B, D, H = 4, 2, 3, 4
    m = module(D, H, 2, True, layer_norm, 1.0, rng, batch_first=True)
    x = rng.standard_normal((B, T, D))
    dout = rng.standard_normal((B, T, 2 * H))
    out, (h_n, c_n) = m(x)
    dx, _ = m.backward(dout)
    P = {k: t64(p.data) for k, p in m.named_parameters()}
    xt = t64(x)
    zeros = torch.zeros((4, B, H), dtype=torch.float64)
    tout, th_n, tc_n = tf_reference(xt.transpose(0, 1), zeros, zeros, P, num_layers=2, bidirectional=True,
                                    layer_norm=layer_norm, forget_bias=1.0)
    (tout * t64(dout, False).transpose(0, 1)).sum().backward()
    assert_close(out, tout.transpose(0, 1), RTOL, name="out")
    assert_close(h_n, th_n, RTOL, name="h_n")
    assert_close(c_n, tc_n, RTOL, name="c_n")
    assert_close(dx, xt.grad, RTOL, name="dx")
    for name, p in m.named_parameters():
        assert_close(p.grad, P[name].grad, RTOL, name=f"grad {name}")


# ----------------------------------------------------------------------------------------- recurrent dropout
def _bernoulli_masks(rng, n, T, B, H, keep):
    return [(rng.random((T, B, H)) < keep).astype(np.float64) / keep for _ in range(n)]


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_recurrent_dropout_fixed_mask_matches_reference(layer_norm, bidirectional, with_lengths):
    rng = seeded_rng("lnlstm-drop-fixed", layer_norm, bidirectional, with_lengths)
    T, B, D, H, L, keep = 5, 3, 3, 4, 2, 0.6
    nd = 2 if bidirectional else 1
    n = L * nd
    m = module(D, H, L, bidirectional, layer_norm, 1.0, rng, dropout_keep_prob=keep)
    masks = _bernoulli_masks(rng, n, T, B, H, keep)
    m._dropout_masks = lambda T_, B_: [mk[:T_, :B_] for mk in masks]
    m.train()
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((n, B, H))
    c0 = rng.standard_normal((n, B, H))
    dout = rng.standard_normal((T, B, nd * H))
    dh_n = rng.standard_normal((n, B, H))
    dc_n = rng.standard_normal((n, B, H))
    lengths = np.array([T, 2, 4]) if with_lengths else None
    ref_kw = dict(num_layers=L, bidirectional=bidirectional, layer_norm=layer_norm, forget_bias=1.0)
    _compare(m, x, h0, c0, dout, dh_n, dc_n, lengths, ref_kw, g_masks=masks)
    # finite differences with the mask held fixed
    args = ((x, (h0, c0)) + ((lengths,) if with_lengths else ()))
    report = bptt.check_module(m, *args, max_elements=25, raise_on_failure=False)
    assert report.ok, str(report)
