"""The textbook tier against PyTorch autograd in float64 (<= 1e-10): outputs and every gradient.

The references on the torch side are independent of bptt: ``torch.nn.LSTM`` (with ``proj_size``),
``torch.nn.GRU`` and ``torch.nn.RNN`` run on packed sequences (``pack_padded_sequence`` with unsorted
lengths); the reverse direction runs them on each sequence reversed within its own length. The layer-norm
LSTM is TensorFlow's ``LayerNormBasicLSTMCell`` written in torch one step and one sequence at a time, and the
cross-entropy is ``torch.nn.functional.cross_entropy``. The loss is ``sum_j <upstream_j, out_j>``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cases.reference import TWINS, Case, cross_entropy_case, recurrent_case, run
from helpers import assert_close, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch

RTOL = 1e-10


# ------------------------------------------------------------------------------------------ torch side
def _reverse_index(lengths: list[int], T: int, D: int) -> torch.Tensor:
    """Gather index ``(T, B, D)`` reversing each sequence within its own length (padding stays put)."""
    idx = np.tile(np.arange(T)[:, None], (1, len(lengths)))
    for b, L in enumerate(lengths):
        idx[:L, b] = np.arange(L)[::-1]
    return torch.from_numpy(idx)[:, :, None].expand(T, len(lengths), D)


def torch_recurrent(case: Case) -> tuple[list, list]:
    """``(outputs, gradients)`` of torch's own LSTM/GRU/RNN for ``case``, gradients in the op's order
    (``None`` where the op returns ``None``)."""
    op, args, kw = case.op, dict(zip(case.names, case.args)), case.kwargs
    x = args["x"]
    T, B, D = x.shape
    H = args["W_hh"].shape[0] // {"lstm": 4, "gru": 3, "rnn": 1}[op]
    P = args["h0"].shape[1]
    bias = args["b_ih"] is not None
    forget_bias = kw.get("forget_bias", 0.0)
    torch_bias = bias or bool(forget_bias)
    common = dict(bias=torch_bias, dtype=torch.float64)
    if op == "lstm":
        mod = torch.nn.LSTM(D, H, proj_size=P if "W_hr" in args else 0, **common)
    elif op == "gru":
        mod = torch.nn.GRU(D, H, **common)
    else:
        mod = torch.nn.RNN(D, H, nonlinearity=kw["nonlinearity"], **common)
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.from_numpy(args["W_ih"]))
        mod.weight_hh_l0.copy_(torch.from_numpy(args["W_hh"]))
        if torch_bias:
            shift = np.zeros(mod.bias_ih_l0.shape)
            if op == "lstm":
                shift[H : 2 * H] = forget_bias  # a constant shift: the bias gradients are unchanged
            mod.bias_ih_l0.copy_(torch.from_numpy((args["b_ih"] if bias else 0.0) + shift))
            mod.bias_hh_l0.copy_(torch.from_numpy(args["b_hh"] if bias else np.zeros_like(shift)))
        if "W_hr" in args:
            mod.weight_hr_l0.copy_(torch.from_numpy(args["W_hr"]))
    lengths = [T] * B if kw["lengths"] is None else [int(v) for v in kw["lengths"]]
    xt, h0 = t64(x), t64(args["h0"])
    inp = xt.gather(0, _reverse_index(lengths, T, D)) if kw["reverse"] else xt
    packed = pack_padded_sequence(inp, torch.tensor(lengths), enforce_sorted=False)
    if op == "lstm":
        c0 = t64(args["c0"])
        out, (h_n, c_n) = mod(packed, (h0[None], c0[None]))
        finals = [h_n[0], c_n[0]]
    else:
        out, h_n = mod(packed, h0[None])
        finals = [h_n[0]]
    y = pad_packed_sequence(out, total_length=T)[0]
    if kw["reverse"]:
        y = y.gather(0, _reverse_index(lengths, T, y.shape[2]))
    outs = [y] + finals
    loss = sum((o * t64(u, False)).sum() for o, u in zip(outs, case.dout) if u is not None)
    loss.backward()
    grads = [xt.grad, h0.grad] + ([c0.grad] if op == "lstm" else [])
    grads += [mod.weight_ih_l0.grad, mod.weight_hh_l0.grad]
    grads += [mod.bias_ih_l0.grad, mod.bias_hh_l0.grad] if bias else [None, None]
    if "W_hr" in args:
        grads.append(mod.weight_hr_l0.grad)
    return outs, grads


def _ln(v: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    mean = v.mean(dim=-1, keepdim=True)
    var = ((v - mean) ** 2).mean(dim=-1, keepdim=True)
    return (v - mean) / torch.sqrt(var + 1e-12) * gamma + beta


def torch_ln_lstm(case: Case) -> tuple[list, list]:
    """TensorFlow's LayerNormBasicLSTMCell in torch, one sequence at a time over its own length."""
    x, h0, c0, kernel, bias, gamma, beta = case.args
    kw = case.kwargs
    T, B, _ = x.shape
    H = h0.shape[1]
    xt, h0t, c0t, Kt = t64(x), t64(h0), t64(c0), t64(kernel)
    bt = None if bias is None else t64(bias)
    gt = None if gamma is None else t64(gamma)
    et = None if beta is None else t64(beta)
    lengths = [T] * B if kw["lengths"] is None else [int(v) for v in kw["lengths"]]
    ys, hs, cs = [], [], []
    for b in range(B):
        L = lengths[b]
        h, c = h0t[b : b + 1], c0t[b : b + 1]
        out = [None] * L
        for t in (range(L - 1, -1, -1) if kw["reverse"] else range(L)):
            a = torch.cat([xt[t, b : b + 1], h], dim=1) @ Kt
            if bt is not None:
                a = a + bt
            i, j, f, o = torch.chunk(a, 4, dim=1)
            if gt is not None:
                i, j, f, o = (_ln(v, gt[k], et[k]) for k, v in enumerate((i, j, f, o)))
            g = torch.tanh(j)
            if kw["g_mask"] is not None:
                g = g * torch.from_numpy(kw["g_mask"][t, b : b + 1])
            c = c * torch.sigmoid(f + kw["forget_bias"]) + torch.sigmoid(i) * g
            if gt is not None:
                c = _ln(c, gt[4], et[4])
            h = torch.tanh(c) * torch.sigmoid(o)
            out[t] = h
        ys.append(torch.cat(out + [torch.zeros((T - L, H), dtype=torch.float64)], dim=0))
        hs.append(h[0])
        cs.append(c[0])
    outs = [torch.stack(ys, dim=1), torch.stack(hs), torch.stack(cs)]
    loss = sum((o * t64(u, False)).sum() for o, u in zip(outs, case.dout) if u is not None)
    loss.backward()
    return outs, [xt.grad, h0t.grad, c0t.grad, Kt.grad] + [None if v is None else v.grad for v in (bt, gt, et)]


