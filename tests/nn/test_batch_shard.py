"""``Module.shard_batch``: a module computing rows ``start:stop`` of a batch draws the dropout masks one module
computing the whole batch draws, and keeps its rows (what data-parallel training relies on).

Between-layer dropout (every recurrent layer) and LayerNormLSTM's recurrent dropout: the shards' outputs,
final states, input gradients and summed weight gradients equal the whole batch's, and each shard's generator
ends where the whole batch's does.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import nn
from helpers import assert_close, seeded_rng

T, B, D, H, L = 4, 5, 3, 6, 3
SHARDS = [(0, 2), (2, 3), (3, 5)]


def make(kind: str, seed: int) -> nn.Module:
    if kind == "lnlstm":
        return nn.LayerNormLSTM(D, H, L, dropout=0.4, dropout_keep_prob=0.7, dtype=np.float64, rng=seed)
    if kind == "lnlstm-bi":
        return nn.LayerNormLSTM(D, H, L, bidirectional=True, dropout=0.4, dropout_keep_prob=0.7,
                                dtype=np.float64, rng=seed)
    if kind in ("slstm", "mlstm"):
        cls = nn.SLSTM if kind == "slstm" else nn.MLSTM
        return cls(D, H, L, dropout=0.4, num_heads=2, dtype=np.float64, rng=seed)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
    return cls(D, H, L, dropout=0.4, dtype=np.float64, rng=seed)


def forward_backward(m: nn.Module, x: np.ndarray, dout: np.ndarray) -> dict[str, np.ndarray]:
    m.zero_grad()
    out, state = m(x)
    dx, _ = m.backward(dout)
    h = state[0] if isinstance(state, tuple) else state  # the mLSTM's first part: its matrix memory C
    return {"out": out, "h_n": h, "dx": dx, **{n: p.grad.copy() for n, p in m.named_parameters()}}


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "lnlstm", "lnlstm-bi", "slstm", "mlstm"])
def test_shards_draw_the_whole_batch_masks_and_sum_to_the_whole_batch(kind):
    rng = seeded_rng("batch-shard", kind)
    x = rng.standard_normal((T, B, D))
    whole_model = make(kind, 3)
    nd = 2 if kind.endswith("-bi") else 1
    dout = rng.standard_normal((T, B, nd * H))
    whole = [forward_backward(whole_model, x, dout) for _ in range(2)]  # two steps: the generator moves on
    parts = []
    for start, stop in SHARDS:
        m = make(kind, 3).shard_batch(nn.BatchShard(start, stop, B))
        assert all(sub.batch_shard == (start, stop, B) for sub in m.modules())
        parts.append([forward_backward(m, x[:, start:stop], dout[:, start:stop]) for _ in range(2)])
    for step in range(2):
        for key in ("out", "dx"):
            got = np.concatenate([p[step][key] for p in parts], axis=1)
            assert_close(got, whole[step][key], 1e-13, f"step {step} {key}")
        assert_close(np.concatenate([p[step]["h_n"] for p in parts], axis=1), whole[step]["h_n"], 1e-13, "h_n")
        for name, _ in whole_model.named_parameters():
            assert_close(sum(p[step][name] for p in parts), whole[step][name], 1e-12, f"step {step} {name}")
    # the masks differ from one step to the next (the generators advanced alike)
    assert not np.allclose(whole[0]["out"], whole[1]["out"])


def test_without_a_shard_the_draws_are_unchanged():
    """``shard_batch(None)`` is the default: the same generator stream as a module never sharded."""
    x = seeded_rng("batch-shard-none").standard_normal((T, B, D))
    a, b = make("lstm", 5), make("lstm", 5).shard_batch(nn.BatchShard(0, B, B)).shard_batch(None)
    assert b.batch_shard is None
    np.testing.assert_array_equal(a(x)[0], b(x)[0])
    full = make("lstm", 5).shard_batch(nn.BatchShard(0, B, B))  # the whole batch as its one shard
    np.testing.assert_array_equal(make("lstm", 5)(x)[0], full(x)[0])


@pytest.mark.parametrize("kind", ["lstm", "slstm"])
def test_a_batch_that_does_not_fit_the_shard_is_refused(kind):
    m = make(kind, 0).shard_batch(nn.BatchShard(1, 3, 5))
    with pytest.raises(ValueError, match=rf"^{kind.upper()}.forward: the batch has 5 sequences, but the module "
                                         r"computes rows 1:3 of a batch of 5 \(shard_batch\)$"):
        m(np.zeros((T, B, D)))
    m.eval()  # nothing is drawn in eval mode: any batch (evaluation, sampling)
    assert m(np.zeros((T, 1, D)))[0].shape == (T, 1, H)


@pytest.mark.parametrize("shard", [(2, 2, 4), (-1, 2, 4), (0, 5, 4)])
def test_bad_shards_are_refused(shard):
    with pytest.raises(ValueError, match=r"^LSTM.shard_batch: need 0 <= start < stop <= size, got start="):
        make("lstm", 0).shard_batch(nn.BatchShard(*shard))
