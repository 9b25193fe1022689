"""bptt.trace: the recorded values are the values of the pass, recomputed here independently.

Tracing runs the reference tier and records its named intermediates. Every traced quantity is recomputed from
the traced inputs and the recorded weights with the seed's equations written out here (float64, the layer
norms' forward and backward included) and compared; the carried gradients chain from step to step and layer
to layer; the per-step weight-gradient shares sum to the parameter gradients; and the traced pass equals the
untraced (fused) one.
"""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from bptt import nn
from cases.trace import make, run_traced
from helpers import assert_close, seeded_rng

RTOL = 1e-11
LN_SCOPES = ("input", "transform", "forget", "output", "state")


def sig(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


# ---------------------------------------------------------------------------------------------- equations
def ln_parts(v):
    """Layer norm's normalised input and reciprocal standard deviation over the last axis (eps 1e-12)."""
    mu = v.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((v - mu) ** 2).mean(-1, keepdims=True) + 1e-12)
    return (v - mu) * rstd, rstd


def ln_fwd(v, gamma, beta):
    return ln_parts(v)[0] * gamma + beta


def ln_bwd(dy, v, gamma):
    """Layer norm's backward written out (independent of bptt.functional)."""
    xhat, rstd = ln_parts(v)
    g = dy * gamma
    H = g.shape[-1]
    return rstd / H * (H * g - g.sum(-1, keepdims=True) - xhat * (g * xhat).sum(-1, keepdims=True))