def torch_peephole_lstm(case: Case) -> tuple[list, list]:
    """An LSTM with peepholes (TensorFlow 1's ``LSTMCell(use_peepholes=True)``: i and f see ``c_{t-1}``, o sees
    ``c_t``; optional projection) written in torch one step at a time; padded rows keep their state and
    output zeros, the reverse direction walks ``T-1 .. 0``."""
    args, kw = dict(zip(case.names, case.args)), case.kwargs
    x, h0, c0 = t64(args["x"]), t64(args["h0"]), t64(args["c0"])
    W_ih, W_hh, P = t64(args["W_ih"]), t64(args["W_hh"]), t64(args["W_peep"])
    b_ih = None if args["b_ih"] is None else t64(args["b_ih"])
    b_hh = None if args["b_hh"] is None else t64(args["b_hh"])
    W_hr = None if args["W_hr"] is None else t64(args["W_hr"])
    T, B, _ = x.shape
    p_i, p_f, p_o = torch.chunk(P, 3)
    lengths = torch.tensor([T] * B if kw["lengths"] is None else [int(v) for v in kw["lengths"]])
    h, c, ys = h0, c0, [None] * T
    for t in (range(T - 1, -1, -1) if kw["reverse"] else range(T)):
        a = x[t] @ W_ih.T + h @ W_hh.T
        if b_ih is not None:
            a = a + b_ih + b_hh
        a_i, a_f, a_g, a_o = torch.chunk(a, 4, dim=1)
        c_new = torch.sigmoid(a_f + kw["forget_bias"] + p_f * c) * c + torch.sigmoid(a_i + p_i * c) * torch.tanh(a_g)
        h_new = torch.sigmoid(a_o + p_o * c_new) * torch.tanh(c_new)
        if W_hr is not None:
            h_new = h_new @ W_hr.T
        m = (t < lengths)[:, None]
        h, c = torch.where(m, h_new, h), torch.where(m, c_new, c)
        ys[t] = torch.where(m, h_new, torch.zeros_like(h_new))
    outs = [torch.stack(ys), h, c]
    loss = sum((o * t64(u, False)).sum() for o, u in zip(outs, case.dout) if u is not None)
    loss.backward()
    grads = [x.grad, h0.grad, c0.grad, W_ih.grad, W_hh.grad]
    grads += [None, None] if b_ih is None else [b_ih.grad, b_hh.grad]
    return outs, grads + [None if W_hr is None else W_hr.grad, P.grad]


def assert_reference_matches(case: Case, torch_outs: list, torch_grads: list) -> None:
    reference = TWINS[case.op][1]
    outs, grads, _ = run(reference, case)
    assert len(outs) == len(torch_outs) and len(grads) == len(torch_grads)
    for k, (o, r) in enumerate(zip(outs, torch_outs)):
        assert_close(o, r, RTOL, name=f"{case.op} output {k}")
    for name, g, r in zip(case.names, grads, torch_grads):
        assert_close(g, r, RTOL, name=f"{case.op} d{name}")


