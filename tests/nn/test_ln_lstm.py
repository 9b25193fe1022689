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
from bptt import nn
from bptt.examples import belling_the_cat as btc
from conftest import assert_close, distinct_uniform, seeded_rng, t64

SCOPES = ("input", "transform", "forget", "output", "state")
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


# ----------------------------------------------------------------------------------------- helpers
def _expected_names(num_layers, bidirectional, layer_norm, bias=True):
    names = []
    for k in range(num_layers):
        for sfx in ("", "_reverse")[: 2 if bidirectional else 1]:
            names.append(f"kernel_l{k}{sfx}")
            if bias and not layer_norm:
                names.append(f"bias_l{k}{sfx}")
            if layer_norm:
                for s in SCOPES:
                    names += [f"{s}_gamma_l{k}{sfx}", f"{s}_beta_l{k}{sfx}"]
    return names


def _module(D, H, num_layers, bidirectional, layer_norm, forget_bias, rng, **kw):
    m = nn.LayerNormLSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, layer_norm=layer_norm,
                         forget_bias=forget_bias, dtype=np.float64, rng=0, **kw)
    for name, p in m.named_parameters():
        if "_gamma" in name:
            p.data[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1.0, 1.0], p.shape)
        elif "_beta" in name:
            p.data[...] = distinct_uniform(rng, p.shape, -0.5, 0.5)
        else:
            p.data[...] = distinct_uniform(rng, p.shape, -0.7, 0.7)
    return m


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


# ----------------------------------------------------------------------------------------- names / init
@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_parameter_names_and_shapes(bidirectional, num_layers, layer_norm):
    D, H = 3, 4
    nd = 2 if bidirectional else 1
    m = nn.LayerNormLSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, layer_norm=layer_norm,
                         norm_gain=0.7, norm_shift=0.2, dtype=np.float64, rng=0)
    params = dict(m.named_parameters())
    assert list(params) == _expected_names(num_layers, bidirectional, layer_norm)
    for name, p in params.items():
        k = int(name.split("_l")[1].split("_")[0])
        in_size = D if k == 0 else nd * H
        if name.startswith("kernel"):
            assert p.shape == (in_size + H, 4 * H)
            limit = np.sqrt(6.0 / (in_size + H + 4 * H))
            assert np.abs(p.data).max() <= limit and np.abs(p.data).max() > 0
        elif name.startswith("bias"):
            assert p.shape == (4 * H,)
        elif "_gamma" in name:
            assert p.shape == (H,) and np.all(p.data == 0.7)
        else:
            assert p.shape == (H,) and np.all(p.data == 0.2)
    m_nb = nn.LayerNormLSTM(D, H, num_layers=num_layers, bias=False, layer_norm=False, dtype=np.float64)
    assert list(dict(m_nb.named_parameters())) == _expected_names(num_layers, False, False, bias=False)


def test_bad_keep_prob_raises():
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="dropout_keep_prob"):
            nn.LayerNormLSTM(3, 4, dropout_keep_prob=bad)


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
    m = _module(D, H, num_layers, bidirectional, layer_norm, forget_bias, rng)
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
    m = _module(D, H, 2, True, layer_norm, 1.0, rng, batch_first=True)
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


# ----------------------------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_check_module_finite_differences(layer_norm, with_lengths):
    rng = seeded_rng("lnlstm-fd", layer_norm, with_lengths)
    T, B, D, H = 4, 2, 2, 3
    m = _module(D, H, 2, True, layer_norm, 1.0, rng)
    x = rng.standard_normal((T, B, D))
    hx = (rng.standard_normal((4, B, H)), rng.standard_normal((4, B, H)))
    args = (x, hx) + ((np.array([2, 4]),) if with_lengths else ())
    report = bptt.check_module(m, *args, max_elements=30, raise_on_failure=False)
    assert report.ok, str(report)


# ----------------------------------------------------------------------------------------- recurrent dropout
def _bernoulli_masks(rng, n, T, B, H, keep):
    return [(rng.random((T, B, H)) < keep).astype(np.float64) / keep for _ in range(n)]


