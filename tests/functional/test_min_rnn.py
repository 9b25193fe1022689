"""minGRU, minLSTM and the linear-recurrence scan, NumPy only: the two modes agree (<= 1e-10), the fast tier
equals its textbook twin (<= 1e-12), finite differences, long sequences without overflow, and the textbook
source reads as the paper's equations (ast).
"""

from __future__ import annotations

import ast
import inspect
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bptt.functional import min_gru, min_lstm, min_rnn, scan
from bptt.functional import reference as ref
from bptt.functional.workspace import Workspace
from bptt.gradcheck import check_function
from cases.min_rnn import CELLS, MODES, draw_lengths, min_case, run
from helpers import assert_close, seeded_rng

TWIN = 1e-12
MODES_AGREE = 1e-10
OPTIONS = list(itertools.product(["min_gru", "min_lstm"], [False, True], [False, True], [0, 2], [True, False]))


def _names(case) -> list[str]:
    return ["y", "h_n"] + ["d" + n for n in case.names]


@pytest.mark.parametrize("dout", ["all", "y", "final"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cell,reverse,lengths,proj_size,bias", OPTIONS)
def test_fast_equals_reference(cell, reverse, lengths, proj_size, bias, mode, dout):
    rng = seeded_rng("min-twin", cell, reverse, lengths, proj_size, bias, mode, dout)
    case = min_case(cell, rng, mode=mode, bias=bias, proj_size=proj_size, reverse=reverse, lengths=lengths, dout=dout)
    fast, reference, _ = CELLS[cell]
    out_f, grads_f, _ = run(fast, case)
    out_r, grads_r, _ = run(reference, case)
    assert type(grads_f) is type(grads_r)
    assert (grads_f[3] is None) == (grads_r[3] is None) == (not bias)  # db_ih is None without a bias
    assert len(grads_f) == (5 if proj_size else 4)
    for name, f, r in zip(_names(case), out_f + grads_f, out_r + grads_r):
        assert_close(f, r, TWIN, name=f"{cell} {mode} {name}")


@pytest.mark.parametrize("cell,reverse,lengths,proj_size,bias", OPTIONS)
def test_sequential_equals_parallel(cell, reverse, lengths, proj_size, bias):
    rng = seeded_rng("min-modes", cell, reverse, lengths, proj_size, bias)
    case = min_case(cell, rng, T=9, mode="parallel", bias=bias, proj_size=proj_size, reverse=reverse,
                    lengths=lengths)
    fast = CELLS[cell][0]
    out_p, grads_p, _ = run(fast, case)
    case.kwargs["mode"] = "sequential"
    out_s, grads_s, _ = run(fast, case)
    for name, p, s in zip(_names(case), out_p + grads_p, out_s + grads_s):
        assert_close(p, s, MODES_AGREE, name=f"{cell} parallel vs sequential {name}")


@settings(max_examples=25, deadline=None)
@given(cell=st.sampled_from(["min_gru", "min_lstm"]), mode=st.sampled_from(MODES), T=st.integers(1, 12),
       B=st.integers(1, 4), D=st.integers(1, 5), H=st.integers(1, 6), proj=st.integers(0, 3),
       reverse=st.booleans(), lengths=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_twins_and_modes_on_drawn_shapes(cell, mode, T, B, D, H, proj, reverse, lengths, bias, seed):
    case = min_case(cell, np.random.default_rng(seed), T=T, B=B, D=D, H=H, mode=mode, bias=bias,
                    proj_size=proj, reverse=reverse, lengths=lengths)
    fast, reference, _ = CELLS[cell]
    out_f, grads_f, _ = run(fast, case, fwd={"ws": Workspace()})
    out_r, grads_r, _ = run(reference, case)
    other = dict(case.kwargs, mode="sequential" if mode == "parallel" else "parallel")
    (y_o, h_o), cache_o = fast.forward(*case.args, **other)
    grads_o = fast.backward(case.dout, cache_o)
    for name, f, r, o in zip(_names(case), out_f + grads_f, out_r + grads_r, (y_o, h_o) + tuple(grads_o)):
        assert_close(f, r, TWIN, name=f"{name} fast vs reference")
        assert_close(o, r, MODES_AGREE, name=f"{name} other mode vs reference")


@pytest.mark.parametrize("cell", ["min_gru", "min_lstm"])
@pytest.mark.parametrize("mode", MODES)
def test_finite_differences(cell, mode):
    rng = seeded_rng("min-fd", cell, mode)
    case = min_case(cell, rng, T=4, B=2, D=3, H=3, mode=mode, proj_size=2, reverse=True, lengths=True)
    fast, reference, _ = CELLS[cell]
    for module in (fast, reference):
        report = check_function(module.forward, module.backward, case.args, kwargs=case.kwargs, names=case.names)
        assert report.ok, str(report)
        assert set(report.errors) == {"x", "h0", "W_ih", "b_ih", "W_out"}


def test_gradient_of_h0_without_a_bias_and_without_upstream_output():
    rng = seeded_rng("min-h0")
    case = min_case("min_gru", rng, bias=False, dout="final")
    (_, h_n), cache = min_gru.forward(*case.args, **case.kwargs)
    g = min_gru.backward(case.dout, cache)
    assert g.db_ih is None and g.dh0.shape == h_n.shape == (3, 5)
    assert np.all(g.dh0 != 0)


# ------------------------------------------------------------------------------------------ the scan itself
@pytest.mark.parametrize("reverse,lengths", list(itertools.product([False, True], repeat=2)))
def test_scan_twins_modes_and_finite_differences(reverse, lengths):
    rng = seeded_rng("scan", reverse, lengths)
    T, B, H = 7, 3, 4
    log_a = -rng.uniform(0.05, 2.0, (T, B, H))
    log_b = 0.5 * rng.standard_normal((T, B, H)) - 1.0  # values of order 1/2: finite differences stay precise
    h0 = rng.standard_normal((B, H))
    lens = draw_lengths(rng, T, B) if lengths else None
    dout = (rng.standard_normal((T, B, H)), rng.standard_normal((B, H)))
    (y_f, hn_f), c_f = scan.forward(log_a, log_b, h0, reverse=reverse, lengths=lens)
    (y_r, hn_r), c_r = ref.scan.forward(log_a, log_b, h0, reverse=reverse, lengths=lens)
    (y_s, hn_s), c_s = scan.sequential_forward(np.exp(log_a), np.exp(log_b), h0, reverse=reverse, lengths=lens)
    (y_q, hn_q), c_q = ref.scan.sequential_forward(np.exp(log_a), np.exp(log_b), h0, reverse=reverse, lengths=lens)
    for name, arrays in {"y": (y_f, y_r, y_s, y_q), "h_n": (hn_f, hn_r, hn_s, hn_q)}.items():
        assert_close(arrays[0], arrays[1], TWIN, name=f"scan {name}")
        assert_close(arrays[2], arrays[3], TWIN, name=f"sequential scan {name}")
        assert_close(arrays[0], arrays[2], MODES_AGREE, name=f"scan modes {name}")
    g_f, g_r = scan.backward(dout, c_f), ref.scan.backward(dout, c_r)
    g_s, g_q = scan.sequential_backward(dout, c_s), ref.scan.sequential_backward(dout, c_q)
    for n, f, r in zip(g_f._fields, g_f, g_r):
        assert_close(f, r, TWIN, name=f"scan {n}")
    for n, s, q in zip(g_s._fields, g_s, g_q):
        assert_close(s, q, TWIN, name=f"sequential scan {n}")
    # the chain rule into the logarithms: d log a = da * a, d log b = db * b
    assert_close(g_f.dlog_a, g_s.da * np.exp(log_a), MODES_AGREE, name="dlog_a vs da * a")
    assert_close(g_f.dlog_b, g_s.db * np.exp(log_b), MODES_AGREE, name="dlog_b vs db * b")
    assert_close(g_f.dh0, g_s.dh0, MODES_AGREE, name="dh0")
    kw = {"reverse": reverse, "lengths": lens}
    for fwd, bwd, args in [(scan.forward, scan.backward, [log_a, log_b, h0]),
                           (ref.scan.forward, ref.scan.backward, [log_a, log_b, h0]),
                           (scan.sequential_forward, scan.sequential_backward, [np.exp(log_a), 0.5 * log_b, h0])]:
        report = check_function(fwd, bwd, args, kwargs=kw, names=("a", "b", "h0"))
        assert report.ok, str(report)


def test_scan_backward_is_the_reverse_recurrence():
    """G_t = delta_t + a_{t+1} G_{t+1} holds for the closed-form (log-space) backward, step by step."""
    rng = seeded_rng("scan-reverse")
    T, B, H = 9, 2, 3
    log_a = -rng.uniform(0.1, 1.0, (T, B, H))
    (y, _), cache = scan.forward(log_a, rng.standard_normal((T, B, H)), rng.standard_normal((B, H)))
    dy = rng.standard_normal((T, B, H))
    g = scan.backward((dy, None), cache)
    a = np.exp(log_a)
    G = g.dlog_b / cache.value  # dL/db_t = G_t
    for t in range(T - 1):
        np.testing.assert_allclose(G[t], dy[t] + a[t + 1] * G[t + 1], rtol=1e-12)
    np.testing.assert_allclose(G[-1], dy[-1], rtol=1e-12)
    np.testing.assert_allclose(g.dh0, a[0] * G[0], rtol=1e-12)


@pytest.mark.parametrize("cell", ["min_gru", "min_lstm"])
def test_long_sequences_neither_overflow_nor_lose_the_modes_agreement(cell):
    """T = 3000 with gates near 1 (a* reaches about -1e4): every exp stays bounded, parallel == sequential."""
    rng = seeded_rng("min-long", cell)
    case = min_case(cell, rng, T=3000, B=2, D=3, H=4, scale=3.0)
    case.args[3] = case.args[3] + np.r_[np.full(4, 4.0), np.zeros(len(case.args[3]) - 4)]  # z (minLSTM: f) large
    fast = CELLS[cell][0]
    with np.errstate(over="raise", invalid="raise"):
        out_p, grads_p, cache = run(fast, case)
    assert cache.scan.a_star.min() < -1000
    case.kwargs["mode"] = "sequential"
    out_s, grads_s, _ = run(fast, case)
    for name, p, s in zip(_names(case), out_p + grads_p, out_s + grads_s):
        assert np.all(np.isfinite(p)), name
        assert_close(p, s, 1e-9, name=f"{cell} T=3000 {name}")


def test_float32_runs_in_float32():
    rng = seeded_rng("min-f32")
    case = min_case("min_lstm", rng)
    case.args = [None if a is None else a.astype(np.float32) for a in case.args]
    case.dout = tuple(d.astype(np.float32) for d in case.dout)
    for mode in MODES:
        case.kwargs["mode"] = mode
        out, grads, _ = run(min_lstm, case)
        assert all(a.dtype == np.float32 for a in out + grads if a is not None)


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match="mode must be 'parallel' or 'sequential', got 'fast'"):
        min_gru.forward(np.zeros((1, 1, 1)), np.zeros((1, 1)), np.zeros((2, 1)), mode="fast")
    with pytest.raises(ValueError, match="mode must be 'parallel' or 'sequential', got 'fast'"):
        ref.min_gru.forward(np.zeros((1, 1, 1)), np.zeros((1, 1)), np.zeros((2, 1)), mode="fast")


def test_g_and_its_derivatives():
    a = np.array([-30.0, -2.0, -1e-9, 0.0, 1e-9, 0.7, 40.0])
    sig = 1 / (1 + np.exp(-a))
    want_g = np.where(a >= 0, a + 0.5, sig)
    for module in (min_rnn, ref.common):
        np.testing.assert_allclose(module.g(a), want_g, rtol=1e-14)
        np.testing.assert_allclose(module.log_g(a), np.log(want_g), rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(module.g_prime(a), np.where(a >= 0, 1.0, sig * (1 - sig)), rtol=1e-14)
        np.testing.assert_allclose(module.log_g_prime(a), np.where(a >= 0, 1 / (a + 0.5), 1 - sig), rtol=1e-14)
    assert np.all(min_rnn.g(a) > 0) and min_rnn.g(np.array([0.0]))[0] == 0.5  # continuous at 0


# ------------------------------------------------------------------------------------------ the textbook source
def _assigned(func) -> list[str]:
    tree = ast.parse(inspect.getsource(func).lstrip())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                elts = t.elts if isinstance(t, ast.Tuple) else [t]
                names += [e.id for e in elts if isinstance(e, ast.Name)]
    return names


@pytest.mark.parametrize("func,wanted", [
    (ref.scan.step_backward, ["dh", "da", "db", "dh_next"]),
    (ref.min_gru.step_forward, ["k", "z", "h_tilde", "a", "b", "h", "y"]),
    (ref.min_gru.step_backward, ["dh", "da", "db", "dh_next", "dz", "dh_tilde", "dk_z", "dk_h", "dk", "dx"]),
    (ref.min_lstm.step_forward, ["k", "f", "i", "h_tilde", "s", "f_prime", "i_prime", "a", "b", "h", "y"]),
    (ref.min_lstm.step_backward, ["dh", "da", "db", "dh_next", "df_prime", "di_prime", "dh_tilde", "df", "di",
                                  "dk_f", "dk_i", "dk_h", "dk", "dx"]),
])
def test_textbook_steps_assign_the_papers_quantities_once_in_order(func, wanted):
    order = _assigned(func)
    for name in wanted:
        assert order.count(name) == 1, f"{func.__qualname__}: {name} assigned {order.count(name)} times"
    assert [order.index(n) for n in wanted] == sorted(order.index(n) for n in wanted), order


@pytest.mark.parametrize("module", [ref.min_gru, ref.min_lstm, ref.scan])
def test_textbook_modules_use_no_fast_tier_devices_and_name_every_field(module):
    tree = ast.parse(inspect.getsource(module))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.AugAssign), f"{module.__name__}:{node.lineno}: in-place update"
        if isinstance(node, ast.keyword):
            assert node.arg != "out", f"{module.__name__}:{node.lineno}: out= buffer"
        if isinstance(node, ast.ImportFrom) and node.level == 2:
            assert all(a.name.endswith("Grads") for a in node.names), node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            assert node.module in (None, "common", "min_rnn"), node.module  # min_rnn: the shared loop
    fields_bw = set(_assigned(module.step_backward)) | set(inspect.signature(module.step_backward).parameters)
    fields_fw = set(_assigned(module.step_forward)) | set(inspect.signature(module.step_forward).parameters)
    assert set(module.StepGrads._fields) <= fields_bw, set(module.StepGrads._fields) - fields_bw
    assert set(module.StepCache._fields) <= fields_fw, set(module.StepCache._fields) - fields_fw


@pytest.mark.parametrize("cell", ["min_gru", "min_lstm"])
def test_record_protocol(cell):
    rng = seeded_rng("min-record", cell)
    reference = CELLS[cell][1]
    for mode in MODES:
        case = min_case(cell, rng, mode=mode, lengths=True)
        seen: list = []
        (y, _), cache = reference.forward(*case.args, **case.kwargs, record=seen.append)
        reference.backward(case.dout, cache, record=lambda c, steps, seen=seen: seen.append(steps))
        assert seen[0] is cache and len(seen[1]) == len(cache.steps) == y.shape[0]
        assert isinstance(seen[1][0], reference.StepGrads) and isinstance(cache.steps[0], reference.StepCache)
        T = y.shape[0]
        np.testing.assert_allclose(np.stack([s.y for s in cache.steps]) * cache.mask, y, rtol=0, atol=0)
        assert np.stack([s.dk for s in seen[1]])[~np.broadcast_to(cache.mask, (T, *seen[1][0].dk.shape))].max(
            initial=0) == 0
