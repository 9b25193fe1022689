"""``TBPTTStreams``: contiguous column streams, shifted targets, resets, resumable state, carried state."""

from __future__ import annotations

import numpy as np
import pytest

from bptt import nn
from bptt.data import TBPTTStreams
from helpers import assert_close, seeded_rng


# ----------------------------------------------------------------------------------------- layout
@pytest.mark.parametrize(("N", "B", "T"), [(103, 4, 5), (50, 3, 7), (21, 4, 5), (64, 1, 6)])
def test_columns_are_contiguous_streams_and_y_is_x_shifted(N, B, T):
    rng = seeded_rng("streams-layout", N, B, T)
    ids = rng.integers(0, 1000, N)
    it = TBPTTStreams(ids, batch_size=B, seq_length=T)
    L = (N - 1) // B
    assert it.stream_length == L
    assert it.chunks_per_epoch == L // T
    for k in range(L // T):
        batch = next(it)
        assert batch.x.shape == (T, B) and batch.y.shape == (T, B)
        assert batch.x.dtype == np.int64 and batch.y.dtype == np.int64
        assert batch.position == k * T and batch.epoch == 0
        assert batch.reset == (k == 0)
        for b in range(B):
            start = b * L + k * T
            assert np.array_equal(batch.x[:, b], ids[start : start + T])
            assert np.array_equal(batch.y[:, b], ids[start + 1 : start + T + 1])
        assert np.array_equal(batch.y[:-1], batch.x[1:])


def test_consecutive_chunks_continue_each_column():
    ids = np.arange(121)
    it = TBPTTStreams(ids, batch_size=4, seq_length=6)  # L = 30, 5 chunks per epoch
    chunks = [next(it) for _ in range(5)]
    xs = np.concatenate([c.x for c in chunks])
    ys = np.concatenate([c.y for c in chunks])
    assert np.array_equal(xs, np.arange(30)[:, None] + 30 * np.arange(4)[None, :])
    assert np.array_equal(ys, xs + 1)
    for prev, nxt in zip(chunks[:-1], chunks[1:], strict=True):
        assert np.array_equal(prev.y[-1], nxt.x[0])  # the last target is the next chunk's first input


def test_reset_at_start_and_at_wrap_around():
    ids = np.arange(103)
    it = TBPTTStreams(ids, batch_size=4, seq_length=7)  # L = 25: chunks at 0, 7, 14; 21 + 7 > 25 wraps
    seen = [(b.position, b.epoch, b.reset) for b in (next(it) for _ in range(8))]
    assert seen == [
        (0, 0, True), (7, 0, False), (14, 0, False),
        (0, 1, True), (7, 1, False), (14, 1, False),
        (0, 2, True), (7, 2, False),
    ]


def test_exact_fit_wraps_without_dropping_rows():
    ids = np.arange(4 * 10 + 1)  # L = 10 = 2 chunks of 5 exactly
    it = TBPTTStreams(ids, batch_size=4, seq_length=5)
    first = [next(it) for _ in range(2)]
    assert [b.position for b in first] == [0, 5]
    again = next(it)
    assert again.reset and again.epoch == 1 and again.position == 0
    assert np.array_equal(again.x, first[0].x) and np.array_equal(again.y, first[0].y)
    assert first[1].y[-1, -1] == 40  # the very last token is used as a target


@pytest.mark.parametrize("k", [0, 1, 2, 3, 5, 7])
def test_state_dict_round_trip_resumes_exactly(k):
    rng = seeded_rng("streams-resume", k)
    ids = rng.integers(0, 50, 90)
    a = TBPTTStreams(ids, batch_size=3, seq_length=8)  # L = 29: 3 chunks per epoch
    for _ in range(k):
        next(a)
    state = a.state_dict()
    expected = [next(a) for _ in range(7)]
    b = TBPTTStreams(ids, batch_size=3, seq_length=8)
    next(b)
    next(b)  # a different position, then restore
    b.load_state_dict(dict(state))
    resumed = [next(b) for _ in range(7)]
    for e, r in zip(expected, resumed, strict=True):
        assert np.array_equal(e.x, r.x) and np.array_equal(e.y, r.y)
        assert (e.reset, e.epoch, e.position) == (r.reset, r.epoch, r.position)
    assert a.state_dict() == b.state_dict()


def test_state_dict_is_a_snapshot():
    it = TBPTTStreams(np.arange(50), batch_size=2, seq_length=4)
    s = it.state_dict()
    next(it)
    assert s != it.state_dict()
    fresh = TBPTTStreams(np.arange(50), batch_size=2, seq_length=4)
    fresh.load_state_dict(s)
    assert next(fresh).reset  # a restored never-used iterator still starts with a reset


@pytest.mark.parametrize(("N", "B", "T"), [(20, 4, 5), (10, 2, 5), (5, 1, 5), (2, 1, 2)])
def test_too_short_text_raises_naming_sizes(N, B, T):
    with pytest.raises(ValueError) as info:
        TBPTTStreams(np.arange(N), batch_size=B, seq_length=T)
    msg = str(info.value)
    assert f"{N} tokens" in msg
    assert str(B * T + 1) in msg
    assert "batch_size" in msg and "seq_length" in msg
    TBPTTStreams(np.arange(B * T + 1), batch_size=B, seq_length=T)  # exactly enough is fine


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="ids"):
        TBPTTStreams(np.arange(20.0), 2, 3)
    with pytest.raises(ValueError, match="ids"):
        TBPTTStreams(np.arange(20).reshape(4, 5), 2, 3)
    with pytest.raises(ValueError, match="batch_size"):
        TBPTTStreams(np.arange(20), 0, 3)
    with pytest.raises(ValueError, match="seq_length"):
        TBPTTStreams(np.arange(20), 2, 0)