@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_recurrent_dropout_train_only_and_seeded(layer_norm):
    rng = seeded_rng("lnlstm-drop", layer_norm)
    T, B, D, H = 5, 3, 3, 4
    a = nn.LayerNormLSTM(D, H, num_layers=2, bidirectional=True, layer_norm=layer_norm, dropout_keep_prob=0.6,
                         dtype=np.float64, rng=11)
    b = nn.LayerNormLSTM(D, H, num_layers=2, bidirectional=True, layer_norm=layer_norm, dropout_keep_prob=0.6,
                         dtype=np.float64, rng=11)
    ref = nn.LayerNormLSTM(D, H, num_layers=2, bidirectional=True, layer_norm=layer_norm, dtype=np.float64,
                           rng=0)
    ref.load_state_dict(a.state_dict())
    x = rng.standard_normal((T, B, D))
    dout = rng.standard_normal((T, B, 2 * H))

    def run(m):
        m.zero_grad()
        out, (h_n, c_n) = m(x)
        dx, (dh0, dc0) = m.backward(dout)
        return [out, h_n, c_n, dx, dh0, dc0] + [p.grad.copy() for p in m.parameters()]

    ra, rb, rr = run(a), run(b), run(ref)
    for u, v in zip(ra, rb, strict=True):
        assert np.array_equal(u, v), "same seed must give bit-identical results"
    assert not np.allclose(ra[0], rr[0]), "train(): recurrent dropout must change the output"
    assert not np.array_equal(run(a)[0], ra[0]), "each call must draw fresh masks"
    a.eval()
    ref.eval()
    for u, v in zip(run(a), run(ref), strict=True):
        assert np.array_equal(u, v), "eval(): no recurrent dropout"


def test_recurrent_dropout_mask_statistics():
    keep = 0.7
    m = nn.LayerNormLSTM(2, 8, num_layers=2, bidirectional=True, dropout_keep_prob=keep, dtype=np.float64,
                         rng=3)
    masks = m._dropout_masks(100, 100)
    assert len(masks) == 4
    for mask in masks:
        assert mask.shape == (100, 100, 8) and mask.dtype == np.float64
        assert set(np.unique(mask).tolist()) <= {0.0, 1.0 / keep}
        rate = (mask != 0).mean()
        assert abs(rate - keep) <= 0.01 * keep, rate
    assert not np.array_equal(masks[0], masks[1])


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_recurrent_dropout_fixed_mask_matches_reference(layer_norm, bidirectional, with_lengths):
    rng = seeded_rng("lnlstm-drop-fixed", layer_norm, bidirectional, with_lengths)
    T, B, D, H, L, keep = 5, 3, 3, 4, 2, 0.6
    nd = 2 if bidirectional else 1
    n = L * nd
    m = _module(D, H, L, bidirectional, layer_norm, 1.0, rng, dropout_keep_prob=keep)
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


# ----------------------------------------------------------------------------------------- seed 000
def test_reproduces_belling_the_cat_uni_losses():
    """TF's cell (ONE bias, 0.1 everywhere) + the example's head and SGD reproduces ``run("uni", 50)``."""
    steps = 50
    tokens = btc.tokenize(btc.DEFAULT_TEXT)
    vocab = sorted(set(tokens))
    codes = [vocab.index(w) for w in tokens]
    V = len(vocab)
    cell = nn.LayerNormLSTM(V, 5, layer_norm=False, forget_bias=1.0, dtype=np.float64)
    assert [k for k, _ in cell.named_parameters()] == ["kernel_l0", "bias_l0"]
    for p in cell.parameters():
        p.data[...] = 0.1
    dense = nn.Linear(5, V, dtype=np.float64, rng=0)
    w, b = btc.head_init(V, 1)
    dense.weight.data[...] = w
    dense.bias.data[...] = b
    criterion = nn.CrossEntropyLoss()
    params = list(cell.parameters()) + list(dense.parameters())
    losses = []
    for offset in btc.offset_schedule(len(tokens), steps):
        x = btc.one_hot_window(codes[offset : offset + btc.N_INPUT], V)
        target = np.array([codes[offset + btc.N_INPUT]])
        out, _ = cell(x)
        loss = float(criterion(dense(out[-1]), target))
        for p in params:
            p.zero_grad()
        dfeat = dense.backward(criterion.backward())
        dout = np.zeros_like(out)
        dout[-1] = dfeat
        cell.backward(dout)
        for p in params:
            p.data -= btc.LEARNING_RATE * p.grad
        losses.append(loss)
    expected = btc.run("uni", steps)
    assert abs(losses[0] - 1.6343186800) <= 1e-8
    np.testing.assert_allclose(losses, expected, rtol=0, atol=1e-10)
