"""The fast ops equal their textbook twins in float64: outputs and every gradient, every option (NumPy only).

``max|fast - reference| <= 1e-12 * max|reference|`` per array, for the outputs and for every gradient
(inputs, initial states, weights, biases, projection, layer-norm gains and shifts), over the product of the
options each op has, plus hypothesis-drawn shapes and options. The fast ops also run with a workspace (the
path :mod:`bptt.nn` takes), and the named intermediates the reference records are compared with the arrays
the fast op hands to a recorder.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bptt.functional.workspace import Workspace
from cases.reference import DOUTS, TWINS, Case, cross_entropy_case, recurrent_case, run
from helpers import assert_close, seeded_rng

RTOL = 1e-12


def assert_twins_equal(case: Case, *, need_dx: bool = True, ws: Workspace | None = None) -> None:
    fast, reference = TWINS[case.op]
    extra = {} if ws is None else {"ws": ws}
    out_f, grads_f, _ = run(fast, case, need_dx=need_dx, **extra)
    out_r, grads_r, _ = run(reference, case, need_dx=need_dx)
    assert len(out_r) == len(out_f), f"{case.op}: {len(out_r)} outputs, fast has {len(out_f)}"
    assert len(grads_r) == len(grads_f), f"{case.op}: {len(grads_r)} gradients, fast has {len(grads_f)}"
    assert type(grads_r) is type(grads_f), f"{case.op}: gradients are {type(grads_r)}, fast {type(grads_f)}"
    out_names = ["y", "h_n", "c_n"] if case.op != "cross_entropy" else ["loss"]
    grad_names = ["d" + n for n in case.names] if case.op != "cross_entropy" else ["dlogits"]
    for name, r, f in zip(out_names + grad_names, out_r + tuple(grads_r), out_f + tuple(grads_f)):
        if r is not None and f is not None:
            assert r.dtype == f.dtype, f"{case.op} {name}: dtype {r.dtype}, fast {f.dtype}"
        assert_close(r, f, RTOL, name=f"{case.op} {name}")
    if not need_dx:
        assert grads_r[0] is None


# ---------------------------------------------------------------------------------------- every option
LSTM_OPTIONS = list(itertools.product([False, True], [False, True], [False, True], [0, 3], [0.0, 0.7],
                                      [False, True]))


@pytest.mark.parametrize("dout", DOUTS)
@pytest.mark.parametrize("reverse,lengths,bias,proj_size,forget_bias,peepholes", LSTM_OPTIONS)
def test_lstm_equals_reference(reverse, lengths, bias, proj_size, forget_bias, peepholes, dout):
    rng = seeded_rng("lstm-twin", reverse, lengths, bias, proj_size, forget_bias, peepholes, dout)
    case = recurrent_case("lstm", rng, H=5, bias=bias, reverse=reverse, lengths=lengths, proj_size=proj_size,
                          forget_bias=forget_bias, peepholes=peepholes, dout=dout)
    assert_twins_equal(case)


@pytest.mark.parametrize("dout", DOUTS)
@pytest.mark.parametrize("reverse,lengths,bias", list(itertools.product([False, True], repeat=3)))
def test_gru_equals_reference(reverse, lengths, bias, dout):
    rng = seeded_rng("gru-twin", reverse, lengths, bias, dout)
    assert_twins_equal(recurrent_case("gru", rng, bias=bias, reverse=reverse, lengths=lengths, dout=dout))


@pytest.mark.parametrize("dout", DOUTS)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("reverse,lengths,bias", list(itertools.product([False, True], repeat=3)))
def test_rnn_equals_reference(reverse, lengths, bias, nonlinearity, dout):
    rng = seeded_rng("rnn-twin", reverse, lengths, bias, nonlinearity, dout)
    case = recurrent_case("rnn", rng, bias=bias, reverse=reverse, lengths=lengths, nonlinearity=nonlinearity,
                          dout=dout)
    assert_twins_equal(case)


LN_OPTIONS = list(itertools.product([False, True], [False, True], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("dout", DOUTS)
@pytest.mark.parametrize("layer_norm,bias,g_mask,reverse,lengths", LN_OPTIONS)
def test_ln_lstm_equals_reference(layer_norm, bias, g_mask, reverse, lengths, dout):
    rng = seeded_rng("ln-twin", layer_norm, bias, g_mask, reverse, lengths, dout)
    case = recurrent_case("ln_lstm", rng, bias=bias, reverse=reverse, lengths=lengths, layer_norm=layer_norm,
                          g_mask=g_mask, forget_bias=0.7 if bias else 1.0, dout=dout)
    assert_twins_equal(case)


@pytest.mark.parametrize("ignored", ["none", "some", "all"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_equals_reference(reduction, ignored):
    rng = seeded_rng("ce-twin", reduction, ignored)
    assert_twins_equal(cross_entropy_case(rng, reduction=reduction, ignored=ignored))


# ---------------------------------------------------------------------- need_dx, workspace, float32
@pytest.mark.parametrize("op", ["lstm", "gru", "rnn", "ln_lstm"])
def test_need_dx_false_and_workspace(op):
    """``need_dx=False`` gives ``dx = None`` and the same other gradients; the fast op with a (reused)
    workspace, as :mod:`bptt.nn` calls it, still equals the reference."""
    rng = seeded_rng("twin-ws", op)
    ws = Workspace()
    for k in range(3):  # the second and third calls get recycled buffers
        opts = {"lstm": {"proj_size": 3, "peepholes": k != 1}, "ln_lstm": {"layer_norm": True, "g_mask": True}}.get(
            op, {})
        case = recurrent_case(op, rng, lengths=k == 1, reverse=k == 2, **opts)
        assert_twins_equal(case, ws=ws)
        assert_twins_equal(case, need_dx=False, ws=ws)


@pytest.mark.parametrize("op", ["lstm", "gru", "rnn", "ln_lstm"])
def test_float32_results_have_the_fast_dtypes(op):
    """Same structure, shapes and dtypes in float32 (values agree to float32 precision)."""
    case = recurrent_case(op, seeded_rng("twin-f32", op), lengths=True)
    case.args = [None if a is None else a.astype(np.float32) for a in case.args]
    case.dout = tuple(None if d is None else d.astype(np.float32) for d in case.dout)
    fast, reference = TWINS[op]
    out_f, grads_f, _ = run(fast, case)
    out_r, grads_r, _ = run(reference, case)
    for f, r in zip(out_f + tuple(grads_f), out_r + tuple(grads_r)):
        assert (f is None) == (r is None)
        if f is not None:
            assert r.dtype == f.dtype == np.float32
            assert r.shape == f.shape
            assert_close(r.astype(np.float64), f.astype(np.float64), 1e-4)


# --------------------------------------------------------------------------------------- hypothesis
@st.composite
def recurrent_cases(draw: st.DrawFn) -> Case:
    op = draw(st.sampled_from(["lstm", "gru", "rnn", "ln_lstm"]))
    T, B = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    D, H = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    lengths = draw(st.one_of(st.none(), st.lists(st.integers(1, T), min_size=B, max_size=B)))
    opts = dict(bias=draw(st.booleans()), reverse=draw(st.booleans()), dout=draw(st.sampled_from(DOUTS)),
                lengths=None if lengths is None else np.array(lengths))
    if op == "lstm":
        opts["proj_size"] = draw(st.integers(0, 4))
        opts["peepholes"] = draw(st.booleans())
        opts["forget_bias"] = draw(st.sampled_from([0.0, 1.0]))
    elif op == "rnn":
        opts["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    elif op == "ln_lstm":
        opts.update(layer_norm=draw(st.booleans()), g_mask=draw(st.booleans()),
                    forget_bias=draw(st.sampled_from([0.0, 1.0])))
        if opts["layer_norm"] and H < 3:
            H = 3  # over 1 or 2 units, LN(v) = +-gamma + beta: its exact gradient is 0, the computed one noise
    return recurrent_case(op, rng, T, B, D, H, **opts)


@settings(max_examples=120, deadline=None)
@given(case=recurrent_cases(), need_dx=st.booleans())
def test_drawn_shapes_and_options_equal_reference(case, need_dx):
    assert_twins_equal(case, need_dx=need_dx)


# ---------------------------------------------------------------- named intermediates, step by step
def _stack(steps: list, name: str) -> np.ndarray:
    return np.stack([getattr(s, name) for s in steps])


def _recorded(module, case: Case) -> tuple:
    """The arrays a fast op hands to a recorder: ``(forward cache, backward dict)``."""
    got: dict = {}
    out, cache = module.forward(*case.args, **case.kwargs, record=lambda c: got.setdefault("fw", c))
    module.backward(case.dout, cache, record=lambda c, d: got.setdefault("bw", d))
    return got["fw"], got["bw"]


@pytest.mark.parametrize("peepholes", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_named_intermediates_equal_the_fast_arrays(reverse, peepholes):
    """Per step, the reference's gates and states and its dHt, dCt and gate gradients are the fast op's."""
    case = recurrent_case("lstm", seeded_rng("lstm-named", reverse, peepholes), reverse=reverse, forget_bias=0.5,
                          peepholes=peepholes)
    fast, reference = TWINS["lstm"]
    fw, bw = _recorded(fast, case)
    got: dict = {}
    _, cache = reference.forward(*case.args, **case.kwargs, record=lambda c: got.setdefault("fw", c))
    reference.backward(case.dout, cache, record=lambda c, s: got.setdefault("bw", (c, s)))
    assert got["fw"] is cache
    assert got["bw"][0] is cache and len(got["bw"][1]) == case.args[0].shape[0]
    steps, grads = cache.steps, got["bw"][1]
    for name, arr in fast.forward_intermediates(fw).items():
        assert_close(_stack(steps, name), arr, RTOL, name=f"forward {name}")
    assert_close(_stack(grads, "dh"), bw["DH"], RTOL, name="dh (dHt)")
    assert_close(_stack(grads, "dc"), bw["DC"], RTOL, name="dc (dCt)")
    assert_close(_stack(grads, "da"), bw["dA"], RTOL, name="da")
    H = case.args[2].shape[1]
    for k, name in enumerate(["da_i", "da_f", "da_g", "da_o"]):
        assert_close(_stack(grads, name), bw["dA"][:, :, k * H : (k + 1) * H], RTOL, name=name)


@pytest.mark.parametrize("op,pairs", [
    ("gru", [("dh", "DH"), ("dgh", "DGH"), ("dgx", "DGX")]),
    ("rnn", [("dh", "DH"), ("da", "dA")]),
    ("ln_lstm", [("dh", "DH"), ("dc", "DC"), ("da_hat", "dAhat"), ("da", "dA")]),
])
def test_gru_rnn_ln_named_intermediates_equal_the_fast_arrays(op, pairs):
    kw = {"layer_norm": True, "g_mask": True} if op == "ln_lstm" else {}
    case = recurrent_case(op, seeded_rng("named", op), **kw)
    fast, reference = TWINS[op]
    fw, bw = _recorded(fast, case)
    got: dict = {}
    _, cache = reference.forward(*case.args, **case.kwargs)
    reference.backward(case.dout, cache, record=lambda c, s: got.setdefault("steps", s))
    for name, arr in fast.forward_intermediates(fw).items():
        assert_close(_stack(cache.steps, name), arr, RTOL, name=f"{op} forward {name}")
    for ours, theirs in pairs:
        T, B = bw[theirs].shape[:2]
        assert_close(_stack(got["steps"], ours), bw[theirs].reshape(T, B, -1), RTOL, name=f"{op} {ours}")


def test_step_shares_sum_to_the_weight_gradients():
    """Each StepGrads holds one step's share of the weight gradients; over the steps they sum to them."""
    case = recurrent_case("lstm", seeded_rng("shares"), proj_size=2, peepholes=True, lengths=True)
    reference = TWINS["lstm"][1]
    got: dict = {}
    _, cache = reference.forward(*case.args, **case.kwargs)
    grads = reference.backward(case.dout, cache, record=lambda c, s: got.setdefault("steps", s))
    steps = got["steps"]
    for name, total in [("dW_ih", grads[3]), ("dW_hh", grads[4]), ("db", grads[5]), ("dW_hr", grads[7]),
                        ("dW_peep", grads[8])]:
        np.testing.assert_array_equal(sum((getattr(s, name) for s in steps), np.zeros_like(total)), total)
    mask = cache.mask
    for t, s in enumerate(steps):  # padded rows: the cell did not run, every gradient of the step is zero
        for name in ("dh", "do", "dc", "dg", "df", "di", "da", "dz", "dc_next"):
            assert not np.any(getattr(s, name)[~mask[t, :, 0]]), (t, name)