def check_forward(lt, m) -> None:
    fw = lt.forward
    x, hp = fw["x"], fw["h_prev"]
    P = lt.param
    k = lt.kind
    if k in ("lstm", "rnn"):
        assert_close(fw["z"], np.concatenate([x, hp], -1), 0, "z (HX)")
    if k == "lstm":
        H = fw["c"].shape[2]
        a = x @ P("W_ih").T + P("b_ih") + hp @ P("W_hh").T + P("b_hh")
        assert_close(fw["a"], a, RTOL, "a")
        p_i, p_f, p_o = (0.0, 0.0, 0.0) if P("W_peep") is None else np.split(P("W_peep"), 3)
        cp = fw["c_prev"]
        i, f = sig(a[..., :H] + p_i * cp), sig(a[..., H : 2 * H] + m.forget_bias + p_f * cp)
        g = np.tanh(a[..., 2 * H : 3 * H])
        c = f * cp + i * g
        o = sig(a[..., 3 * H :] + p_o * c)
        for name, ref in (("i", i), ("f", f), ("g", g), ("o", o)):
            assert_close(fw[name], ref, RTOL, name)
        assert_close(fw["c"], c, RTOL, "c")
        assert_close(fw["tanh_c"], np.tanh(c), RTOL, "tanh_c")
        assert_close(fw["r"], o * np.tanh(c), RTOL, "r")
        assert_close(fw["h"], fw["r"] if P("W_hr") is None else fw["r"] @ P("W_hr").T, RTOL, "h")
    elif k == "lnlstm":
        H = fw["c"].shape[2]
        a = np.concatenate([x, hp], -1) @ P("kernel")
        ln = lt.meta["layer_norm"]
        if ln:
            gam = [P(f"gamma_{s}") for s in LN_SCOPES]
            bet = [P(f"beta_{s}") for s in LN_SCOPES]
            blocks = [ln_fwd(a[..., j * H : (j + 1) * H], gam[j], bet[j]) for j in range(4)]
        else:
            a = a + P("bias")
            blocks = [a[..., j * H : (j + 1) * H] for j in range(4)]
        assert_close(fw["a"], a, RTOL, "a")
        assert_close(fw["a_hat"], np.concatenate(blocks, -1), 1e-9, "a_hat")
        i, g, f, o = sig(blocks[0]), np.tanh(blocks[1]), sig(blocks[2] + m.forget_bias), sig(blocks[3])
        if "g_mask" in fw:
            g = g * fw["g_mask"]
        for name, ref in (("i", i), ("g", g), ("f", f), ("o", o)):
            assert_close(fw[name], ref, 1e-9, name)
        c = f * fw["c_prev"] + i * g
        assert_close(fw["c_tilde"], c, 1e-9, "c_tilde")
        if ln:
            c = ln_fwd(c, gam[4], bet[4])
        assert_close(fw["c"], c, 1e-9, "c")
        assert_close(fw["h"], o * np.tanh(c), 1e-9, "h")
    elif k == "gru":
        H = fw["h"].shape[2]
        gx, gh = x @ P("W_ih").T + P("b_ih"), hp @ P("W_hh").T + P("b_hh")
        r = sig(gx[..., :H] + gh[..., :H])
        z = sig(gx[..., H : 2 * H] + gh[..., H : 2 * H])
        n = np.tanh(gx[..., 2 * H :] + r * gh[..., 2 * H :])
        for name, ref in (("r", r), ("z", z), ("n", n), ("gh_n", gh[..., 2 * H :])):
            assert_close(fw[name], ref, RTOL, name)
        assert_close(fw["h"], (1 - z) * n + z * hp, RTOL, "h")
    elif k in ("mingru", "minlstm"):  # Feng et al. 2024, the log-space variant's g on the candidate
        kk = x @ P("W_ih").T + (0 if P("b_ih") is None else P("b_ih"))
        assert_close(fw["k"], kk, RTOL, "k")
        H = fw["h"].shape[2]
        h_tilde = gpos(kk[..., -H:])
        if k == "mingru":
            z = sig(kk[..., :H])
            assert_close(fw["z"], z, RTOL, "z")
            h = (1 - z) * hp + z * h_tilde
        else:
            f, i = sig(kk[..., :H]), sig(kk[..., H : 2 * H])
            assert_close(fw["f_prime"], f / (f + i), RTOL, "f'")
            assert_close(fw["i_prime"], i / (f + i), RTOL, "i'")
            h = f / (f + i) * hp + i / (f + i) * h_tilde
        assert_close(fw["h_tilde"], h_tilde, RTOL, "h_tilde")
        assert_close(fw["h"], h, RTOL, "h")
        assert_close(fw["y"], h if P("W_out") is None else h @ P("W_out").T, RTOL, "y")
    else:
        a = x @ P("W_ih").T + P("b_ih") + hp @ P("W_hh").T + P("b_hh")
        assert_close(fw["a"], a, RTOL, "a")
        assert_close(fw["h"], np.maximum(a, 0) if lt.meta["nonlinearity"] == "relu" else np.tanh(a), RTOL, "h")
    # the recurrence: h_prev at a step is h of the step processed before it
    for k1, k2 in zip(lt.order[:-1], lt.order[1:]):
        assert_close(fw["h_prev"][k2], fw["h"][k1], 0, "h_prev chain")
        if "c" in fw:
            assert_close(fw["c_prev"][k2], fw["c"][k1], 0, "c_prev chain")


