"""Variable-length batches: ``lengths=`` against PyTorch's packed sequences, and padded == one-by-one.

The reference is ``pack_padded_sequence(x, lengths, enforce_sorted=False)`` -> ``torch.nn.{LSTM,GRU,RNN}`` ->
``pad_packed_sequence(..., total_length=T)``. Our call receives a random, non-zero upstream gradient at the
padded output positions too (it must be ignored); torch's padded outputs are constants, so the same
``dout`` can be handed to it. Every output, final state and gradient must agree to 1e-10, padded outputs
and padded input gradients must be exactly zero.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bptt.nn.utils import pad_sequence
from cases.lengths import MODES, ours_rnn, pad_mask, run_ours
from helpers import assert_close, distinct_uniform, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch


# ----------------------------------------------------------------------------------------- builders
def _torch_rnn(mode: str, D: int, H: int, num_layers: int, batch_first: bool, bidirectional: bool):
    kw = dict(num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional,
              dtype=torch.float64)
    if mode == "LSTM":
        return torch.nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return torch.nn.GRU(D, H, **kw)
    return torch.nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def _pair(mode, D, H, rng, num_layers, batch_first, bidirectional):
    """Ours and torch with identical random weights (non-zero, b_ih != b_hh everywhere)."""
    tmod = _torch_rnn(mode, D, H, num_layers, batch_first, bidirectional)
    with torch.no_grad():
        for p in tmod.parameters():
            p.copy_(torch.from_numpy(distinct_uniform(rng, tuple(p.shape), -0.8, 0.8)))
    tparams = dict(tmod.named_parameters())
    for name, p in tparams.items():
        if "bias_ih" in name:
            assert not torch.any(p == tparams[name.replace("bias_ih", "bias_hh")])
    ours = ours_rnn(mode, D, H, num_layers, batch_first, bidirectional)
    ours.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    return ours, tmod


def _lengths(rng: np.random.Generator, T: int, B: int, full: bool = True) -> np.ndarray:
    """Unsorted lengths in [1, T] containing 1 (and T when ``full``)."""
    top = T if full else T - 1
    vals = [top, 1] + list(rng.integers(1, top + 1, size=B - 2))
    return rng.permutation(np.array(vals[:B], dtype=np.int64))


# ----------------------------------------------------------------------------------------- torch parity
@pytest.mark.parametrize("with_hx", [False, True], ids=["zero_hx", "hx"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_lengths_match_torch_packed(mode, bidirectional, num_layers, batch_first, with_hx):
    rng = seeded_rng("lengths-packed", mode, bidirectional, num_layers, batch_first, with_hx)
    T, B, D, H = 6, 4, 3, 5
    lstm = mode == "LSTM"
    nd = 2 if bidirectional else 1
    n = num_layers * nd
    ours, tmod = _pair(mode, D, H, rng, num_layers, batch_first, bidirectional)
    lengths = _lengths(rng, T, B)
    xshape = (B, T, D) if batch_first else (T, B, D)
    pad = pad_mask(lengths, T, batch_first)
    x = rng.standard_normal(xshape)
    x[pad] = rng.standard_normal((int(pad.sum()), D)) * 3.0  # garbage in the padding: must be ignored
    h0 = rng.standard_normal((n, B, H))
    c0 = rng.standard_normal((n, B, H))
    hx = ((h0, c0) if lstm else h0) if with_hx else None
    oshape = (B, T, nd * H) if batch_first else (T, B, nd * H)
    dout = distinct_uniform(rng, oshape, -1.0, 1.0)  # non-zero at the padded positions as well
    dh_n = rng.standard_normal((n, B, H))
    dc_n = rng.standard_normal((n, B, H))

    res = run_ours(ours, x, hx, dout, dh_n, dc_n, lengths, lstm)

    xt = t64(x)
    th0 = t64(h0 if with_hx else np.zeros((n, B, H)))
    tc0 = t64(c0 if with_hx else np.zeros((n, B, H)))
    packed = pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=batch_first,
                                  enforce_sorted=False)
    if lstm:
        tpo, (th_n, tc_n) = tmod(packed, (th0, tc0))
    else:
        tpo, th_n = tmod(packed, th0)
        tc_n = None
    tout, tlens = pad_packed_sequence(tpo, batch_first=batch_first, total_length=T)
    assert tlens.tolist() == lengths.tolist()
    loss = (tout * t64(dout, False)).sum() + (th_n * t64(dh_n, False)).sum()
    if lstm:
        loss = loss + (tc_n * t64(dc_n, False)).sum()
    loss.backward()

    assert_close(res["out"], tout, name="out")
    assert np.all(res["out"][pad] == 0.0), "padded outputs must be exactly zero"
    assert_close(res["h_n"], th_n, name="h_n")
    assert_close(res["c_n"], tc_n, name="c_n")
    assert_close(res["dx"], xt.grad, name="dx")
    assert np.all(res["dx"][pad] == 0.0), "the input gradient at padded steps must be exactly zero"
    assert_close(res["dh0"], th0.grad, name="dh0")
    assert_close(res["dc0"], tc0.grad if lstm else None, name="dc0")
    tparams = dict(tmod.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert list(ours_params) == list(tparams)
    for name, p in ours_params.items():
        assert_close(p.grad, tparams[name].grad, name=f"grad {name}")


@pytest.mark.parametrize("mode", MODES)
def test_lengths_all_shorter_than_T_match_torch(mode):
    """max(lengths) < T: the trailing steps are padding for every sequence."""
    rng = seeded_rng("lengths-short", mode)
    T, B, D, H = 7, 3, 2, 4
    lstm = mode == "LSTM"
    ours, tmod = _pair(mode, D, H, rng, 2, False, True)
    lengths = np.array([3, 5, 1])
    x = rng.standard_normal((T, B, D))
    dout = distinct_uniform(rng, (T, B, 2 * H), -1.0, 1.0)
    dh_n = rng.standard_normal((4, B, H))
    dc_n = rng.standard_normal((4, B, H))
    res = run_ours(ours, x, None, dout, dh_n, dc_n, lengths, lstm)
    xt = t64(x)
    packed = pack_padded_sequence(xt, torch.from_numpy(lengths), enforce_sorted=False)
    tpo, state = tmod(packed)
    th_n, tc_n = state if lstm else (state, None)
    tout, _ = pad_packed_sequence(tpo, total_length=T)
    loss = (tout * t64(dout, False)).sum() + (th_n * t64(dh_n, False)).sum()
    if lstm:
        loss = loss + (tc_n * t64(dc_n, False)).sum()
    loss.backward()
    assert_close(res["out"], tout, name="out")
    assert np.all(res["out"][5:] == 0.0)
    assert_close(res["h_n"], th_n, name="h_n")
    assert_close(res["c_n"], tc_n, name="c_n")
    assert_close(res["dx"], xt.grad, name="dx")
    for name, p in ours.named_parameters():
        assert_close(p.grad, dict(tmod.named_parameters())[name].grad, name=f"grad {name}")


def test_pad_sequence_layouts_agree_and_default_padding():
    rng = seeded_rng("pad-layouts")
    seqs = [rng.standard_normal((L, 2)) for L in (2, 5, 3)]
    tm, l1 = pad_sequence(seqs)
    bf, l2 = pad_sequence(seqs, batch_first=True)
    assert np.array_equal(l1, l2)
    assert tm.shape == (5, 3, 2) and bf.shape == (3, 5, 2)
    assert np.array_equal(tm.swapaxes(0, 1), bf)
    assert np.all(tm[2:, 0] == 0.0) and np.all(tm[3:, 2] == 0.0)
    ref = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(s) for s in seqs])
    assert np.array_equal(tm, ref.numpy())
