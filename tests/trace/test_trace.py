"""bptt.trace: the recorded values are the values the passes used.

Every traced quantity is recomputed from the traced inputs with the seed's equations (float64) and compared;
the gradients the backward pass actually stored (``dh``, ``dc``, ``da``) are checked against the derived ones
(``do``, ``dg``, ``df``, ``di``, ...) through the equations that link them; the carried gradients chain from step
to step and layer to layer; the per-step weight-gradient contributions sum to the parameter gradients. Also:
``.npz`` round trip, the text loggers, lookups with clear errors, and tracing off leaving no trace.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest

import bptt
from bptt import functional as F
from bptt import nn
from bptt.trace import TraceError
from helpers import assert_close, distinct_uniform, seeded_rng

RTOL = 1e-11


def sig(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def make(kind: str, D: int, H: int, num_layers: int, bidirectional: bool, rng: np.random.Generator, **kw):
    """A float64 module with distinct, non-zero weights and biases."""
    if kind == "lstm":
        m = nn.LSTM(D, H, num_layers, bidirectional=bidirectional, dtype=np.float64, rng=0,
                    forget_bias=kw.pop("forget_bias", 0.7), **kw)
    elif kind == "gru":
        m = nn.GRU(D, H, num_layers, bidirectional=bidirectional, dtype=np.float64, rng=0)
    elif kind in ("rnn", "rnn_relu"):
        m = nn.RNN(D, H, num_layers, nonlinearity="relu" if kind == "rnn_relu" else "tanh",
                   bidirectional=bidirectional, dtype=np.float64, rng=0)
    else:
        m = nn.LayerNormLSTM(D, H, num_layers, bidirectional=bidirectional, dtype=np.float64, rng=0, **kw)
    for _, p in m.named_parameters():
        p.data[...] = distinct_uniform(rng, p.data.shape)
    return m


def run_traced(m, T: int, B: int, rng: np.random.Generator, lengths=None, final_grads: bool = True):
    """Forward + backward inside a trace, with non-zero dout and final-state gradients."""
    nd, L = m.num_directions, m.num_layers
    x = rng.standard_normal((T, B, m.input_size))
    P = m.output_size
    lstm_like = isinstance(m, (nn.LSTM, nn.LayerNormLSTM))
    h0 = rng.standard_normal((L * nd, B, P)) * 0.5
    hx = (h0, rng.standard_normal((L * nd, B, m.hidden_size)) * 0.5) if lstm_like else h0
    with bptt.trace() as tr:
        out, _ = m(x, hx, lengths=lengths)
        dout = rng.standard_normal(out.shape)
        dh_n = rng.standard_normal((L * nd, B, P)) if final_grads else None
        m.zero_grad()
        if lstm_like:
            dc_n = rng.standard_normal((L * nd, B, m.hidden_size)) if final_grads else None
            dx, (dh0, dc0) = m.backward(dout, None if dh_n is None else (dh_n, dc_n))
        else:
            dc_n = dc0 = None
            dx, dh0 = m.backward(dout, dh_n)
    return tr, dict(x=x, hx=hx, dout=dout, dh_n=dh_n, dc_n=dc_n, dx=dx, dh0=dh0, dc0=dc0)


# ---------------------------------------------------------------------------------------------- equations
def ln_fwd(v, gamma, beta):
    mu = v.mean(-1, keepdims=True)
    xh = (v - mu) / np.sqrt(((v - mu) ** 2).mean(-1, keepdims=True) + 1e-12)
    return xh * gamma + beta


def ln_bwd(dy, xhat, rstd, gamma):
    """Layer norm's backward written out (independent of bptt.functional.ln_lstm)."""
    g = dy * gamma
    H = g.shape[-1]
    return rstd / H * (H * g - g.sum(-1, keepdims=True) - xhat * (g * xhat).sum(-1, keepdims=True))


