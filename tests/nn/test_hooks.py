"""bptt.nn.hooks: the neutral hook point, with a recorder written here (no bptt.trace).

While a recorder is active the recurrent layers run the reference twins and hand over the reference's
SequenceCache (forward) and a BackwardRecord with its StepGrads (backward); without one they run the fused ops;
a forward of the fused tier differentiated under a recorder is run again in the reference tier; the public
per-layer API exposes the tier.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import nn
from bptt.functional import lstm as fast_lstm
from bptt.functional import reference as R
from bptt.nn import hooks
from helpers import assert_close, distinct_uniform, seeded_rng


class ListRecorder:
    """Keeps what the hooks receive."""

    def __init__(self) -> None:
        self.forward: list = []
        self.backward: list = []

    def forward_hooks(self, module):
        return [[(lambda cache, k=(layer, d): self.forward.append((k, cache))) for d in range(module.num_directions)]
                for layer in range(module.num_layers)]

    def backward_hooks(self, module):
        return [[(lambda rec, k=(layer, d): self.backward.append((k, rec))) for d in range(module.num_directions)]
                for layer in range(module.num_layers)]


def recording(recorder):
    class _Ctx:
        def __enter__(self):
            self.token = hooks.RECORDER.set(recorder)
            return recorder

        def __exit__(self, *exc):
            hooks.RECORDER.reset(self.token)

    return _Ctx()


def lstm(rng, **kw):
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, rng=0, forget_bias=0.5, **kw)
    for _, p in m.named_parameters():
        p.data[...] = distinct_uniform(rng, p.data.shape)
    return m


def test_a_recorder_gets_the_reference_caches_and_step_gradients():
    rng = seeded_rng("hooks")
    m = lstm(rng)
    x = rng.standard_normal((5, 2, 3))
    dout = rng.standard_normal((5, 2, 8))
    dh_n, dc_n = rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4))
    out, _ = m(x)
    m.zero_grad()
    dx, (dh0, dc0) = m.backward(dout, (dh_n, dc_n))
    fused_grads = {n: p.grad.copy() for n, p in m.named_parameters()}
    rec = ListRecorder()
    with recording(rec):
        out2, _ = m(x)
        m.zero_grad()
        dx2, (dh02, dc02) = m.backward(dout, (dh_n, dc_n))
    assert hooks.active_recorder() is None
    assert_close(out2, out, 1e-12, "out")
    assert_close(dx2, dx, 1e-12, "dx")
    assert_close(dh02, dh0, 1e-12, "dh0")
    assert_close(dc02, dc0, 1e-12, "dc0")
    for n, p in m.named_parameters():
        assert_close(p.grad, fused_grads[n], 1e-12, n)
    assert [k for k, _ in rec.forward] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [k for k, _ in rec.backward] == [(1, 0), (1, 1), (0, 0), (0, 1)]
    caches = dict(rec.forward)
    for (layer, d), r in rec.backward:
        assert isinstance(r, hooks.BackwardRecord)
        assert r.cache is caches[(layer, d)] and isinstance(r.cache, R.lstm.SequenceCache)
        assert len(r.steps) == 5 and all(isinstance(s, R.lstm.StepGrads) for s in r.steps)
        idx = 2 * layer + d
        assert_close(r.dh0, dh0[idx], 1e-12, "dh0")
        assert_close(r.dh_n, dh_n[idx], 0, "dh_n")
        assert_close(r.dc_n, dc_n[idx], 0, "dc_n")
        params = m.layer_parameters(layer, d)
        assert set(r.grads) == set(params)
        assert_close(r.grads["W_ih"], sum(s.dW_ih for s in r.steps), 0, "dW_ih = sum of the step shares")
        if layer == 1:
            assert_close(r.dy, dout[:, :, 4 * d : 4 * d + 4], 0, "dy")


def test_no_recorder_runs_the_fused_op():
    rng = seeded_rng("hooks off")
    m = lstm(rng)
    out, _ = m(rng.standard_normal((3, 2, 3)))
    caches = m._peek()[0]
    assert all(isinstance(c, fast_lstm.LSTMCache) for layer_caches, _, _ in caches for c in layer_caches)
    m.backward(np.ones_like(out))


def test_a_fused_forward_differentiated_under_a_recorder_is_run_again_in_the_reference_tier():
    rng = seeded_rng("hooks replay")
    m = lstm(rng)
    x = rng.standard_normal((4, 2, 3))
    lengths = np.array([4, 2])
    out, _ = m(x, lengths=lengths)
    m.zero_grad()
    dx, _ = m.backward(np.ones_like(out))
    grads = {n: p.grad.copy() for n, p in m.named_parameters()}
    out, _ = m(x, lengths=lengths)  # the fused op: no recorder yet
    rec = ListRecorder()
    with recording(rec):
        m.zero_grad()
        dx2, _ = m.backward(np.ones_like(out))
    assert rec.forward == [] and len(rec.backward) == 4
    assert all(isinstance(r.cache, R.lstm.SequenceCache) for _, r in rec.backward)
    np.testing.assert_array_equal(rec.backward[0][1].cache.lengths, lengths)
    assert_close(dx2, dx, 1e-12, "dx")
    for n, p in m.named_parameters():
        assert_close(p.grad, grads[n], 1e-12, n)


@pytest.mark.parametrize("make", [
    lambda: nn.GRU(3, 4, dtype=np.float64, rng=0),
    lambda: nn.RNN(3, 4, nonlinearity="relu", dtype=np.float64, rng=0),
    lambda: nn.LayerNormLSTM(3, 4, dtype=np.float64, rng=0, dropout_keep_prob=0.7),
])
def test_per_layer_api_runs_either_tier(make):
    m = make()
    m.train()
    rng = seeded_rng("hooks layer api", type(m).__name__)
    x = rng.standard_normal((3, 2, 3))
    h0 = rng.standard_normal((2, 4))
    c0 = rng.standard_normal((2, 4)) if m.has_cell_state else None
    mask = (rng.random((3, 2, 4)) < 0.7) / 0.7 if m._recurrent_dropout else None
    dy = rng.standard_normal((3, 2, 4))
    results = []
    for reference in (False, True):
        m.zero_grad()
        y, h_n, c_n, cache = m.layer_forward(0, 0, x, h0, c0, dropout_mask=mask, reference=reference)
        assert m.is_reference_cache(cache) is reference
        y = y.copy()
        g = m.layer_backward(0, 0, cache, dy, None)
        results.append((y, g.dx, g.dh0, [p.grad.copy() for p in m.parameters()]))
    (y1, dx1, dh1, p1), (y2, dx2, dh2, p2) = results
    assert_close(y2, y1, 1e-12, "y")
    assert_close(dx2, dx1, 1e-12, "dx")
    assert_close(dh2, dh1, 1e-12, "dh0")
    for a, b in zip(p2, p1, strict=True):
        assert_close(a, b, 1e-12, "param grad")
    *_, cache = m.layer_forward(0, 0, x, h0, c0, dropout_mask=mask)
    with pytest.raises(ValueError, match=r"layer_backward: record needs a cache made by layer_forward\(\.\.\., "
                                         r"reference=True\)"):
        m.layer_backward(0, 0, cache, dy, None, record=lambda r: None)