def check_lstm_step(lt, t: int) -> None:
    """One LSTM / LayerNormLSTM backward step, the seed's order."""
    fw, bw = lt.forward, lt.backward
    i, f, g, o, tc, cp = (fw[n][t] for n in ("i", "f", "g", "o", "tanh_c", "c_prev"))
    dh = bw["dh"][t]
    W_hr, W_peep = lt.param("W_hr"), lt.param("W_peep")
    p_i, p_f, p_o = (0.0, 0.0, 0.0) if W_peep is None else np.split(W_peep, 3)
    dr = dh if W_hr is None else dh @ W_hr
    if "dr" in bw:
        assert_close(bw["dr"][t], dr, RTOL, "dr")
    assert_close(bw["do"][t], dr * tc, RTOL, f"do (dOt) t={t}")
    assert_close(bw["da_o"][t], bw["do"][t] * o * (1 - o), RTOL, "da_o")
    dc = bw["dc_next_in"][t] + dr * o * (1 - tc**2) + bw["da_o"][t] * p_o
    assert_close(bw["dc"][t], dc, RTOL, f"dc (dCt) t={t}")
    ln = lt.kind == "lnlstm" and lt.meta["layer_norm"]
    dct = ln_bwd(bw["dc"][t], fw["c_tilde"][t], lt.param("gamma_state")) if ln else bw["dc"][t]
    if lt.kind == "lnlstm":
        assert_close(bw["dc_tilde"][t], dct, 1e-9, "dc_tilde")
    assert_close(bw["dg"][t], dct * i, 1e-9, f"dg (dCprojt) t={t}")
    assert_close(bw["df"][t], dct * cp, 1e-9, f"df (dFt) t={t}")
    assert_close(bw["di"][t], dct * g, 1e-9, f"di (dIt) t={t}")
    if "g_mask" in fw:  # recurrent dropout: g = tanh(a_j) * mask
        dag = bw["dg"][t] * fw["g_mask"][t] * (1 - fw["g_raw"][t] ** 2)
    else:
        dag = bw["dg"][t] * (1 - g**2)
    assert_close(bw["da_g"][t], dag, 1e-9, "da_g")
    assert_close(bw["da_f"][t], bw["df"][t] * f * (1 - f), 1e-9, "da_f")
    assert_close(bw["da_i"][t], bw["di"][t] * i * (1 - i), 1e-9, "da_i")
    dc_next = dct * f + bw["da_i"][t] * p_i + bw["da_f"][t] * p_f
    assert_close(bw["dc_next"][t], dc_next, 1e-9, f"dc_next (dC_next) t={t}")
    if lt.kind == "lstm":
        da = np.concatenate([bw["da_i"][t], bw["da_f"][t], bw["da_g"][t], bw["da_o"][t]], -1)
        Wz = np.concatenate([lt.param("W_ih"), lt.param("W_hh")], axis=1)
    else:
        dah = np.concatenate([bw["da_i"][t], bw["da_g"][t], bw["da_f"][t], bw["da_o"][t]], -1)
        assert_close(bw["da_hat"][t], dah, RTOL, "da_hat")
        H = i.shape[-1]
        gam = [lt.param(f"gamma_{s}") for s in LN_SCOPES[:4]]
        da = np.concatenate([ln_bwd(dah[:, q * H : (q + 1) * H], fw["a"][t][:, q * H : (q + 1) * H], gam[q])
                             for q in range(4)], -1) if ln else dah
        Wz = lt.param("kernel").T
    assert_close(bw["da"][t], da, 1e-9, "da")
    dz = bw["da"][t] @ Wz
    assert_close(bw["dz"][t], dz, RTOL, f"dz (dHX) t={t}")
    D = fw["x"].shape[2]
    assert_close(bw["dx"][t], dz[:, :D], RTOL, "dx")
    assert_close(bw["dh_next"][t], dz[:, D:], RTOL, "dh_next")


def gpos(a):
    """The paper's g: a + 1/2 for a >= 0, sigmoid below."""
    return np.where(a >= 0, a + 0.5, sig(a))


def check_min_step(lt, t: int) -> None:
    """One minGRU / minLSTM backward step: the reverse scan, then the gates."""
    fw, bw = lt.forward, lt.backward
    dh, hp, a, h_tilde, kk = bw["dh"][t], fw["h_prev"][t], fw["a"][t], fw["h_tilde"][t], fw["k"][t]
    assert_close(bw["da"][t], dh * hp, RTOL, "da")
    assert_close(bw["db"][t], dh, RTOL, "db")
    assert_close(bw["dh_next"][t], dh * a, RTOL, "dh_next (the reverse scan)")
    H = dh.shape[-1]
    k_h = kk[:, -H:]
    g_prime = np.where(k_h >= 0, 1.0, sig(k_h) * (1 - sig(k_h)))
    if lt.kind == "mingru":
        z = fw["z"][t]
        dk = np.concatenate([(dh * h_tilde - dh * hp) * z * (1 - z), dh * z * g_prime], -1)
    else:
        f, i = fw["f"][t], fw["i"][t]
        q = (dh * hp - dh * h_tilde) / (f + i) ** 2
        dk = np.concatenate([q * i * f * (1 - f), -q * f * i * (1 - i), dh * fw["i_prime"][t] * g_prime], -1)
    assert_close(bw["dk"][t], dk, 1e-9, "dk")
    assert_close(bw["dx"][t], dk @ lt.param("W_ih"), 1e-9, "dx")


