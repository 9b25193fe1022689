"""Attention without PyTorch: functional ops against finite differences, masking, parameter names,
step-by-step equals whole sequence, gradient accumulation, clear errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import check_function, nn
from bptt.functional import attention as FA
from bptt.nn.attention import (
    AttentionWrapper,
    AttentionWrapperState,
    BahdanauAttention,
    LuongAttention,
)
from cases.attention import LENGTHS, B, S, make_wrapper
from helpers import seeded_rng


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