def check_forward(lt, m) -> None:
    fw = lt.forward
    x, hp = fw["x"], fw["h_prev"]
    P = lambda role: lt.param(role)  # noqa: E731
    k = lt.kind
    if k == "lstm":
        H = fw["c"].shape[2]
        a = x @ P("W_ih").T + P("b_ih") + hp @ P("W_hh").T + P("b_hh")
        a[..., H : 2 * H] += m.forget_bias
        assert_close(fw["a"], a, RTOL, "a")
        i, f, g, o = sig(a[..., :H]), sig(a[..., H : 2 * H]), np.tanh(a[..., 2 * H : 3 * H]), sig(a[..., 3 * H :])
        for name, ref in (("i", i), ("f", f), ("g", g), ("o", o)):
            assert_close(fw[name], ref, RTOL, name)
        c = f * fw["c_prev"] + i * g
        assert_close(fw["c"], c, RTOL, "c")
        assert_close(fw["tanh_c"], np.tanh(c), RTOL, "tanh_c")
        r = o * np.tanh(c)
        assert_close(fw["h"], r if P("W_hr") is None else r @ P("W_hr").T, RTOL, "h")
        assert_close(fw["z"], np.concatenate([x, hp], -1), 0, "z")
    elif k == "lnlstm":
        H = fw["c"].shape[2]
        a = np.concatenate([x, hp], -1) @ P("kernel")
        ln = lt.meta["layer_norm"]
        if ln:
            gam = np.stack([P(f"gamma_{s}") for s in ("input", "transform", "forget", "output", "state")])
            bet = np.stack([P(f"beta_{s}") for s in ("input", "transform", "forget", "output", "state")])
            blocks = [ln_fwd(a[..., j * H : (j + 1) * H], gam[j], bet[j]) for j in range(4)]
        else:
            a = a + P("bias")
            blocks = [a[..., j * H : (j + 1) * H] for j in range(4)]
        assert_close(fw["a"], a, RTOL, "a")
        i, g, f, o = sig(blocks[0]), np.tanh(blocks[1]), sig(blocks[2] + m.forget_bias), sig(blocks[3])
        for name, ref in (("i", i), ("g", g), ("f", f), ("o", o)):
            assert_close(fw[name], ref, RTOL, name)
        c = f * fw["c_prev"] + i * g
        if ln:
            c = ln_fwd(c, gam[4], bet[4])
        assert_close(fw["c"], c, 1e-9, "c")
        assert_close(fw["h"], o * np.tanh(c), 1e-9, "h")
    elif k == "gru":
        H = fw["h"].shape[2]
        W_ih, W_hh, b_ih, b_hh = P("W_ih"), P("W_hh"), P("b_ih"), P("b_hh")
        gx, gh = x @ W_ih.T + b_ih, hp @ W_hh.T + b_hh
        r = sig(gx[..., :H] + gh[..., :H])
        z = sig(gx[..., H : 2 * H] + gh[..., H : 2 * H])
        n = np.tanh(gx[..., 2 * H :] + r * gh[..., 2 * H :])
        for name, ref in (("r", r), ("z", z), ("n", n), ("gh_n", gh[..., 2 * H :])):
            assert_close(fw[name], ref, RTOL, name)
        assert_close(fw["h"], (1 - z) * n + z * hp, RTOL, "h")
    else:
        a = x @ P("W_ih").T + P("b_ih") + hp @ P("W_hh").T + P("b_hh")
        assert_close(fw["a"], a, RTOL, "a")
        phi = np.maximum(a, 0) if lt.meta["nonlinearity"] == "relu" else np.tanh(a)
        assert_close(fw["h"], phi, RTOL, "h")
    # the recurrence: h_prev at a step is h of the step processed before it
    order = lt.order
    for k1, k2 in zip(order[:-1], order[1:]):
        assert_close(fw["h_prev"][k2], fw["h"][k1], 0, "h_prev chain")
        if "c" in fw:
            assert_close(fw["c_prev"][k2], fw["c"][k1], 0, "c_prev chain")


