"""The recurrent layers' public per-layer API (``layer_parameters``, ``layer_forward``, ``layer_backward``) and the
neutral hook point ``bptt.nn.hooks`` a recorder fills. NumPy only."""

from __future__ import annotations

import numpy as np
import pytest

from bptt import functional as F
from bptt import nn
from bptt.functional import reference as R
from bptt.nn import hooks

T, B, D, H = 5, 3, 4, 6


def _make(kind: str, **kw):
    if kind == "lstm":
        return nn.LSTM(D, H, num_layers=2, bidirectional=True, dtype=np.float64, rng=1, **kw)
    if kind == "lstm_proj":
        return nn.LSTM(D, H, num_layers=2, bidirectional=True, proj_size=3, dtype=np.float64, rng=1, **kw)
    if kind == "gru":
        return nn.GRU(D, H, num_layers=2, bidirectional=True, dtype=np.float64, rng=1, **kw)
    if kind == "rnn":
        return nn.RNN(D, H, num_layers=2, bidirectional=True, nonlinearity="relu", dtype=np.float64, rng=1, **kw)
    return nn.LayerNormLSTM(D, H, num_layers=2, bidirectional=True, dtype=np.float64, rng=1, **kw)


KINDS = ["lstm", "lstm_proj", "gru", "rnn", "lnlstm"]


@pytest.mark.parametrize("kind", KINDS)
def test_layer_parameters_name_every_parameter_by_role(kind):
    m = _make(kind)
    seen = []
    for layer in range(2):
        for d in range(2):
            params = m.layer_parameters(layer, d)
            assert list(params) == [r for r in m.PARAMETER_ROLES if r in params]  # the op's order
            seen += [id(p) for p in params.values()]
    assert sorted(seen) == sorted(id(p) for p in m.parameters())  # each parameter exactly once
    sfx = "_l1_reverse"
    p = m.layer_parameters(1, 1)
    if kind == "lnlstm":
        assert p["kernel"] is getattr(m, "kernel" + sfx)
        assert p["gamma_state"] is getattr(m, "state_gamma" + sfx)
        assert p["beta_input"] is getattr(m, "input_beta" + sfx)
    else:
        assert p["W_ih"] is getattr(m, "weight_ih" + sfx)
        assert p["b_hh"] is getattr(m, "bias_hh" + sfx)
        assert ("W_hr" in p) == (kind == "lstm_proj")


def test_layer_parameters_reject_bad_indices():
    m = nn.GRU(D, H, num_layers=2, rng=0)
    with pytest.raises(ValueError, match=r"^GRU.layer_parameters: layer must be an int in \[0, 1\], got 2$"):
        m.layer_parameters(2)
    with pytest.raises(ValueError, match=r"^GRU.layer_parameters: direction must be 0 \(forward\), got 1$"):
        m.layer_parameters(0, 1)
    assert set(nn.GRU(D, H, bias=False, rng=0).layer_parameters(0)) == {"W_ih", "W_hh"}


@pytest.mark.parametrize("kind", KINDS)
def test_layer_by_layer_equals_the_module(kind):
    """Driving the stack by hand through the per-layer API gives the module's outputs and gradients."""
    rng = np.random.default_rng(7)
    a, b = _make(kind), _make(kind)
    x = rng.standard_normal((T, B, D))
    P, cell = a.output_size, a.has_cell_state
    h0 = rng.standard_normal((4, B, P))
    c0 = rng.standard_normal((4, B, H))
    hx = (h0, c0) if cell else h0
    out, hn = a(x, hx)
    dout = rng.standard_normal(out.shape)
    dh_n = rng.standard_normal((4, B, P))
    dc_n = rng.standard_normal((4, B, H))
    dx_ref, dh0_ref = a.backward(dout, (dh_n, dc_n) if cell else dh_n)

    inp, caches, outs = x, [], []
    for layer in range(2):
        ys = []
        for d in range(2):
            i = 2 * layer + d
            y, h_n, c_n, cache = b.layer_forward(layer, d, inp, h0[i], c0[i] if cell else None)
            np.testing.assert_array_equal(h_n, (hn[0] if cell else hn)[i])
            if cell:
                np.testing.assert_array_equal(c_n, hn[1][i])
            else:
                assert c_n is None
            ys.append(y.copy())
            caches.append(cache)
        inp = np.concatenate(ys, axis=2)
        outs.append(inp)
    np.testing.assert_array_equal(outs[-1], out)

    dlayer = dout
    dh0 = np.empty_like(h0)
    for layer in (1, 0):
        dx_sum = 0.0
        for d in range(2):
            i = 2 * layer + d
            g = b.layer_backward(layer, d, caches[i], np.ascontiguousarray(dlayer[:, :, d * P : (d + 1) * P]),
                                 dh_n[i], dc_n[i] if cell else None)
            dx_sum = dx_sum + g.dx
            dh0[i] = g.dh0
            assert (g.dc0 is None) == (not cell)
        dlayer = dx_sum
    np.testing.assert_allclose(dlayer, dx_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dh0, dh0_ref[0] if cell else dh0_ref, rtol=1e-12, atol=1e-14)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert np.abs(pb.grad).max() > 0, name
        np.testing.assert_allclose(pb.grad, pa.grad, rtol=1e-12, atol=1e-14, err_msg=name)


