"""bptt.trace on xLSTM's sLSTM: the recorded values are the values of the pass, recomputed here from the
traced inputs and weights with the paper's equations written out (float64); the carried gradients chain from
step to step and layer to layer; the per-step weight-gradient shares sum to the parameter gradients; the
traced pass (reference tier) equals the untraced (fused) one. The mLSTM is not a traced kind: inside a trace
it runs unrecorded."""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from bptt import nn
from helpers import assert_close, distinct_uniform, seeded_rng

RTOL = 1e-11
T, B, D, H = 6, 3, 4, 6


def sig(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def block_diagonal(W_hh: np.ndarray, H: int) -> np.ndarray:
    """R (4H, H) from its diagonal blocks, written out here independently of bptt."""
    S = W_hh.shape[1]
    R = np.zeros((4 * H, H))
    for row in range(4 * H):
        head = (row % H) // S
        R[row, head * S:(head + 1) * S] = W_hh[row]
    return R


def run(m, x, state, dout, dstate):
    out, final = m(x, state)
    m.zero_grad()
    dx, dstate0 = m.backward(dout, dstate)
    return out, final, dx, dstate0, {n: p.grad.copy() for n, p in m.named_parameters()}


def check_layer(lt, forget_gate: str) -> None:
    fw, bw, P = lt.forward, lt.backward, lt.param
    R = block_diagonal(P("W_hh"), H)
    a = fw["x"] @ P("W_ih").T + fw["h_prev"] @ R.T + P("b")
    a_i, a_f, a_z, a_o = np.split(a, 4, axis=-1)
    log_f = np.log(sig(a_f)) if forget_gate == "sigmoid" else a_f
    m = np.maximum(log_f + fw["m_prev"], a_i)
    i, f = np.exp(a_i - m), np.exp(log_f + fw["m_prev"] - m)
    c = f * fw["c_prev"] + i * np.tanh(a_z)
    n = f * fw["n_prev"] + i
    for name, ref in (("a", a), ("m", m), ("i", i), ("f", f), ("z", np.tanh(a_z)), ("o", sig(a_o)), ("c", c),
                      ("n", n), ("h_tilde", c / n), ("h", sig(a_o) * c / n)):
        assert_close(fw[name], ref, RTOL, name)
    for t in range(T):  # the carried state and its gradient chain from step to step
        if t:
            for s in ("h", "c", "n", "m"):
                assert_close(fw[f"{s}_prev"][t], fw[s][t - 1], 0, f"{s}_prev")
        if t < T - 1:
            for s in ("h", "c", "n", "m"):
                assert_close(bw[f"d{s}_next_in"][t], bw[f"d{s}_next"][t + 1], 0, f"d{s}_next_in")
    o, h_tilde = fw["o"], fw["h_tilde"]
    dh = bw["dy"] + bw["dh_next_in"]
    dc = bw["dc_next_in"] + dh * o / n
    dn = bw["dn_next_in"] - dh * o * h_tilde / n
    di, df = dc * np.tanh(a_z) + dn, dc * fw["c_prev"] + dn * fw["n_prev"]
    dm = bw["dm_next_in"] - di * i - df * f
    scale = float(np.abs(bw["da"]).max())  # dm is zero in exact arithmetic when no final-state gradient is given
    for name, ref in (("dm", dm), ("dm is conserved", bw["dm_next_in"] - c * bw["dc_next_in"] - n * bw["dn_next_in"])):
        assert np.abs(bw["dm"] - ref).max() <= RTOL * scale, name
    wins = log_f + fw["m_prev"] >= a_i
    da_f = (df * f + wins * dm) * ((1 - sig(a_f)) if forget_gate == "sigmoid" else 1.0)
    da = np.concatenate([di * i + ~wins * dm, da_f, dc * i * (1 - np.tanh(a_z) ** 2), dh * h_tilde * o * (1 - o)],
                        axis=-1)
    for name, ref in (("dh", dh), ("dc", dc), ("dn", dn), ("da", da), ("dx", da @ P("W_ih")),
                      ("dh_next", da @ R), ("dc_next", dc * f), ("dn_next", dn * f),
                      ("dm_next", df * f + wins * dm)):
        assert_close(bw[name], ref, RTOL, name)


@pytest.mark.parametrize("num_layers,heads,forget_gate", [(1, 1, "sigmoid"), (2, 3, "sigmoid"), (2, 2, "exp")])
def test_traced_slstm_values_are_the_values_used(num_layers, heads, forget_gate):
    rng = seeded_rng("trace slstm", num_layers, heads, forget_gate)
    m = nn.SLSTM(D, H, num_layers, num_heads=heads, forget_gate=forget_gate, dtype=np.float64, rng=0)
    for p in m.parameters():
        p.data[...] = distinct_uniform(rng, p.shape)
    x = rng.standard_normal((T, B, D))
    state = tuple(0.5 * rng.standard_normal((num_layers, B, H)) for _ in range(4))
    state = (state[0], state[1], np.abs(state[2]) + 0.5, state[3])
    dout = rng.standard_normal((T, B, H))
    dstate = tuple(rng.standard_normal((num_layers, B, H)) for _ in range(4))
    fused = run(m, x, state, dout, dstate)
    with bptt.trace() as tr:
        traced = run(m, x, state, dout, dstate)
    for a, b in zip(traced[:2] + traced[2:4], fused[:2] + fused[2:4]):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            assert_close(u, v, 1e-12, "traced = fused")
    mt = tr["slstm"]
    assert mt.label == "sLSTM" and len(mt.layers()) == num_layers
    below = x
    for layer in range(num_layers):
        lt = mt[layer]
        assert_close(lt.forward["x"], below, 0, "the layer reads the layer below")
        check_layer(lt, forget_gate)
        assert_close(lt.final["dh_n"], dstate[0][layer], 0, "dh_n")
        assert_close(lt.final["dc0"], traced[3][1][layer], 0, "dc0")
        assert lt.meta["forget_gate"] == forget_gate and lt.meta["reverse"] is False and lt.active is None
        shares = lt.param_grad_steps()
        for name, grad in traced[4].items():
            if name.endswith(f"_l{layer}"):
                assert_close(shares[name].sum(axis=0), grad, 1e-12, f"sum of {name}'s shares")
        below = lt.forward["h"]
    assert_close(mt[num_layers - 1].backward["dy"], dout, 0, "dy of the top layer")
    for layer in range(num_layers - 1):  # the layer above hands its dx down as dy
        assert_close(mt[layer].backward["dy"], mt[layer + 1].backward["dx"], 1e-12, "dy = dx of the layer above")


def test_forward_outside_the_trace_and_the_text_log():
    """A backward inside the trace of a forward run before it is recorded in full (replayed in the textbook
    tier), and the loggers print the sLSTM's quantities."""
    rng = seeded_rng("trace slstm replay")
    m = nn.SLSTM(D, H, 2, num_heads=2, dtype=np.float64, rng=1)
    x, dout = rng.standard_normal((T, B, D)), rng.standard_normal((T, B, H))
    out, _ = m(x)
    m.zero_grad()
    dx_fused, _ = m.backward(dout)
    out, _ = m(x)
    with bptt.trace() as tr:
        m.zero_grad()
        dx, _ = m.backward(dout)
    assert_close(dx, dx_fused, 1e-12, "dx")
    check_layer(tr["slstm"][1], "sigmoid")
    assert "dm" in tr.summary() and "dCt" in tr.summary()


def test_mlstm_runs_unrecorded_inside_a_trace():
    m = nn.MLSTM(D, 8, num_heads=2, dtype=np.float64, rng=0)
    x = seeded_rng("mlstm in trace").standard_normal((T, B, D))
    out, _ = m(x)
    with bptt.trace() as tr:
        traced, _ = m(x)
        m.backward(np.ones_like(traced))
    assert len(tr) == 0
    assert_close(traced, out, 0, "same output")