# ----------------------------------------------------------------------------------------- carried state
class _LM(nn.Module):
    """Embedding -> LSTM -> Linear, summed cross-entropy (so chunk losses add up exactly)."""

    def __init__(self, V: int, E: int, H: int, B: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.B = B
        self.emb = nn.Embedding(V, E, dtype=np.float64, rng=1)
        self.lstm = nn.LSTM(E, H, num_layers=2, dtype=np.float64, rng=2)
        self.head = nn.Linear(H, V, dtype=np.float64, rng=3)
        self.crit = nn.CrossEntropyLoss(reduction="sum")
        for p in self.parameters():
            p.data[...] = rng.uniform(-0.6, 0.6, p.shape)

    def forward(self, x, y, state):
        out, state = self.lstm(self.emb(x), state)
        logits = self.head(out)
        loss = self.crit(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        return float(loss), out, state

    def backward(self, dstate):
        dlogits = self.crit.backward(1.0)
        dout = self.head.backward(dlogits.reshape(dlogits.shape[0] // self.B, self.B, -1))
        dx, dstate0 = self.lstm.backward(dout, dstate)
        self.emb.backward(dx)
        return dstate0


@pytest.mark.parametrize("chunks", [3])
def test_carried_state_over_chunks_equals_one_pass(chunks):
    rng = seeded_rng("streams-carry", chunks)
    V, E, H, B, T = 7, 3, 4, 3, 5
    ids = rng.integers(0, V, B * T * chunks + 1 + 2)
    it = TBPTTStreams(ids, batch_size=B, seq_length=T)
    assert it.chunks_per_epoch == chunks
    model = _LM(V, E, H, B, rng)

    # chunked, state carried forward (and the state gradient carried backward)
    batches = [next(it) for _ in range(chunks)]
    assert [b.reset for b in batches] == [True] + [False] * (chunks - 1)
    state = None
    chunk_losses, chunk_outs = [], []
    for batch in batches:
        if batch.reset:
            state = None
        loss, out, state = model(batch.x, batch.y, state)
        chunk_losses.append(loss)
        chunk_outs.append(out.copy())
    model.zero_grad()
    dstate = None
    dstate_first = None
    for _ in range(chunks):
        dstate = model.backward(dstate)  # dh0/dc0 of chunk k becomes dh_n/dc_n of chunk k - 1
        dstate_first = dstate
    chunk_grads = {k: p.grad.copy() for k, p in model.named_parameters()}

    # truncated BPTT: the carried gradient is dropped (must differ)
    state_tr = None
    for batch in batches:
        _, _, state_tr = model(batch.x, batch.y, None if batch.reset else state_tr)
    model.zero_grad()
    for _ in range(chunks):
        model.backward(None)
    trunc_grads = {k: p.grad.copy() for k, p in model.named_parameters()}

    # one pass over the concatenation
    X = np.concatenate([b.x for b in batches])
    Y = np.concatenate([b.y for b in batches])
    assert np.array_equal(X[1:], Y[:-1])
    full_loss, full_out, _ = model(X, Y, None)
    model.zero_grad()
    dstate_full = model.backward(None)
    full_grads = {k: p.grad.copy() for k, p in model.named_parameters()}

    assert np.array_equal(np.concatenate(chunk_outs), full_out), "forward with carried state must be exact"
    assert abs(sum(chunk_losses) - full_loss) <= 1e-12 * abs(full_loss)
    for k, g in full_grads.items():
        assert_close(chunk_grads[k], g, 1e-10, name=f"grad {k} (chunked, carried dh)")
    for a, b in zip(dstate_first, dstate_full, strict=True):
        assert_close(a, b, 1e-10, name="d initial state")
    assert any(
        np.abs(trunc_grads[k] - g).max() > 1e-6 * np.abs(g).max() for k, g in full_grads.items()
    ), "dropping the carried gradient (truncation) must change the gradients"