# ---------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("reverse,lengths,bias,proj_size,forget_bias",
                         list(itertools.product([False, True], [False, True], [False, True], [0, 3], [0.0, 0.7])))
def test_reference_lstm_matches_torch(reverse, lengths, bias, proj_size, forget_bias):
    rng = seeded_rng("ref-torch-lstm", reverse, lengths, bias, proj_size, forget_bias)
    case = recurrent_case("lstm", rng, bias=bias, reverse=reverse, lengths=lengths, proj_size=proj_size,
                          forget_bias=forget_bias)
    assert_reference_matches(case, *torch_recurrent(case))


@pytest.mark.parametrize("dout", ["all", "y", "final"])
@pytest.mark.parametrize("reverse,lengths,bias,proj_size",
                         list(itertools.product([False, True], [False, True], [False, True], [0, 3])))
def test_reference_peephole_lstm_matches_torch_autograd(reverse, lengths, bias, proj_size, dout):
    """Peepholes (non-zero, distinct), non-zero distinct biases and a forget bias, against torch autograd."""
    rng = seeded_rng("ref-torch-peep", reverse, lengths, bias, proj_size, dout)
    case = recurrent_case("lstm", rng, bias=bias, reverse=reverse, lengths=lengths, proj_size=proj_size,
                          peepholes=True, forget_bias=0.8, dout=dout)
    assert_reference_matches(case, *torch_peephole_lstm(case))


@pytest.mark.parametrize("nonlinearity", ["gru", "tanh", "relu"])
@pytest.mark.parametrize("reverse,lengths,bias", list(itertools.product([False, True], repeat=3)))
def test_reference_gru_rnn_match_torch(reverse, lengths, bias, nonlinearity):
    rng = seeded_rng("ref-torch", reverse, lengths, bias, nonlinearity)
    op = "gru" if nonlinearity == "gru" else "rnn"
    extra = {} if op == "gru" else {"nonlinearity": nonlinearity}
    case = recurrent_case(op, rng, bias=bias, reverse=reverse, lengths=lengths, dout="all", **extra)
    assert_reference_matches(case, *torch_recurrent(case))


@pytest.mark.parametrize("dout", ["y", "final"])
@pytest.mark.parametrize("op", ["lstm", "gru"])
def test_reference_partial_upstream_matches_torch(op, dout):
    """``None`` upstream gradients (only the outputs, or only the final states) mean zeros."""
    case = recurrent_case(op, seeded_rng("ref-torch-dout", op, dout), lengths=True, dout=dout)
    assert_reference_matches(case, *torch_recurrent(case))


@pytest.mark.parametrize("layer_norm,bias,g_mask,reverse,lengths",
                         list(itertools.product([False, True], repeat=5)))
def test_reference_ln_lstm_matches_torch(layer_norm, bias, g_mask, reverse, lengths):
    rng = seeded_rng("ref-torch-ln", layer_norm, bias, g_mask, reverse, lengths)
    case = recurrent_case("ln_lstm", rng, bias=bias, reverse=reverse, lengths=lengths, layer_norm=layer_norm,
                          g_mask=g_mask, forget_bias=0.6)
    assert_reference_matches(case, *torch_ln_lstm(case))


@pytest.mark.parametrize("ignored", ["none", "some", "all"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reference_cross_entropy_matches_torch(reduction, ignored):
    case = cross_entropy_case(seeded_rng("ref-torch-ce", reduction, ignored), reduction=reduction, ignored=ignored)
    x, y = case.args
    xt = t64(x)
    loss = TF.cross_entropy(xt, torch.from_numpy(y), ignore_index=-100, reduction=reduction)
    (loss * t64(case.dout, False)).sum().backward()
    reference = TWINS["cross_entropy"][1]
    (ours,), (dx,), _ = run(reference, case)
    assert_close(ours, loss, RTOL, name="loss")
    assert_close(dx, xt.grad, RTOL, name="dlogits")


@settings(max_examples=25, deadline=None)
@given(op=st.sampled_from(["lstm", "gru", "rnn"]), T=st.integers(1, 5), B=st.integers(1, 3),
       D=st.integers(1, 4), H=st.integers(1, 4), proj=st.integers(0, 3), seed=st.integers(0, 2**32 - 1),
       reverse=st.booleans(), lengths=st.booleans(), bias=st.booleans())
def test_reference_drawn_shapes_match_torch(op, T, B, D, H, proj, seed, reverse, lengths, bias):
    rng = np.random.default_rng(seed)
    extra = {"proj_size": proj if proj < H else 0} if op == "lstm" else {}
    case = recurrent_case(op, rng, T, B, D, H, bias=bias, reverse=reverse, lengths=lengths, **extra)
    assert_reference_matches(case, *torch_recurrent(case))
