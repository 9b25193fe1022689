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

from bptt import nn
from bptt.nn.utils import pad_sequence, unpad_sequence
from conftest import assert_close, distinct_uniform, seeded_rng, t64

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


# ----------------------------------------------------------------------------------------- builders
def _torch_rnn(mode: str, D: int, H: int, num_layers: int, batch_first: bool, bidirectional: bool):
    kw = dict(num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional,
              dtype=torch.float64)
    if mode == "LSTM":
        return torch.nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return torch.nn.GRU(D, H, **kw)
    return torch.nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def _ours_rnn(mode: str, D: int, H: int, num_layers: int = 1, batch_first: bool = False,
              bidirectional: bool = False, **kw) -> nn.RNNBase:
    common = dict(num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional,
                  dtype=np.float64, rng=0)
    if mode == "LSTM":
        return nn.LSTM(D, H, **common, **kw)
    if mode == "GRU":
        return nn.GRU(D, H, **common, **kw)
    if mode == "LNLSTM_LN":
        return nn.LayerNormLSTM(D, H, layer_norm=True, forget_bias=0.7, **common, **kw)
    if mode == "LNLSTM_PLAIN":
        return nn.LayerNormLSTM(D, H, layer_norm=False, forget_bias=0.7, **common, **kw)
    return nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **common, **kw)


def _is_lstm(mode: str) -> bool:
    return mode.startswith("LSTM") or mode.startswith("LNLSTM")


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
    ours = _ours_rnn(mode, D, H, num_layers, batch_first, bidirectional)
    ours.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    return ours, tmod


def _randomize_ours(m: nn.Module, rng: np.random.Generator) -> None:
    """Random parameters; layer-norm gains around 1 (but not 1), shifts non-zero."""
    for name, p in m.named_parameters():
        if "_gamma" in name:
            p.data[...] = rng.uniform(0.5, 1.5, p.shape)
        else:
            p.data[...] = distinct_uniform(rng, p.shape, -0.8, 0.8)


def _lengths(rng: np.random.Generator, T: int, B: int, full: bool = True) -> np.ndarray:
    """Unsorted lengths in [1, T] containing 1 (and T when ``full``)."""
    top = T if full else T - 1
    vals = [top, 1] + list(rng.integers(1, top + 1, size=B - 2))
    return rng.permutation(np.array(vals[:B], dtype=np.int64))


def _pad_mask(lengths: np.ndarray, T: int, batch_first: bool) -> np.ndarray:
    """Boolean (T, B) (or (B, T)) mask, True at padded steps."""
    m = np.arange(T)[:, None] >= lengths[None, :]
    return m.T if batch_first else m


def _run_ours(m, x, hx, dout, dh_n, dc_n, lengths, lstm):
    out, state = m(x, hx, lengths=lengths)
    if lstm:
        h_n, c_n = state
        dx, (dh0, dc0) = m.backward(dout, (dh_n, dc_n))
    else:
        h_n, c_n = state, None
        dx, dh0 = m.backward(dout, dh_n)
        dc0 = None
    return {"out": out, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}


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
    pad = _pad_mask(lengths, T, batch_first)
    x = rng.standard_normal(xshape)
    x[pad] = rng.standard_normal((int(pad.sum()), D)) * 3.0  # garbage in the padding: must be ignored
    h0 = rng.standard_normal((n, B, H))
    c0 = rng.standard_normal((n, B, H))
    hx = ((h0, c0) if lstm else h0) if with_hx else None
    oshape = (B, T, nd * H) if batch_first else (T, B, nd * H)
    dout = distinct_uniform(rng, oshape, -1.0, 1.0)  # non-zero at the padded positions as well
    dh_n = rng.standard_normal((n, B, H))
    dc_n = rng.standard_normal((n, B, H))

    res = _run_ours(ours, x, hx, dout, dh_n, dc_n, lengths, lstm)

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
    res = _run_ours(ours, x, None, dout, dh_n, dc_n, lengths, lstm)
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


