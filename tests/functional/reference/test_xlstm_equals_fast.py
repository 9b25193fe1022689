"""xLSTM's sLSTM and mLSTM: the fast ops equal their textbook twins (<= 1e-12), the mLSTM's recurrent form
equals its parallel form (<= 1e-10), and the stabiliser does what the docstrings say (NumPy only).

``max|a - b| <= rtol * max|b|`` per array, for the outputs and every gradient, over every option (forget
gate sigmoid/exp, bias or none, 1-3 heads, which upstream gradients are given), with and without a
workspace, ``need_dx=False``, float32, hypothesis-drawn shapes; the per-step intermediates the reference
records equal the arrays the fast op keeps.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bptt.functional import mlstm, mlstm_parallel, slstm
from bptt.functional import reference as ref
from bptt.functional.workspace import Workspace
from cases.reference import Case
from cases.xlstm import DOUTS, TWINS, assert_same, mlstm_case, run_op, slstm_case
from helpers import assert_close, seeded_rng

RTOL = 1e-12
FORMS_RTOL = 1e-10


def assert_twins_equal(case: Case, *, need_dx: bool = True, ws: Workspace | None = None) -> None:
    fast, reference = TWINS[case.op]
    extra = {} if ws is None else {"ws": ws}
    out_f, grads_f, _ = run_op(fast, case, need_dx=need_dx, **extra)
    out_r, grads_r, _ = run_op(reference, case, need_dx=need_dx)
    assert_same(case, (out_f, grads_f), (out_r, grads_r), RTOL, "fast vs reference")
    if not need_dx:
        assert grads_f.dx is None and grads_r.dx is None


OPTIONS = list(itertools.product(["sigmoid", "exp"], [True, False], DOUTS))


@pytest.mark.parametrize("heads", [1, 2, 3])
@pytest.mark.parametrize("forget_gate,bias,dout", OPTIONS)
def test_slstm_equals_reference(forget_gate, bias, dout, heads):
    rng = seeded_rng("slstm-twin", forget_gate, bias, dout, heads)
    assert_twins_equal(slstm_case(rng, heads=heads, bias=bias, forget_gate=forget_gate, dout=dout))


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("forget_gate,bias,dout", OPTIONS)
def test_mlstm_equals_reference(forget_gate, bias, dout, parallel):
    rng = seeded_rng("mlstm-twin", forget_gate, bias, dout, parallel)
    assert_twins_equal(mlstm_case(rng, bias=bias, forget_gate=forget_gate, dout=dout, parallel=parallel))


@pytest.mark.parametrize("zero_state", [False, True])
@pytest.mark.parametrize("forget_gate,bias,dout", OPTIONS)
def test_mlstm_recurrent_form_equals_parallel_form(forget_gate, bias, dout, zero_state):
    """Both tiers: the recurrent and the parallel form give the same outputs, final states and gradients."""
    rng = seeded_rng("mlstm-forms", forget_gate, bias, dout, zero_state)
    case = mlstm_case(rng, T=9, heads=3, head_size=2, bias=bias, forget_gate=forget_gate, dout=dout,
                      zero_state=zero_state)
    out_r, grads_r, _ = run_op(mlstm, case)
    out_p, grads_p, _ = run_op(mlstm_parallel, case)
    assert_same(case, (out_p, grads_p), (out_r, grads_r), FORMS_RTOL, "parallel vs recurrent")
    out_r, grads_r, _ = run_op(ref.mlstm, case)
    out_p, grads_p, _ = run_op(ref.mlstm_parallel, case)
    assert_same(case, (out_p, grads_p), (out_r, grads_r), FORMS_RTOL, "reference parallel vs recurrent")


def test_mlstm_forms_agree_over_a_long_sequence():
    """T = 200 with forget gates near 1: the cumulative sums of the parallel form stay accurate."""
    rng = seeded_rng("mlstm-long")
    case = mlstm_case(rng, T=200, B=2, D=3, heads=2, head_size=4, dout="all", scale=0.3)
    case.args[-1][3 * 8 + 2:3 * 8 + 4] += 4.0  # forget biases: f ~ 0.98
    out_r, grads_r, _ = run_op(mlstm, case)
    out_p, grads_p, _ = run_op(mlstm_parallel, case)
    assert_same(case, (out_p, grads_p), (out_r, grads_r), FORMS_RTOL, "parallel vs recurrent, T=200")


@pytest.mark.parametrize("op", ["slstm", "mlstm", "mlstm_parallel"])
def test_need_dx_false_and_workspace(op):
    rng = seeded_rng("xlstm-ws", op)
    ws = Workspace()
    for k in range(3):  # the second and third calls get recycled buffers
        case = slstm_case(rng, dout=DOUTS[k]) if op == "slstm" else mlstm_case(rng, dout=DOUTS[k],
                                                                                parallel=op == "mlstm_parallel")
        assert_twins_equal(case, ws=ws)
        assert_twins_equal(case, need_dx=False, ws=ws)


@pytest.mark.parametrize("op", ["slstm", "mlstm", "mlstm_parallel"])
def test_float32_results_have_the_fast_dtypes(op):
    rng = seeded_rng("xlstm-f32", op)
    case = slstm_case(rng) if op == "slstm" else mlstm_case(rng, parallel=op == "mlstm_parallel")
    case.args = [None if a is None else a.astype(np.float32) for a in case.args]
    case.dout = tuple(None if d is None else d.astype(np.float32) for d in case.dout)
    fast, reference = TWINS[op]
    out_f, grads_f, _ = run_op(fast, case)
    out_r, grads_r, _ = run_op(reference, case)
    for f, r in zip(out_f + tuple(grads_f), out_r + tuple(grads_r)):
        assert r.dtype == f.dtype == np.float32 and r.shape == f.shape
        assert_close(r.astype(np.float64), f.astype(np.float64), 1e-4)


@st.composite
def xlstm_cases(draw: st.DrawFn) -> Case:
    op = draw(st.sampled_from(["slstm", "mlstm", "mlstm_parallel"]))
    T, B, D = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    heads, size = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    opts = dict(bias=draw(st.booleans()), forget_gate=draw(st.sampled_from(["sigmoid", "exp"])),
                dout=draw(st.sampled_from(DOUTS)), zero_state=draw(st.booleans()))
    if op == "slstm":
        return slstm_case(rng, T, B, D, heads * size, heads, **opts)
    return mlstm_case(rng, T, B, D, heads, size, parallel=op == "mlstm_parallel", **opts)


@settings(max_examples=80, deadline=None)
@given(case=xlstm_cases(), need_dx=st.booleans())
def test_drawn_shapes_and_options_equal_reference(case, need_dx):
    assert_twins_equal(case, need_dx=need_dx)


# ---------------------------------------------------------------------------- recorded intermediates
def test_slstm_step_caches_equal_the_fast_arrays():
    case = slstm_case(seeded_rng("slstm-record"), forget_gate="exp")
    seen: dict = {}
    _, cache_r = ref.slstm.forward(*case.args, **case.kwargs, record=lambda c: seen.setdefault("fw", c))
    steps_b = {}
    ref.slstm.backward(case.dout, cache_r, record=lambda c, s: steps_b.setdefault("bw", s))
    raw: dict = {}
    _, cache_f = slstm.forward(*case.args, **case.kwargs)
    slstm.backward(case.dout, cache_f, record=lambda c, arrays: raw.update(arrays))
    assert seen["fw"] is cache_r
    steps = cache_r.steps
    for name, fast in [("i", cache_f.I), ("f", cache_f.F), ("log_f", cache_f.LF), ("m", cache_f.Ms[1:]),
                       ("c", cache_f.Cs[1:]), ("n", cache_f.Ns[1:]), ("h_tilde", cache_f.HT), ("h", cache_f.Hs[1:])]:
        assert_close(fast, np.stack([getattr(s, name) for s in steps]), RTOL, name=name)
    for name, fast in [("dh", raw["DH"]), ("dc", raw["DC"]), ("dn", raw["DN"]), ("dm", raw["DM"]), ("da", raw["dA"])]:
        assert_close(fast, np.stack([getattr(g, name) for g in steps_b["bw"]]), RTOL, name=name)


def test_mlstm_step_caches_equal_the_fast_arrays():
    case = mlstm_case(seeded_rng("mlstm-record"))
    _, cache_r = ref.mlstm.forward(*case.args, **case.kwargs)
    grads_r: list = []
    ref.mlstm.backward(case.dout, cache_r, record=lambda c, s: grads_r.extend(s))
    raw: dict = {}
    _, cache_f = mlstm.forward(*case.args, **case.kwargs)
    mlstm.backward(case.dout, cache_f, record=lambda c, arrays: raw.update(arrays))
    steps = cache_r.steps
    for name, fast in [("i", cache_f.IP), ("f", cache_f.FP), ("m", cache_f.Ms[1:]), ("C", cache_f.Cs[1:]),
                       ("n", cache_f.Ns[1:]), ("qn", cache_f.QN), ("den", cache_f.DEN), ("h_tilde", cache_f.HT)]:
        assert_close(fast, np.stack([getattr(s, name) for s in steps]), RTOL, name=name)
    for name, fast in [("dC", raw["DC"]), ("dn", raw["DN"]), ("dm", raw["DM"])]:
        assert_close(fast, np.stack([getattr(g, name) for g in grads_r]), RTOL, name=name)


def test_mlstm_cases_exercise_both_sides_of_the_denominator():
    """Some steps divide by |n^T q|, others by exp(-m) (the paper's max(|n^T q|, 1) at its lower bound)."""
    wins = []
    for seed in range(6):
        case = mlstm_case(seeded_rng("mlstm-branches", seed), zero_state=seed % 2 == 0)
        _, cache = mlstm.forward(*case.args, **case.kwargs)
        wins.append(np.abs(cache.QN) >= np.exp(-cache.Ms[1:]))
    wins = np.concatenate([w.ravel() for w in wins])
    assert wins.any() and not wins.all(), f"{wins.mean():.2f} of the steps divide by |n^T q|"


# ------------------------------------------------------------------------------------ the stabiliser
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_outputs_do_not_depend_on_the_stabiliser(forget_gate):
    """(c0, n0, m0) and (c0 e^-d, n0 e^-d, m0 + d) are the same unstabilised state: same y, h_n, c_n/n_n and
    c_n e^m_n, for any shift d."""
    case = slstm_case(seeded_rng("slstm-shift", forget_gate), T=7, forget_gate=forget_gate)
    x, h0, c0, n0, m0, *weights = case.args
    d = 3.0 * np.random.default_rng(5).standard_normal(m0.shape)
    (y, h_n, c_n, n_n, m_n), cache = ref.slstm.forward(x, h0, c0, n0, m0, *weights, **case.kwargs)
    (y2, h2, c2, n2, m2), cache2 = ref.slstm.forward(x, h0, c0 * np.exp(-d), n0 * np.exp(-d), m0 + d, *weights,
                                                     **case.kwargs)
    assert_close(y2, y, RTOL, "y")
    assert_close(h2, h_n, RTOL, "h_n")
    assert_close(c2 / n2, c_n / n_n, RTOL, "c_n / n_n")
    assert_close(c2 * np.exp(m2), c_n * np.exp(m_n), RTOL, "c_n e^m")
    assert np.abs(cache2.steps[0].m - cache.steps[0].m).max() > 0.1  # the stabilised states did change


@pytest.mark.parametrize("parallel", [False, True])
def test_mlstm_outputs_do_not_depend_on_the_stabiliser(parallel):
    case = mlstm_case(seeded_rng("mlstm-shift", parallel), T=7)
    x, C0, n0, m0, W, b = case.args
    d = 3.0 * np.random.default_rng(6).standard_normal(m0.shape)
    op = mlstm_parallel if parallel else mlstm
    (y, C_n, n_n, m_n), _ = op.forward(x, C0, n0, m0, W, b)
    (y2, C2, n2, m2), _ = op.forward(x, C0 * np.exp(-d)[..., None, None], n0 * np.exp(-d)[..., None], m0 + d, W, b)
    assert_close(y2, y, RTOL, "y")
    assert_close(C2 * np.exp(m2)[..., None, None], C_n * np.exp(m_n)[..., None, None], RTOL, "C_n e^m")


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_gradient_through_m_is_the_conserved_quantity(forget_gate):
    """At every step dm_t = dm_next - c_t dc_next - n_t dn_next (derived in the reference's docstring); with
    gradients of the outputs only it is zero up to rounding, with dc_n alone it is not."""
    for dout, zero in [("y", True), ("cell", False)]:
        case = slstm_case(seeded_rng("slstm-dm", forget_gate, dout), T=8, forget_gate=forget_gate, dout=dout)
        _, cache = ref.slstm.forward(*case.args, **case.kwargs)
        recorded: dict = {}
        ref.slstm.backward(case.dout, cache, record=lambda c, s, into=recorded: into.update(steps=s))
        steps = recorded["steps"]
        scale = max(np.abs(g.da).max() for g in steps)
        for s, g in zip(cache.steps, steps):
            conserved = g.dm_next_in - s.c * g.dc_next_in - s.n * g.dn_next_in
            assert np.abs(g.dm - conserved).max() <= 1e-12 * scale
        largest = max(np.abs(g.dm).max() for g in steps)
        assert (largest <= 1e-13 * scale) if zero else (largest > 1e-3 * scale), (dout, largest / scale)


def test_mlstm_gradient_through_m_is_zero_when_only_outputs_feed_the_loss():
    case = mlstm_case(seeded_rng("mlstm-dm"), T=8, dout="y")
    _, cache = ref.mlstm.forward(*case.args, **case.kwargs)
    steps: list = []
    ref.mlstm.backward(case.dout, cache, record=lambda c, s: steps.extend(s))
    scale = max(max(np.abs(g.da_i).max(), np.abs(g.dq).max()) for g in steps)
    assert max(np.abs(g.dm).max() for g in steps) <= 1e-13 * scale
    assert max(np.abs(g.dm_den).max() for g in steps) > 1e-6 * scale  # exp(-m) gets one, which i', f' cancel