def test_layer_forward_dropout_mask_only_for_layer_norm_lstm():
    m = nn.LSTM(D, H, rng=0)
    x = np.zeros((T, B, D), np.float32)
    h = np.zeros((B, H), np.float32)
    with pytest.raises(ValueError, match=r"^LSTM.layer_forward: dropout_mask is only for LayerNormLSTM"):
        m.layer_forward(0, 0, x, h, h, dropout_mask=np.ones((T, B, H), np.float32))


class _Recorder:
    """A minimal recorder following bptt.nn.hooks.Recorder: keeps what the layers hand over."""

    def __init__(self) -> None:
        self.forward: list[tuple[int, int, object]] = []
        self.backward: list[tuple[int, int, hooks.BackwardRecord]] = []

    def forward_hooks(self, module):
        return [[lambda cache, l=layer, d=d: self.forward.append((l, d, cache))
                 for d in range(module.num_directions)] for layer in range(module.num_layers)]

    def backward_hooks(self, module):
        return [[lambda record, l=layer, d=d: self.backward.append((l, d, record))
                 for d in range(module.num_directions)] for layer in range(module.num_layers)]


def test_hook_point_calls_any_recorder_once_per_layer_and_direction():
    """While a recorder is active the layers run the reference twin and hand over its named intermediates."""
    m = nn.GRU(D, H, num_layers=2, bidirectional=True, dtype=np.float64, rng=3)
    x = np.random.default_rng(0).standard_normal((T, B, D))
    rec = _Recorder()
    assert hooks.active_recorder() is None
    token = hooks.RECORDER.set(rec)
    try:
        assert hooks.active_recorder() is rec
        out, _ = m(x)
        m.backward(np.ones_like(out))
    finally:
        hooks.RECORDER.reset(token)
    assert hooks.active_recorder() is None
    assert sorted((l, d) for l, d, _ in rec.forward) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [(l, d) for l, d, _ in rec.backward] == [(1, 0), (1, 1), (0, 0), (0, 1)]  # top layer first
    for _, d, cache in rec.forward:
        assert isinstance(cache, R.gru.SequenceCache) and cache.reverse == (d == 1) and len(cache.steps) == T
    _, _, record = rec.backward[0]
    assert isinstance(record, hooks.BackwardRecord) and len(record.steps) == T
    assert isinstance(record.steps[0], R.gru.StepGrads) and record.steps[0].dh.shape == (B, H)
    assert set(record.grads) == {"W_ih", "W_hh", "b_ih", "b_hh"}
    # nothing records outside the context
    m(x)
    m.backward(np.ones_like(out))
    assert len(rec.forward) == 4 and len(rec.backward) == 4


def test_lstm_backward_gradient_tuples():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((T, B, D))
    h0, c0 = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    W_ih, W_hh = rng.standard_normal((4 * H, D)), rng.standard_normal((4 * H, H))
    b = rng.standard_normal(4 * H)
    (y, _, _), cache = F.lstm.forward(x, h0, c0, W_ih, W_hh, b, b)
    g = F.lstm.backward((np.ones_like(y), None, None), cache)
    assert type(g) is F.lstm.LSTMGrads and len(g) == 7
    P = 3
    W_hr = rng.standard_normal((P, H))
    (y, _, _), cache = F.lstm.forward(x, h0[:, :P], c0, W_ih, rng.standard_normal((4 * H, P)), b, b, W_hr)
    g = F.lstm.backward((np.ones_like(y), None, None), cache)
    assert type(g) is F.lstm.LSTMProjectionGrads and len(g) == 8 and g.dW_hr.shape == (P, H)
    dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh, dW_hr = g  # plain tuple unpacking keeps working
    assert dW_hr is g.dW_hr and dh0.shape == (B, P)