def check_backward(lt) -> None:
    """Every backward quantity at every step, recomputed from the traced values with the seed's equations."""
    fw, bw = lt.forward, lt.backward
    k = lt.kind
    bo = lt.backward_order
    for j, t in enumerate(bo):
        dh = bw["dh"][t]
        inc_h = lt.final["dh_n"] if j == 0 else bw["dh_next"][bo[j - 1]]
        assert_close(bw["dh_next_in"][t], inc_h, 0, "dh_next_in")
        assert_close(dh, bw["dy"][t] + inc_h, RTOL, f"dh (dHt) t={t}")
        if k in ("lstm", "lnlstm"):
            i, f, g, o, tc, cp = (fw[n][t] for n in ("i", "f", "g", "o", "tanh_c", "c_prev"))
            inc_c = lt.final["dc_n"] if j == 0 else bw["dc_next"][bo[j - 1]]
            assert_close(bw["dc_next_in"][t], inc_c, 0, "dc_next_in")
            W_hr = lt.param("W_hr")
            dho = dh if W_hr is None else dh @ W_hr
            assert_close(bw["do"][t], dho * tc, RTOL, f"do (dOt) t={t}")
            assert_close(bw["da_o"][t], bw["do"][t] * o * (1 - o), RTOL, "da_o")
            assert_close(bw["dc"][t], inc_c + dho * o * (1 - tc**2), RTOL, f"dc (dCt) t={t}")
            ln = k == "lnlstm" and lt.meta["layer_norm"]
            if ln:
                dct = ln_bwd(bw["dc"][t], fw["xhat_c"][t], fw["rstd_c"][t], lt.param("gamma_state"))
                assert_close(bw["dc_tilde"][t], dct, 1e-9, "dc_tilde")
            else:
                dct = bw["dc"][t]
            assert_close(bw["dg"][t], dct * i, RTOL, f"dg (dCprojt) t={t}")
            assert_close(bw["df"][t], dct * cp, RTOL, f"df (dFt) t={t}")
            assert_close(bw["di"][t], dct * g, RTOL, f"di (dIt) t={t}")
            if "g_mask" in fw:  # recurrent dropout: g = tanh(a_j) * mask
                dag = bw["dg"][t] * fw["g_mask"][t] * (1 - fw["g_raw"][t] ** 2)
            else:
                dag = bw["dg"][t] * (1 - g**2)
            assert_close(bw["da_g"][t], dag, 1e-9, "da_g")
            assert_close(bw["da_f"][t], bw["df"][t] * f * (1 - f), 1e-9, "da_f")
            assert_close(bw["da_i"][t], bw["di"][t] * i * (1 - i), 1e-9, "da_i")
            assert_close(bw["dc_next"][t], dct * f, 1e-9, f"dc_next (dC_next) t={t}")
            if k == "lstm":
                da = np.concatenate([bw["da_i"][t], bw["da_f"][t], bw["da_g"][t], bw["da_o"][t]], -1)
                assert_close(bw["da"][t], da, RTOL, "da")
                Wz = np.concatenate([lt.param("W_ih"), lt.param("W_hh")], axis=1)
            else:
                dah = np.concatenate([bw["da_i"][t], bw["da_g"][t], bw["da_f"][t], bw["da_o"][t]], -1)
                assert_close(bw["da_hat"][t], dah, RTOL, "da_hat")
                H = i.shape[-1]
                gam = [lt.param(f"gamma_{s}") for s in ("input", "transform", "forget", "output")]
                da = np.concatenate([ln_bwd(dah[:, q * H : (q + 1) * H], fw["xhat"][t][:, q], fw["rstd"][t][:, q],
                                            gam[q]) for q in range(4)], -1) if ln else dah
                assert_close(bw["da"][t], da, 1e-9, "da (through the gate LNs)")
                Wz = lt.param("kernel").T
            dz = bw["da"][t] @ Wz
            assert_close(bw["dz"][t], dz, RTOL, f"dz (dHX) t={t}")
            D = fw["x"].shape[2]
            assert_close(bw["dx"][t], dz[:, :D], RTOL, "dx")
            assert_close(bw["dh_next"][t], dz[:, D:], RTOL, "dh_next")
        elif k == "gru":
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
    assert seen == set(params), f"no per-step contributions for {set(params) - seen}"


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
            if ctx["dc0"] is not None:
                assert_close(lt.final["dc0"], ctx["dc0"][layer * nd + d], 0, "dc0")
            x_in = ctx["x"] if layer == 0 else np.concatenate([mt[layer - 1, e].forward["h"] for e in range(nd)], -1)
            assert_close(lt.forward["x"], x_in, 0, "layer input")