# ----------------------------------------------------------------------------------------- padded == alone
ALONE_MODES = MODES + ["LNLSTM_LN", "LNLSTM_PLAIN"]


@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", ALONE_MODES)
def test_padded_batch_equals_each_sequence_alone(mode, bidirectional, num_layers, batch_first):
    rng = seeded_rng("lengths-alone", mode, bidirectional, num_layers, batch_first)
    D, H, B = 3, 4, 4
    lstm = _is_lstm(mode)
    nd = 2 if bidirectional else 1
    n = num_layers * nd
    m = _ours_rnn(mode, D, H, num_layers, batch_first, bidirectional)
    _randomize_ours(m, rng)
    seq_lens = [5, 2, 6, 1]
    seqs = [rng.standard_normal((L, D)) for L in seq_lens]
    x, lengths = pad_sequence(seqs, batch_first=batch_first, padding_value=7.5)
    T = max(seq_lens)
    assert lengths.tolist() == seq_lens
    h0 = rng.standard_normal((n, B, H))
    c0 = rng.standard_normal((n, B, H))
    hx = (h0, c0) if lstm else h0
    oshape = (B, T, nd * H) if batch_first else (T, B, nd * H)
    dout = distinct_uniform(rng, oshape, -1.0, 1.0)
    dh_n = rng.standard_normal((n, B, H))
    dc_n = rng.standard_normal((n, B, H))

    m.zero_grad()
    res = _run_ours(m, x, hx, dout, dh_n, dc_n, lengths, lstm)
    batch_grads = {k: p.grad.copy() for k, p in m.named_parameters()}

    m.zero_grad()
    douts = unpad_sequence(dout, lengths, batch_first=batch_first)
    outs = unpad_sequence(res["out"], lengths, batch_first=batch_first)
    dxs = unpad_sequence(res["dx"], lengths, batch_first=batch_first)
    for b in range(B):
        xb = seqs[b][None] if batch_first else seqs[b][:, None]
        db = douts[b][None] if batch_first else douts[b][:, None]
        hb = (h0[:, b : b + 1], c0[:, b : b + 1]) if lstm else h0[:, b : b + 1]
        r = _run_ours(m, xb, hb, db, dh_n[:, b : b + 1], dc_n[:, b : b + 1], None, lstm)
        ob = r["out"][0] if batch_first else r["out"][:, 0]
        dxb = r["dx"][0] if batch_first else r["dx"][:, 0]
        assert_close(outs[b], ob, name=f"out[{b}]")
        assert_close(res["h_n"][:, b], r["h_n"][:, 0], name=f"h_n[{b}]")
        if lstm:
            assert_close(res["c_n"][:, b], r["c_n"][:, 0], name=f"c_n[{b}]")
            assert_close(res["dc0"][:, b], r["dc0"][:, 0], name=f"dc0[{b}]")
        assert_close(dxs[b], dxb, name=f"dx[{b}]")
        assert_close(res["dh0"][:, b], r["dh0"][:, 0], name=f"dh0[{b}]")
    pad = _pad_mask(lengths, T, batch_first)
    assert np.all(res["out"][pad] == 0.0)
    assert np.all(res["dx"][pad] == 0.0)
    for name, p in m.named_parameters():
        assert_close(batch_grads[name], p.grad, name=f"grad {name} (batch vs sum over sequences)")


# ----------------------------------------------------------------------------------------- full lengths
@pytest.mark.parametrize("mode", ALONE_MODES)
def test_full_lengths_give_exactly_the_plain_result(mode):
    rng = seeded_rng("lengths-full", mode)
    T, B, D, H = 5, 3, 3, 4
    lstm = _is_lstm(mode)
    m = _ours_rnn(mode, D, H, 2, False, True)
    _randomize_ours(m, rng)
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((4, B, H))
    c0 = rng.standard_normal((4, B, H))
    hx = (h0, c0) if lstm else h0
    dout = rng.standard_normal((T, B, 2 * H))
    dh_n = rng.standard_normal((4, B, H))
    dc_n = rng.standard_normal((4, B, H))
    results = []
    for lengths in (None, np.full(B, T), [T] * B):
        m.zero_grad()
        r = _run_ours(m, x, hx, dout, dh_n, dc_n, lengths, lstm)
        r.update({k: p.grad.copy() for k, p in m.named_parameters()})
        results.append(r)
    for r in results[1:]:
        for k, v in results[0].items():
            if v is None:
                assert r[k] is None
            else:
                assert np.array_equal(v, r[k]), f"{k}: lengths == T must give exactly the plain result"