def check_backward(lt) -> None:
    """Every backward quantity at every step, recomputed from the traced values with the seed's equations."""
    fw, bw = lt.forward, lt.backward
    bo = lt.backward_order
    for j, t in enumerate(bo):
        dh = bw["dh"][t]
        inc_h = lt.final["dh_n"] if j == 0 else bw["dh_next"][bo[j - 1]]
        assert_close(bw["dh_next_in"][t], inc_h, 0, "dh_next_in")
        W_out = lt.param("W_out") if lt.kind in ("mingru", "minlstm") else None
        dy_h = bw["dy"][t] if W_out is None else bw["dy"][t] @ W_out
        assert_close(dh, dy_h + inc_h, RTOL, f"dh (dHt) t={t}")
        if lt.kind in ("lstm", "lnlstm"):
            inc_c = lt.final["dc_n"] if j == 0 else bw["dc_next"][bo[j - 1]]
            assert_close(bw["dc_next_in"][t], inc_c, 0, "dc_next_in")
            check_lstm_step(lt, t)
        elif lt.kind == "gru":
            r, z, n, ghn, hp = (fw[q][t] for q in ("r", "z", "n", "gh_n", "h_prev"))
            assert_close(bw["dn"][t], dh * (1 - z), RTOL, "dn")
            assert_close(bw["da_n"][t], bw["dn"][t] * (1 - n**2), RTOL, "da_n")
            assert_close(bw["dz"][t], dh * (hp - n), RTOL, "dz (update gate)")
            assert_close(bw["da_z"][t], bw["dz"][t] * z * (1 - z), RTOL, "da_z")
            assert_close(bw["dr"][t], bw["da_n"][t] * ghn, RTOL, "dr")
            assert_close(bw["da_r"][t], bw["dr"][t] * r * (1 - r), RTOL, "da_r")
            dgh = np.concatenate([bw["da_r"][t], bw["da_z"][t], bw["da_n"][t] * r], -1)
            dgx = np.concatenate([bw["da_r"][t], bw["da_z"][t], bw["da_n"][t]], -1)
            assert_close(bw["dgh"][t], dgh, RTOL, "dgh")
            assert_close(bw["dgx"][t], dgx, RTOL, "dgx")
            assert_close(bw["dh_next"][t], dh * z + dgh @ lt.param("W_hh"), RTOL, "dh_next")
            assert_close(bw["dx"][t], dgx @ lt.param("W_ih"), RTOL, "dx")
        elif lt.kind in ("mingru", "minlstm"):
            check_min_step(lt, t)
        else:
            h = fw["h"][t]
            dphi = (h > 0).astype(float) if lt.meta["nonlinearity"] == "relu" else 1 - h**2
            assert_close(bw["da"][t], dh * dphi, RTOL, "da")
            dz = bw["da"][t] @ np.concatenate([lt.param("W_ih"), lt.param("W_hh")], axis=1)
            assert_close(bw["dz"][t], dz, RTOL, "dz (dHX)")
            D = fw["x"].shape[2]
            assert_close(bw["dx"][t], dz[:, :D], RTOL, "dx")
            assert_close(bw["dh_next"][t], dz[:, D:], RTOL, "dh_next")
    assert_close(lt.final["dh0"], bw["dh_next"][bo[-1]], RTOL, "dh0 = last dh_next")
    if "dc0" in lt.final:
        assert_close(lt.final["dc0"], bw["dc_next"][bo[-1]], 1e-9, "dc0 = last dc_next")


