"""Variable-length batches without PyTorch: padded == one-by-one, full lengths == no lengths, pad/unpad.

Padded outputs and padded input gradients must be exactly zero. The parity with PyTorch's packed sequences
lives in test_lengths_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import nn
from bptt.nn.utils import pad_sequence, unpad_sequence
from cases.lengths import MODES, ours_rnn, pad_mask, run_ours
from helpers import assert_close, distinct_uniform, seeded_rng


def _is_lstm(mode: str) -> bool:
    return mode.startswith("LSTM") or mode.startswith("LNLSTM")


def _randomize_ours(m: nn.Module, rng: np.random.Generator) -> None:
    """Random parameters; layer-norm gains around 1 (but not 1), shifts non-zero."""
    for name, p in m.named_parameters():
        if "_gamma" in name:
            p.data[...] = rng.uniform(0.5, 1.5, p.shape)
        else:
            p.data[...] = distinct_uniform(rng, p.shape, -0.8, 0.8)


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
    m = ours_rnn(mode, D, H, num_layers, batch_first, bidirectional)
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
    res = run_ours(m, x, hx, dout, dh_n, dc_n, lengths, lstm)
    batch_grads = {k: p.grad.copy() for k, p in m.named_parameters()}

    m.zero_grad()
    douts = unpad_sequence(dout, lengths, batch_first=batch_first)
    outs = unpad_sequence(res["out"], lengths, batch_first=batch_first)
    dxs = unpad_sequence(res["dx"], lengths, batch_first=batch_first)
    for b in range(B):
        xb = seqs[b][None] if batch_first else seqs[b][:, None]
        db = douts[b][None] if batch_first else douts[b][:, None]
        hb = (h0[:, b : b + 1], c0[:, b : b + 1]) if lstm else h0[:, b : b + 1]
        r = run_ours(m, xb, hb, db, dh_n[:, b : b + 1], dc_n[:, b : b + 1], None, lstm)
        ob = r["out"][0] if batch_first else r["out"][:, 0]
        dxb = r["dx"][0] if batch_first else r["dx"][:, 0]
        assert_close(outs[b], ob, name=f"out[{b}]")
        assert_close(res["h_n"][:, b], r["h_n"][:, 0], name=f"h_n[{b}]")
        if lstm:
            assert_close(res["c_n"][:, b], r["c_n"][:, 0], name=f"c_n[{b}]")
            assert_close(res["dc0"][:, b], r["dc0"][:, 0], name=f"dc0[{b}]")
        assert_close(dxs[b], dxb, name=f"dx[{b}]")
        assert_close(res["dh0"][:, b], r["dh0"][:, 0], name=f"dh0[{b}]")
    pad = pad_mask(lengths, T, batch_first)
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
    m = ours_rnn(mode, D, H, 2, False, True)
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
        r = run_ours(m, x, hx, dout, dh_n, dc_n, lengths, lstm)
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
    m = ours_rnn(mode, 2, 3, 1, False, False)
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
