"""Attention: functional ops against finite differences; ``LuongAttention``, ``BahdanauAttention`` and
``AttentionWrapper`` against an independent torch-autograd implementation (``seq2seq_reference``), float64,
random non-zero parameters, memories masked with mixed lengths; forward and every gradient to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import seq2seq_reference as ref
from bptt import check_function, nn
from bptt.functional import attention as FA
from bptt.nn.attention import (
    AttentionWrapper,
    AttentionWrapperState,
    BahdanauAttention,
    LuongAttention,
)
from conftest import assert_close, distinct_uniform, seeded_rng, t64

RTOL = 1e-9
LENGTHS = np.array([6, 2, 5, 1])  # B = 4, S = 6: full, short, middle, single
B, S = 4, 6

MECHS = {
    "luong": dict(cls="luong", score="general", scale=False),
    "dot": dict(cls="luong", score="dot", scale=False),
    "scaled_luong": dict(cls="luong", score="general", scale=True),
    "bahdanau": dict(cls="bahdanau", normalize=False),
    "normed_bahdanau": dict(cls="bahdanau", normalize=True),
}


def randomize(module: nn.Module, rng: np.random.Generator) -> None:
    """Every parameter random, non-zero and distinct (gains, biases and scales included)."""
    for _, p in module.named_parameters():
        p.data[...] = distinct_uniform(rng, p.shape)


def leaves(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {prefix + n: t64(p.data) for n, p in module.named_parameters()}


def make_mech(name: str, U: int, Dm: int, Hq: int, rng):
    spec = MECHS[name]
    if spec["cls"] == "luong":
        return LuongAttention(U, Dm, score=spec["score"], scale=spec["scale"], dtype=np.float64, rng=rng)
    return BahdanauAttention(U, Dm, Hq, normalize=spec["normalize"], dtype=np.float64, rng=rng)


def kind(name: str) -> str:
    return "luong" if MECHS[name]["cls"] == "luong" else "bahdanau"


# ----------------------------------------------------------------------------------------- finite differences
def test_functional_ops_match_finite_differences():
    r = np.random.default_rng(0)
    D, U, Hq = 5, 4, 3
    q, m = r.standard_normal((B, U)), r.standard_normal((B, S, D))
    W_m, g = r.standard_normal((U, D)), np.array(0.7)
    check_function(FA.luong_forward, FA.luong_backward, [q, m, LENGTHS, W_m, g],
                   names=["query", "memory", "lengths", "W_m", "g"])
    check_function(FA.luong_forward, FA.luong_backward, [r.standard_normal((B, D)), m, LENGTHS, None, None],
                   names=["query", "memory", "lengths", "W_m", "g"])  # dot
    q2, W_q = r.standard_normal((B, Hq)), r.standard_normal((U, Hq))
    v, b = r.standard_normal(U), r.standard_normal(U)
    names = ["query", "memory", "lengths", "W_m", "W_q", "v", "g", "b"]
    for extra in ([None, None], [g, b]):  # plain, normed
        check_function(FA.bahdanau_forward, FA.bahdanau_backward, [q2, m, LENGTHS, W_m, W_q, v, *extra],
                       names=names)
    for use_tanh in (False, True):
        check_function(FA.attention_layer_forward, FA.attention_layer_backward,
                       [q2, r.standard_normal((B, D)), r.standard_normal((7, Hq + D))],
                       kwargs={"use_tanh": use_tanh})
    mask = FA.memory_mask(LENGTHS, B, S)
    check_function(FA.masked_softmax_forward, FA.masked_softmax_backward, [r.standard_normal((B, S))],
                   kwargs={"mask": mask})
    check_function(FA.context_forward, FA.context_backward, [r.dirichlet(np.ones(S), B), m])


def test_masked_positions_have_probability_exactly_zero_and_no_gradient():
    r = np.random.default_rng(1)
    mech = LuongAttention(4, 4, dtype=np.float64, rng=0)
    memory = r.standard_normal((B, S, 4)) * 50  # large scores: the max could sit in the padding
    memory[:, :, :] += 100 * (np.arange(S)[None, :, None] >= LENGTHS[:, None, None])
    ctx, a = mech(r.standard_normal((B, 4)), memory, LENGTHS)
    pad = np.arange(S)[None, :] >= LENGTHS[:, None]
    assert np.all(a[pad] == 0.0) and np.allclose(a.sum(1), 1.0)
    assert a[3, 0] == 1.0  # a single position gets everything
    _, dmemory = mech.backward(r.standard_normal(ctx.shape), r.standard_normal(a.shape))
    assert np.all(dmemory[pad] == 0.0)


# ---------------------------------------------------------------------------------------------- mechanisms
@pytest.mark.parametrize("name", list(MECHS))
def test_mechanism_matches_torch(name):
    rng = seeded_rng("mech", name)
    U, Dm, Hq = 5, (5 if name == "dot" else 7), 5 if MECHS[name]["cls"] == "luong" else 3
    mech = make_mech(name, U, Dm, Hq, rng)
    randomize(mech, rng)
    query = distinct_uniform(rng, (B, Hq))
    memory = distinct_uniform(rng, (B, S, Dm))
    ctx, a = mech(query, memory, LENGTHS)
    dctx, da = rng.standard_normal(ctx.shape), rng.standard_normal(a.shape)
    mech.zero_grad()
    dq, dm = mech.backward(dctx, da)

    P = leaves(mech)
    tq, tm = t64(query), t64(memory)
    tctx, ta = ref.mechanism(kind(name), tq, tm, torch.tensor(LENGTHS), P)
    ((tctx * t64(dctx, False)).sum() + (ta * t64(da, False)).sum()).backward()
    assert_close(ctx, tctx, RTOL, "context")
    assert_close(a, ta, RTOL, "alignments")
    assert_close(dq, tq.grad, RTOL, "dquery")
    assert_close(dm, tm.grad, RTOL, "dmemory")
    for n, p in mech.named_parameters():
        assert_close(p.grad, P[n].grad, RTOL, n)


def test_mechanism_parameter_names_and_init():
    lu = LuongAttention(8, 6, scale=True, rng=0)
    assert [n for n, _ in lu.named_parameters()] == ["attention_g", "memory_layer.weight"]
    assert lu.attention_g.data.shape == (1,) and lu.attention_g.data[0] == 1.0  # a scalar, stored as (1,)
    ba = BahdanauAttention(8, 6, 4, normalize=True, rng=0)
    assert [n for n, _ in ba.named_parameters()] == [
        "attention_v", "attention_g", "attention_b", "query_layer.weight", "memory_layer.weight"]
    assert np.isclose(ba.attention_g.data, np.sqrt(1 / 8)) and not ba.attention_b.data.any()
    assert np.abs(ba.attention_v.data).max() <= np.sqrt(3 / 8)
    assert [n for n, _ in LuongAttention(6, 6, score="dot").named_parameters()] == []


# ---------------------------------------------------------------------------------------------- the wrapper
def make_wrapper(cell: str, mech: str, L: int, E: int, H: int, Dm: int, rng, *, layer=True, tanh=False,
                 output_attention=True):
    A = H if layer else Dm
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "lnlstm": nn.LayerNormLSTM}[cell]
    cell_mod = cls(E + A, H, L, dtype=np.float64, rng=rng)
    m = make_mech(mech, H, Dm, H, rng)
    return AttentionWrapper(cell_mod, m, H if layer else None, attention_tanh=tanh,
                            output_attention=output_attention, rng=rng)


WRAPPER_CASES = [
    # cell, mechanism, layers, T, attention layer, tanh, output_attention
    ("lstm", "luong", 2, 1, True, False, True),  # the wrapper step
    ("lstm", "luong", 2, 4, True, False, True),
    ("lstm", "scaled_luong", 1, 3, True, True, True),
    ("lstm", "bahdanau", 2, 3, True, False, False),
    ("lstm", "normed_bahdanau", 1, 3, False, False, True),
    ("lstm", "dot", 1, 3, True, True, True),
    ("gru", "luong", 2, 3, True, False, True),
    ("gru", "normed_bahdanau", 1, 1, True, True, True),
    ("lnlstm", "bahdanau", 2, 3, True, False, True),
    ("lnlstm", "scaled_luong", 1, 2, True, True, True),
]


@pytest.mark.parametrize("case", WRAPPER_CASES, ids=lambda c: "-".join(map(str, c)))
def test_wrapper_matches_torch(case):
    cell, mech, L, T, layer, tanh, out_att = case
    rng = seeded_rng("wrapper", case)
    E, H = 3, 4
    Dm = H if mech == "dot" else 5
    dec = make_wrapper(cell, mech, L, E, H, Dm, rng, layer=layer, tanh=tanh, output_attention=out_att)
    randomize(dec, rng)
    A = dec.attention_size
    inputs = distinct_uniform(rng, (T, B, E))
    memory = distinct_uniform(rng, (B, S, Dm))
    h0 = distinct_uniform(rng, (L, B, H))
    c0 = distinct_uniform(rng, (L, B, H))
    att0 = distinct_uniform(rng, (B, A))
    cs0 = (h0, c0) if cell != "gru" else h0
    outs, final, hist = dec(inputs, memory, LENGTHS, AttentionWrapperState(cs0, att0))
    douts = rng.standard_normal(outs.shape)
    dh, dc, datt = (rng.standard_normal(s.shape) for s in (h0, c0, att0))
    dfinal = AttentionWrapperState((dh, dc) if cell != "gru" else dh, datt)
    dec.zero_grad()
    dinputs, dmemory, dinit = dec.backward(douts, dfinal)

    P = leaves(dec)
    ti, tm, th, tc, ta = (t64(a) for a in (inputs, memory, h0, c0, att0))
    touts, th_n, tc_n, tatt, thist = ref.wrapper(
        cell, kind(mech), ti, tm, torch.tensor(LENGTHS), P, "", L, th, tc if cell != "gru" else None, ta,
        attention_layer=layer, attention_tanh=tanh, output_attention=out_att)
    loss = (touts * t64(douts, False)).sum() + (th_n * t64(dh, False)).sum() + (tatt * t64(datt, False)).sum()
    if cell != "gru":
        loss = loss + (tc_n * t64(dc, False)).sum()
    loss.backward()
    assert_close(outs, touts, RTOL, "outputs")
    assert_close(hist, thist, RTOL, "alignment_history")
    assert_close(final.attention, tatt, RTOL, "final attention")
    assert_close(final.alignments, thist[-1], RTOL, "final alignments")
    if cell != "gru":
        assert_close(final.cell_state[0], th_n, RTOL, "h_n")
        assert_close(final.cell_state[1], tc_n, RTOL, "c_n")
        assert_close(dinit.cell_state[1], tc.grad, RTOL, "dc0")
        assert_close(dinit.cell_state[0], th.grad, RTOL, "dh0")
    else:
        assert_close(final.cell_state, th_n, RTOL, "h_n")
        assert_close(dinit.cell_state, th.grad, RTOL, "dh0")
    assert_close(dinit.attention, ta.grad, RTOL, "dattention0")
    assert_close(dinputs, ti.grad, RTOL, "dinputs")
    assert_close(dmemory, tm.grad, RTOL, "dmemory")
    for n, p in dec.named_parameters():
        assert_close(p.grad, P[n].grad, RTOL, n)


def test_wrapper_step_by_step_equals_the_whole_sequence_and_zero_state():
    rng = seeded_rng("steps")
    dec = make_wrapper("lstm", "bahdanau", 2, 3, 4, 5, rng)
    inputs = rng.standard_normal((5, B, 3))
    memory = rng.standard_normal((B, S, 5))
    outs, final, hist = dec(inputs, memory, LENGTHS)  # zero initial state (TF's zero_state)
    mem = dec.prepare(memory, LENGTHS)
    state = dec.zero_state(B)
    with nn.no_grad():
        for t in range(5):
            out, state = dec.step(inputs[t], state, mem)
            np.testing.assert_array_equal(out, outs[t])
            np.testing.assert_array_equal(state.alignments, hist[t])
    np.testing.assert_array_equal(state.cell_state[0], final.cell_state[0])
    # beam-search tiling: repeated memory gives repeated results
    rep = mem.repeat(3)
    st3 = AttentionWrapperState(tuple(np.repeat(s, 3, axis=1) for s in dec.zero_state(B).cell_state),
                                np.zeros((3 * B, 4)))
    out3, _ = dec.step(np.repeat(inputs[0], 3, axis=0), st3, rep)
    for j in range(3):
        np.testing.assert_allclose(out3[j::3], outs[0], rtol=1e-12, atol=1e-12)
    dec.clear_caches()


def test_wrapper_gradients_accumulate_and_caches_are_lifo():
    rng = seeded_rng("lifo")
    dec = make_wrapper("gru", "luong", 1, 2, 3, 4, rng)
    x1, x2 = rng.standard_normal((2, 2, 2)), rng.standard_normal((3, 2, 2))
    m = rng.standard_normal((2, 4, 4))
    o1, _, _ = dec(x1, m, [4, 2])
    o2, _, _ = dec(x2, m, [3, 4])
    g2 = dec.backward(np.ones_like(o2))[0]
    g1 = dec.backward(np.ones_like(o1))[0]
    assert g2.shape == x2.shape and g1.shape == x1.shape
    with pytest.raises(RuntimeError, match="no forward pass"):
        dec.backward(np.ones_like(o1))


# ---------------------------------------------------------------------------------------------- bad input
def test_clear_errors():
    mech = LuongAttention(4, 5, dtype=np.float64, rng=0)
    q, m = np.zeros((2, 4)), np.zeros((2, 3, 5))
    with pytest.raises(ValueError, match=r"memory must have shape \(B, S, 5\)"):
        mech(q, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"memory_lengths must be in \[1, 3\]"):
        mech(q, m, [0, 3])
    with pytest.raises(ValueError, match=r"memory_lengths must have shape \(2,\)"):
        mech(q, m, [1, 2, 3])
    with pytest.raises(TypeError, match="memory_lengths must be an integer array"):
        mech(q, m, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"query must have shape \(2, 4\)"):
        mech(np.zeros((2, 3)), m)
    with pytest.raises(TypeError, match="dtype float64"):
        mech(q.astype(np.float32), m)
    with pytest.raises(ValueError, match="score='dot' needs memory_size == num_units"):
        LuongAttention(4, 5, score="dot")
    with pytest.raises(ValueError, match="unidirectional"):
        AttentionWrapper(nn.LSTM(9, 4, bidirectional=True), LuongAttention(4, 5), 4)
    with pytest.raises(ValueError, match="input feeding"):
        AttentionWrapper(nn.LSTM(4, 4), LuongAttention(4, 5), 4)
    with pytest.raises(ValueError, match="query size"):
        AttentionWrapper(nn.LSTM(9, 4), BahdanauAttention(4, 5, 3), 4)
    dec = AttentionWrapper(nn.LSTM(6, 4, dtype=np.float64), LuongAttention(4, 5, dtype=np.float64), 4)
    with pytest.raises(ValueError, match=r"inputs must have shape \(T, B, 2\)"):
        dec(np.zeros((3, 2, 3)), m)
    with pytest.raises(ValueError, match="memory has batch size 2, inputs have 3"):
        dec(np.zeros((3, 3, 2)), m)
    with pytest.raises(ValueError, match=r"cell_state h must have shape \(1, 2, 4\)"):
        bad = AttentionWrapperState((np.zeros((2, 2, 4)), np.zeros((1, 2, 4))), None)
        dec(np.zeros((3, 2, 2)), m, None, bad)