def check_weight_sums(tr, m) -> None:
    params = dict(m.named_parameters())
    seen = set()
    for lt in tr.layers():
        for name, steps in lt.param_grad_steps().items():
            assert steps.shape == (lt.T,) + params[name].grad.shape, name
            assert_close(steps.sum(axis=0), params[name].grad, 1e-10, f"sum_t {name}")
            assert_close(lt.grads[name], params[name].grad, 0, f"recorded grad {name}")
            seen.add(name)
    assert seen == set(params), f"no per-step shares for {set(params) - seen}"


def check_layer_links(tr, m, ctx) -> None:
    """dy of the top layer is dout; a lower layer's dy is the sum of the upper layer's dx over directions;
    the module's returned dx and dh0/dc0 are the traced ones."""
    mt = tr[tr.names[0]]
    nd, L = m.num_directions, m.num_layers
    P = m.output_size
    for d in range(nd):
        assert_close(mt[L - 1, d].backward["dy"], ctx["dout"][:, :, d * P : (d + 1) * P], 0, "top dy")
    for layer in range(L):
        below = sum(mt[layer, d].backward["dx"] for d in range(nd))
        if layer == 0:
            assert_close(below, ctx["dx"], RTOL, "module dx")
        for d in range(nd):
            lt = mt[layer, d]
            if layer > 0:
                up = sum(mt[layer, e].backward["dx"] for e in range(nd))
                assert_close(mt[layer - 1, d].backward["dy"], up[:, :, d * P : (d + 1) * P], RTOL,
                             "lower layer's dy = upper layer's dx")
            assert_close(lt.final["dh0"], ctx["dh0"][layer * nd + d], 0, "dh0")
            assert_close(lt.final["dh_n"], ctx["dh_n"][layer * nd + d], 0, "dh_n")
            if ctx["dc0"] is not None:
                assert_close(lt.final["dc0"], ctx["dc0"][layer * nd + d], 0, "dc0")
            out_name = "y" if "y" in lt.forward else "h"  # a MinGRU's projection maps h to its output y
            x_in = ctx["x"] if layer == 0 else np.concatenate([mt[layer - 1, e].forward[out_name] for e in range(nd)],
                                                              -1)
            assert_close(lt.forward["x"], x_in, 0, "layer input")


CASES = [
    ("lstm", 1, False, {}),
    ("lstm", 2, True, {}),
    ("lstm", 1, False, {"proj_size": 3}),
    ("lstm", 2, True, {"peepholes": True}),
    ("lnlstm", 2, True, {}),
    ("lnlstm", 1, False, {"layer_norm": False}),
    ("gru", 2, True, {}),
    ("rnn", 2, True, {}),
    ("rnn_relu", 1, False, {}),
    ("mingru", 2, True, {"proj_size": 3}),
    ("mingru", 1, False, {"mode": "sequential"}),
    ("minlstm", 2, False, {}),
    ("minlstm", 1, True, {"mode": "sequential", "proj_size": 2}),
]


@pytest.mark.parametrize("kind,num_layers,bidirectional,kw", CASES,
                         ids=[f"{c[0]}-L{c[1]}{'-bi' if c[2] else ''}{'-' + '-'.join(c[3]) if c[3] else ''}"
                              for c in CASES])
def test_traced_values_are_the_values_used(kind, num_layers, bidirectional, kw):
    rng = seeded_rng("trace", kind, num_layers, bidirectional, sorted(kw))
    m = make(kind, 4, 5, num_layers, bidirectional, rng, **kw)
    tr, ctx = run_traced(m, T=6, B=3, rng=rng)
    mt = tr[tr.names[0]]
    assert len(mt.calls) == 1 and len(mt.layers()) == num_layers * (2 if bidirectional else 1)
    for lt in mt.layers():
        assert lt.forward["x"].dtype == np.float64 and lt.active is None
        check_forward(lt, m)
        check_backward(lt)
    check_layer_links(tr, m, ctx)
    check_weight_sums(tr, m)


