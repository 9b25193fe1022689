"""``LuongAttention``, ``BahdanauAttention`` and ``AttentionWrapper`` against an independent torch-autograd
implementation (``torch_seq2seq_reference``), float64, random non-zero parameters, memories masked with mixed
lengths; forward and every gradient to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_seq2seq_reference as ref
from bptt import nn
from bptt.nn.attention import (
    AttentionWrapperState,
)
from cases.attention import LENGTHS, MECHS, B, S, make_mech, make_wrapper
from helpers import assert_close, distinct_uniform, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch

RTOL = 1e-9


def randomize(module: nn.Module, rng: np.random.Generator) -> None:
    """Every parameter random, non-zero and distinct (gains, biases and scales included)."""
    for _, p in module.named_parameters():
        p.data[...] = distinct_uniform(rng, p.shape)


def leaves(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {prefix + n: t64(p.data) for n, p in module.named_parameters()}


def kind(name: str) -> str:
    return "luong" if MECHS[name]["cls"] == "luong" else "bahdanau"


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