# ----------------------------------------------------------------------------------------- pad utilities
@pytest.mark.parametrize("tail", [(), (3,), (2, 3)], ids=["scalar", "vec", "mat"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tmajor", "bfirst"])
def test_pad_unpad_round_trip(batch_first, tail):
    rng = seeded_rng("pad", batch_first, tail)
    lens = [3, 1, 4, 2]
    seqs = [rng.standard_normal((L, *tail)) for L in lens]
    padded, lengths = pad_sequence(seqs, batch_first=batch_first, padding_value=-2.5)
    assert lengths.dtype == np.int64 and lengths.tolist() == lens
    assert padded.dtype == np.float64
    assert padded.shape == ((4, 4, *tail) if batch_first else (4, 4, *tail))
    tm = padded.swapaxes(0, 1) if batch_first else padded
    assert tm.shape == (4, 4, *tail)
    for b, s in enumerate(seqs):
        assert np.array_equal(tm[: lens[b], b], s)
        assert np.all(tm[lens[b] :, b] == -2.5)
    back = unpad_sequence(padded, lengths, batch_first=batch_first)
    assert len(back) == len(seqs)
    for s, r in zip(seqs, back, strict=True):
        assert r.shape == s.shape and np.array_equal(r, s)
    back[0][...] = 0.0  # copies, not views
    assert np.array_equal(unpad_sequence(padded, lengths, batch_first=batch_first)[0], seqs[0])


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


def test_pad_unpad_errors():
    with pytest.raises(ValueError, match="sequences"):
        pad_sequence([])
    with pytest.raises(ValueError, match="trailing shape"):
        pad_sequence([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="at least one step"):
        pad_sequence([np.ones((2, 3)), np.ones((0, 3))])
    with pytest.raises(ValueError, match="lengths"):
        unpad_sequence(np.zeros((4, 3, 2)), np.array([1, 2]))


# ----------------------------------------------------------------------------------------- bad lengths
T_BAD, B_BAD = 5, 3
BAD_LENGTHS = {
    "zero": (np.array([2, 0, 5]), ValueError),
    "negative": (np.array([2, -1, 5]), ValueError),
    "too_long": (np.array([2, T_BAD + 1, 5]), ValueError),
    "float": (np.array([2.0, 3.0, 5.0]), TypeError),
    "float_list": ([2.0, 3.0, 5.0], TypeError),
    "too_many": (np.array([2, 3, 5, 1]), ValueError),
    "too_few": (np.array([2, 3]), ValueError),
    "2d": (np.array([[2, 3, 5]]), ValueError),
    "scalar": (np.array(3), ValueError),
}


@pytest.mark.parametrize("bad", sorted(BAD_LENGTHS))
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "LNLSTM_LN"])
def test_bad_lengths_raise_naming_lengths(mode, bad):
    lengths, exc = BAD_LENGTHS[bad]
    m = _ours_rnn(mode, 2, 3, 1, False, False)
    x = np.zeros((T_BAD, B_BAD, 2))
    with pytest.raises(exc, match="lengths"):
        m(x, lengths=lengths)


def test_bad_lengths_batch_first_uses_batch_axis():
    m = nn.LSTM(2, 3, batch_first=True, dtype=np.float64, rng=0)
    x = np.zeros((3, 5, 2))  # B=3, T=5
    m(x, lengths=np.array([5, 1, 2]))  # fine
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=np.array([1, 2, 3, 4, 5]))  # shape (T,) instead of (B,)
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=np.array([6, 1, 2]))