def test_layer_norm_lstm_with_recurrent_dropout():
    rng = seeded_rng("trace ln dropout")
    m = make("lnlstm", 3, 4, 1, False, rng, dropout_keep_prob=0.6)
    m.train()
    with bptt.trace() as tr:
        x = rng.standard_normal((5, 2, 3))
        out, _ = m(x)
        m.zero_grad()
        m.backward(rng.standard_normal(out.shape))
    lt = tr["layernormlstm"][0]
    assert "g_mask" in lt.forward.names and set(np.unique(lt.forward["g_mask"])) == {0.0, 1 / 0.6}
    check_forward(lt, m)
    check_backward(lt)
    check_weight_sums(tr, m)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_padded_rows_have_no_gradient_and_the_carry_passes_by(bidirectional):
    """Rows past a sequence's end: the cell did not run (every recorded gradient is zero) and the carried
    gradients pass by it (dh_n reaches the row's last real step; dh0 leaves its first)."""
    rng = seeded_rng("trace lengths", bidirectional)
    m = make("lstm", 3, 4, 1, bidirectional, rng)
    lengths = np.array([5, 2, 4])
    tr, ctx = run_traced(m, T=5, B=3, rng=rng, lengths=lengths)
    check_weight_sums(tr, m)
    for lt in tr["lstm"].layers():
        act = lt.active
        assert act is not None and act.shape == (5, 3)
        np.testing.assert_array_equal(act, np.arange(5)[:, None] < lengths[None, :])
        bw = lt.backward
        for name in bw.names:
            if name not in lt.cell.weight_step_names:
                assert not bw[name][~act].any(), f"{name} must be zero on padded rows"
        assert bw["do"][act].all(), "real rows get a gradient"
        for b, n in enumerate(lengths):  # the carry enters and leaves at the row's own ends
            first, last = (n - 1, 0) if not lt.reverse else (0, n - 1)
            assert_close(bw["dh_next_in"][first, b], lt.final["dh_n"][b], 0, "dh_n reaches the last real step")
            assert_close(bw["dc_next_in"][first, b], lt.final["dc_n"][b], 0, "dc_n reaches the last real step")
            assert_close(lt.final["dh0"][b], bw["dh_next"][last, b], 0, "dh0 leaves the first real step")
            assert_close(lt.final["dc0"][b], bw["dc_next"][last, b], 0, "dc0 leaves the first real step")
        for t in range(5):
            on = act[t]
            assert_close(bw["dh"][t][on], (bw["dy"][t] + bw["dh_next_in"][t])[on], RTOL, "dh")
            assert_close(bw["dc_next"][t][on], (bw["dc"][t] * lt.forward["f"][t])[on], RTOL, "dc_next")


def test_forward_only_and_forward_outside_the_trace():
    """A backward pass inside the trace of a forward pass run before it (the fused op) is recorded in full:
    the layer runs that forward again in the reference tier."""
    rng = seeded_rng("trace fwd only")
    m = make("gru", 3, 4, 2, True, rng)
    x = rng.standard_normal((4, 2, 3))
    with nn.no_grad(), bptt.trace() as tr:
        m(x)
    assert tr["gru"][0].backward is None
    with pytest.raises(bptt.trace.TraceError, match="no backward pass was recorded"):
        _ = tr["gru"].backward
    dout = rng.standard_normal((4, 2, 8))
    out, _ = m(x)  # forward before the trace: the backward inside still records everything
    m.zero_grad()
    dx_fused, _ = m.backward(dout)
    grads_fused = {n: p.grad.copy() for n, p in m.named_parameters()}
    out, _ = m(x)
    with bptt.trace() as tr:
        m.zero_grad()
        dx, _ = m.backward(dout)
    assert_close(dx, dx_fused, 1e-12, "dx")
    for n, p in m.named_parameters():
        assert_close(p.grad, grads_fused[n], 1e-12, n)
    assert len(tr["gru"].calls) == 1 and len(tr["gru"].layers()) == 4
    for lt in tr["gru"].layers():
        check_forward(lt, m)
        check_backward(lt)
    check_weight_sums(tr, m)