CASES = [
    ("lstm", 1, False, {}),
    ("lstm", 2, True, {}),
    ("lstm", 1, False, {"proj_size": 3}),
    ("lnlstm", 2, True, {}),
    ("lnlstm", 1, False, {"layer_norm": False}),
    ("gru", 2, True, {}),
    ("rnn", 2, True, {}),
    ("rnn_relu", 1, False, {}),
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
        assert lt.forward["x"].dtype == np.float64
        check_forward(lt, m)
        check_backward(lt)
    check_layer_links(tr, m, ctx)
    check_weight_sums(tr, m)


def test_layer_norm_lstm_with_recurrent_dropout():
    rng = seeded_rng("trace ln dropout")
    m = make("lnlstm", 3, 4, 1, False, rng, dropout_keep_prob=0.6)
    m.train()
    tr, _ = run_traced(m, T=5, B=2, rng=rng)
    lt = tr["layernormlstm"][0]
    assert "g_mask" in lt.forward.names
    assert_close(lt.forward["g"], np.tanh(ln_fwd(lt.forward["a"][..., 4:8], lt.param("gamma_transform"),
                                                 lt.param("beta_transform"))) * lt.forward["g_mask"], 1e-9, "g")
    check_backward(lt)
    check_weight_sums(tr, m)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths_padded_steps_pass_gradients_through(bidirectional):
    rng = seeded_rng("trace lengths", bidirectional)
    m = make("lstm", 3, 4, 1, bidirectional, rng)
    lengths = np.array([5, 2, 4])
    tr, _ = run_traced(m, T=5, B=3, rng=rng, lengths=lengths)
    check_weight_sums(tr, m)
    for lt in tr["lstm"].layers():
        act = lt.active
        assert act is not None and act.shape == (5, 3)
        bw = lt.backward
        for t in range(5):
            on, off = act[t], ~act[t]
            for name in ("do", "dg", "df", "di", "da"):
                assert not bw[name][t][off].any(), f"{name} must be zero on padded steps"
            assert_close(bw["dh_next"][t][off], bw["dh"][t][off], 0, "dh passes through")
            assert_close(bw["dc_next"][t][off], bw["dc_next_in"][t][off], 0, "dc passes through")
            assert_close(bw["dc_next"][t][on], (bw["dc"][t] * lt.forward["f"][t])[on], RTOL, "dc_next")
            assert_close(bw["dh"][t], bw["dy"][t] + bw["dh_next_in"][t], RTOL, "dh")


def test_steps_api_shapes_norms_and_names():
    rng = seeded_rng("trace api")
    m = make("lstm", 4, 5, 1, False, rng)
    tr, _ = run_traced(m, T=3, B=2, rng=rng)
    bw = tr["lstm"].backward
    assert bw.names[:10] == ["dy", "dh_next_in", "dh", "do", "dc_next_in", "dc", "dg", "df", "di", "dz"]
    assert bw[2]["dc"].shape == (2, 5)
    assert tr["lstm"].backward[2]["dc"] is not None
    assert bw.shapes["dz"] == (2, 9) and bw.shapes["dW_ih"] == (20, 4) and bw.shapes["db_ih"] == (20,)
    assert_close(bw.norms("dh"), np.linalg.norm(bw["dh"].reshape(3, -1), axis=1), 1e-14, "norms")
    assert set(bw.norms()) == set(bw.names)
    step = bw[-1]
    assert step.t == 2 and "dc" in step and len(list(step)) == len(bw.names)
    assert [s.t for s in bw] == [0, 1, 2]
    assert bw.order == (2, 1, 0) and tr["lstm"].forward.order == (0, 1, 2)
    assert tr["lstm"][0].seed_name("dg") == "dCprojt" and tr["lstm"][0].seed_name("dz") == "dHX"
    assert "dc" in tr.summary() and "dCt" in tr.summary()
    with pytest.raises(TraceError, match=r"step 3 is out of range .* T=3 .*valid: 0\.\.2"):
        bw[3]
    with pytest.raises(TraceError, match="no quantity named 'dq'"):
        bw["dq"]
    with pytest.raises(TraceError, match="no module named 'gru' was traced \\(traced: lstm\\)"):
        tr["gru"]
    with pytest.raises(TraceError, match=r"layer 1 does not exist: the module has 1 layer \(valid: 0\)"):
        tr["lstm"][1]
    with pytest.raises(TraceError, match="not bidirectional"):
        tr["lstm"][0, "reverse"]
    with pytest.raises(TraceError, match="direction must be 'forward' or 'reverse'"):
        tr["lstm"][0, "sideways"]
    assert tr[m] is tr["lstm"] and tr["lstm", 0, "forward"] is tr["lstm"][0]


def test_model_names_keep_last_and_several_modules():
    rng = seeded_rng("trace names")
    from bptt.examples.belling_the_cat import BellingTheCat

    model = BellingTheCat("bimulti", 10)
    x = np.zeros((3, 1, 10))
    x[[0, 1, 2], 0, [1, 4, 7]] = 1
    with bptt.trace(model, keep="last") as tr:
        for _ in range(3):
            model.zero_grad()
            logits = model(x)
            model.backward(rng.standard_normal(logits.shape))
    assert tr.names == ["lstm", "lstm_bw"]
    assert len(tr["lstm"].calls) == 1 and tr["lstm"].num_layers == 2
    for name, mod in (("lstm", model.lstm), ("lstm_bw", model.lstm_bw)):
        for lt in tr[name].layers():
            for pname, steps in lt.param_grad_steps().items():
                assert_close(steps.sum(0), dict(mod.named_parameters())[pname].grad, 1e-10, pname)
    with bptt.trace() as tr2:
        a, b = nn.GRU(2, 3, rng=0), nn.GRU(2, 3, rng=1)
        a(np.ones((2, 1, 2), np.float32))
        b(np.ones((2, 1, 2), np.float32))
        a(np.ones((4, 1, 2), np.float32))
    assert tr2.names == ["gru", "gru_1"] and len(tr2["gru"].calls) == 2 and tr2["gru"].layer(call=-1).T == 4


def test_forward_only_and_forward_outside_the_trace():
    rng = seeded_rng("trace fwd only")
    m = make("gru", 3, 4, 1, False, rng)
    x = rng.standard_normal((4, 2, 3))
    with nn.no_grad(), bptt.trace() as tr:
        m(x)
    assert tr["gru"][0].backward is None
    with pytest.raises(TraceError, match="no backward pass was recorded"):
        _ = tr["gru"].backward
    out, _ = m(x)  # forward before the trace: the backward inside still records everything
    with bptt.trace() as tr:
        m.zero_grad()
        m.backward(rng.standard_normal(out.shape))
    lt = tr["gru"][0]
    check_forward(lt, m)
    check_backward(lt)
    check_weight_sums(tr, m)


def test_npz_round_trip(tmp_path):
    rng = seeded_rng("trace npz")
    m = make("lstm", 3, 4, 2, True, rng)
    tr, _ = run_traced(m, T=4, B=2, rng=rng, lengths=np.array([4, 3]))
    path = tr.save(tmp_path / "run.npz")
    back = bptt.trace.load(path)
    assert back.names == tr.names
    for a, b in zip(tr.layers(), back.layers()):
        assert (a.kind, a.layer, a.direction, a.T, a.B, a.meta, a.roles) == \
            (b.kind, b.layer, b.direction, b.T, b.B, b.meta, b.roles)
        assert np.array_equal(a.active, b.active)
        for group in ("forward", "backward"):
            sa, sb = getattr(a, group), getattr(b, group)
            assert sa.names == sb.names
            for n in sa.names:
                assert np.array_equal(sa[n], sb[n]), (group, n)
        for d1, d2 in ((a.params, b.params), (a.grads, b.grads), (a.final, b.final)):
            assert d1.keys() == d2.keys() and all(np.array_equal(d1[k], d2[k]) for k in d1)
        assert b.backward[1]["dc"].shape == (2, 4) and b.seed_name("dc") == "dCt"
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(Exception):  # noqa: B017 - numpy's own error for a corrupt file
        bptt.trace.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a bptt trace file"):
        bptt.trace.load(tmp_path / "other.npz")


def test_debug_logging_prints_the_seed_names():
    rng = seeded_rng("trace log")
    m = make("lstm", 3, 5, 1, False, rng)
    x = rng.standard_normal((3, 1, 3))
    buf = io.StringIO()
    with bptt.trace.debug_logging(forward=True, backward=True, stream=buf) as tr:
        out, _ = m(x)
        m.backward(np.ones_like(out))
    text = buf.getvalue()
    for needle in ("bptt.trace.forward:", "bptt.trace.backward:", "Cproj (g)", "dHt (dh)", "dOt (do)",
                   "dCt (dc)", "dCprojt (dg)", "dFt (df)", "dIt (di)", "dHX (dz)", "dC_next (dc_next)",
                   "dh_next", "lstm layer 0 forward t=2", "shape (1, 5)"):
        assert needle in text, needle
    # the backward pass is printed from the last step back, as the seed's figures go
    assert text.index("forward t=2 dHt") < text.index("forward t=0 dHt")
    assert tr.modules == {}  # a logging-only trace keeps nothing
    assert bptt.trace.active() is None
    buf2 = io.StringIO()
    with bptt.trace.debug_logging(forward=False, backward=True, stream=buf2):
        out, _ = m(x)
        m.backward(np.ones_like(out))
    assert "bptt.trace.forward" not in buf2.getvalue() and "dCt (dc)" in buf2.getvalue()
    assert logging.getLogger("bptt.trace.backward").level == logging.NOTSET


def test_logging_through_standard_logging_config(caplog):
    m = make("gru", 2, 3, 1, False, seeded_rng("trace caplog"))
    with caplog.at_level(logging.DEBUG, logger="bptt.trace.backward"), bptt.trace():
        out, _ = m(np.ones((2, 1, 2)))
        m.backward(np.ones_like(out))
    msgs = [r.getMessage() for r in caplog.records if r.name == "bptt.trace.backward"]
    assert any("dHt (dh)" in s for s in msgs) and any("dn" in s for s in msgs)
    assert not any(r.name == "bptt.trace.forward" for r in caplog.records)


def test_tracing_off_leaves_no_recorder_and_identical_caches(monkeypatch):
    """Zero cost when off: no recorder reaches the functional ops and the caches are exactly the same."""
    assert bptt.trace.active() is None
    seen = []
    for mod in (F.lstm, F.gru, F.rnn, F.ln_lstm):
        for fn in ("forward", "backward"):
            orig = getattr(mod, fn)

            def spy(*a, _orig=orig, **k):
                seen.append(k.get("record"))
                return _orig(*a, **k)

            monkeypatch.setattr(mod, fn, spy)
    rng = seeded_rng("trace off")
    for kind in ("lstm", "gru", "rnn", "lnlstm"):
        m1 = make(kind, 3, 4, 2, True, rng)
        m2 = make(kind, 3, 4, 2, True, rng)
        m2.load_state_dict(m1.state_dict())
        x = rng.standard_normal((4, 2, 3))
        seen.clear()
        o1, _ = m1(x)
        assert seen and all(r is None for r in seen), "tracing off must pass record=None"
        c1 = m1._caches[-1]
        with bptt.trace():
            o2, _ = m2(x)
        c2 = m2._caches[-1]
        assert np.array_equal(o1, o2)
        _assert_same_structure(c1, c2)
        seen.clear()
        m1.backward(np.ones_like(o1))
        assert all(r is None for r in seen)
        with bptt.trace():
            m2.backward(np.ones_like(o2))
        for (n, p), (_, q) in zip(m1.named_parameters(), m2.named_parameters()):
            assert np.array_equal(p.grad, q.grad), n
    assert bptt.trace.active() is None
    with bptt.trace() as outer:
        with bptt.trace() as inner:
            assert bptt.trace.active() is inner
        assert bptt.trace.active() is outer
    assert bptt.trace.active() is None


def _assert_same_structure(a, b) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
        # the same arithmetic on the same inputs: bit-for-bit equal (NaN only where the other has NaN)
        nan_ok = a.dtype.kind in "fc"
        assert np.array_equal(a, b, equal_nan=nan_ok), f"cache array differs: max|a - b| = {_max_diff(a, b)}"
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), (type(a), type(b))
        for u, v in zip(a, b):
            _assert_same_structure(u, v)
    else:
        assert a == b or (a is None and b is None), (a, b)


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float(np.nanmax(d)) if d.size and not np.isnan(d).all() else float("nan")


def test_same_structure_check_is_not_hollow():
    """The cache comparison above fails on equal shapes with different values, and on NaN in one place only."""
    a = np.arange(6.0).reshape(2, 3)
    _assert_same_structure((a, [a]), (a.copy(), [a.copy()]))
    _assert_same_structure(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    for b in (a + 1e-15 * np.arange(6.0).reshape(2, 3), np.where(a == 2.0, np.nan, a)):
        with pytest.raises(AssertionError):
            _assert_same_structure((a, [a]), (a, [b]))
    with pytest.raises(AssertionError):
        _assert_same_structure(a, a.astype(np.float32))


def test_bad_keep():
    with pytest.raises(ValueError, match="keep must be one of all, last, none"):
        bptt.trace(keep="some")
