"""``bptt.nn.SLSTM`` and ``bptt.nn.MLSTM``: layouts, state handling, stacking, the per-layer API, finite
differences of every input, state and parameter, and the errors at the boundary (NumPy only; the torch
parity of the same modules is in test_xlstm_layers_torch.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bptt import functional as F
from bptt import nn
from bptt.functional import reference as R
from bptt.gradcheck import check_module
from helpers import assert_close, seeded_rng

T, B, D, H = 5, 3, 4, 6


def make(kind: str, **kw):
    kw = {"num_layers": 2, "dtype": np.float64, "rng": 1, **kw}
    if kind == "slstm":
        return nn.SLSTM(D, H, num_heads=kw.pop("num_heads", 3), **kw)
    return nn.MLSTM(D, H, num_heads=kw.pop("num_heads", 2), form=kw.pop("form", kind.split("-")[1]), **kw)


KINDS = ["slstm", "mlstm-parallel", "mlstm-recurrent"]


def random_state(m, batch: int | None, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    lead = (m.num_layers,) if batch is None else (m.num_layers, batch)
    parts = [0.5 * rng.standard_normal(lead + s) for s in m.state_shapes()]
    if isinstance(m, nn.SLSTM):
        parts[2] = np.abs(parts[2]) + 0.5  # a normaliser is positive
    return tuple(parts)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_names_and_state(kind):
    m = make(kind)
    x = seeded_rng(kind).standard_normal((T, B, D))
    out, state = m(x)
    assert out.shape == (T, B, H) and out.dtype == np.float64
    assert [s.shape for s in state] == [(2, B) + s for s in m.state_shapes()]
    assert [s.shape for s in m.initial_state(7)] == [(2, 7) + s for s in m.state_shapes()]
    if kind == "slstm":
        assert [n for n, _ in m.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_l0", "weight_ih_l1",
                                                       "weight_hh_l1", "bias_l1"]
        assert m.weight_ih_l1.shape == (4 * H, H) and m.weight_hh_l0.shape == (4 * H, H // 3)
        assert m.STATE_NAMES == ("h", "c", "n", "m")
        assert_close(state[0][-1], out[-1], 0, "h_n is the top layer's last output")
    else:
        assert [n for n, _ in m.named_parameters()] == ["weight_l0", "bias_l0", "weight_l1", "bias_l1"]
        assert m.weight_l0.shape == (4 * H + 2 * 2, D) and m.weight_l1.shape == (4 * H + 4, H)
        assert m.STATE_NAMES == ("C", "n", "m")


@pytest.mark.parametrize("kind", KINDS)
def test_carried_state_continues_the_sequence(kind):
    """Two chunks with the state carried equal one pass over the whole sequence (truncated BPTT's forward)."""
    m = make(kind)
    x = seeded_rng("carry", kind).standard_normal((8, B, D))
    whole, state = m(x)
    first, s1 = m(x[:3])
    second, s2 = m(x[3:], s1)
    assert_close(np.concatenate([first, second]), whole, 1e-12, "outputs")
    for a, b in zip(s2, state):
        assert_close(a, b, 1e-12, "final state")


@pytest.mark.parametrize("kind", KINDS)
def test_batch_first_and_unbatched_are_layouts_of_the_same_computation(kind):
    rng = seeded_rng("layouts", kind)
    m, mb = make(kind), make(kind, batch_first=True)
    x = rng.standard_normal((T, B, D))
    state = random_state(m, B, rng)
    out, st = m(x, state)
    dout = rng.standard_normal(out.shape)
    dx, dst = m.backward(dout)
    out_b, st_b = mb(x.transpose(1, 0, 2), state)
    dx_b, dst_b = mb.backward(dout.transpose(1, 0, 2))
    assert_close(out_b.transpose(1, 0, 2), out, 1e-12, "batch_first output")
    assert_close(dx_b.transpose(1, 0, 2), dx, 1e-12, "batch_first dx")
    for a, b in zip(dst_b + st_b, dst + st):
        assert_close(a, b, 1e-12, "batch_first state")
    out_u, st_u = m(x[:, 1], tuple(s[:, 1] for s in state))
    dx_u, dst_u = m.backward(dout[:, 1])
    assert_close(out_u, out[:, 1], 1e-12, "unbatched output")
    assert_close(dx_u, dx[:, 1], 1e-12, "unbatched dx")
    for a, b in zip(st_u + dst_u, st + dst):
        assert_close(a, b[:, 1], 1e-12, "unbatched state")


@pytest.mark.parametrize("kind", KINDS)
def test_finite_differences_of_inputs_states_and_parameters(kind):
    m = make(kind)
    rng = seeded_rng("fd", kind)
    report = check_module(m, rng.standard_normal((T, B, D)), random_state(m, B, rng))
    assert report.ok and len(report.errors) == 1 + len(m.STATE_NAMES) + len(list(m.parameters()))


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_mlstm_forms_are_one_module(forget_gate):
    """The same weights in both forms: outputs, states and every gradient agree to 1e-10."""
    rng = seeded_rng("forms", forget_gate)
    par = make("mlstm-parallel", forget_gate=forget_gate)
    rec = make("mlstm-recurrent", forget_gate=forget_gate)
    rec.load_state_dict(par.state_dict())
    x, state = rng.standard_normal((9, B, D)), random_state(par, B, rng)
    douts = (rng.standard_normal((9, B, H)), tuple(rng.standard_normal(s.shape) for s in state))
    results = []
    for m in (par, rec):
        m.zero_grad()
        out, st = m(x, state)
        dx, dst = m.backward(*douts)
        results.append([out, *st, dx, *dst, *(p.grad.copy() for p in m.parameters())])
    for a, b in zip(*results):
        assert_close(a, b, 1e-10, "parallel vs recurrent")


@pytest.mark.parametrize("kind", KINDS)
def test_layer_api_is_the_module(kind):
    """Running the layers one by one with the per-layer API gives the module's outputs and gradients."""
    rng = seeded_rng("layer-api", kind)
    m = make(kind)
    x, state = rng.standard_normal((T, B, D)), random_state(m, B, rng)
    out, st = m(x, state)
    dout = rng.standard_normal(out.shape)
    dx, dst = m.backward(dout)
    grads = [p.grad.copy() for p in m.parameters()]
    m.zero_grad()
    y0 = m.layer_forward(0, x, tuple(s[0] for s in state))
    y1 = m.layer_forward(1, y0.y.copy(), tuple(s[1] for s in state))
    assert_close(y1.y, out, 1e-13, "layer output")
    g1 = m.layer_backward(1, y1.cache, dout)
    g0 = m.layer_backward(0, y0.cache, g1.dx)
    assert_close(g0.dx, dx, 1e-13, "dx")
    for k, part in enumerate(dst):
        assert_close(np.stack([g0.dstate[k], g1.dstate[k]]), part, 1e-13, f"dstate {k}")
    for g, p in zip(grads, m.parameters()):
        assert_close(p.grad, g, 1e-13, "parameter gradient")
    assert list(m.layer_parameters(1)) == [r for r in m.PARAMETER_ROLES]


@pytest.mark.parametrize("kind", KINDS)
def test_reference_tier_is_the_same_layer(kind):
    """``layer_forward(reference=True)`` runs the textbook twin: same results; its cache is recognised."""
    rng = seeded_rng("tiers", kind)
    m = make(kind, num_layers=1)
    x, state = rng.standard_normal((T, B, D)), tuple(s[0] for s in random_state(m, B, rng))
    fast, ref = m.layer_forward(0, x, state), m.layer_forward(0, x, state, reference=True)
    assert not m.is_reference_cache(fast.cache) and m.is_reference_cache(ref.cache)
    assert isinstance(ref.cache, (R.slstm.SequenceCache, R.mlstm.SequenceCache, R.mlstm_parallel.SequenceCache))
    for a, b in zip((fast.y, *fast.state), (ref.y, *ref.state)):
        assert_close(a, b, 1e-12, "tier")
    dy = rng.standard_normal((T, B, H))
    g_fast, g_ref = m.layer_backward(0, fast.cache, dy), m.layer_backward(0, ref.cache, dy)
    for a, b in zip((g_fast.dx, *g_fast.dstate), (g_ref.dx, *g_ref.dstate)):
        assert_close(a, b, 1e-12, "tier gradients")


def test_dropout_between_layers_and_eval():
    m = nn.SLSTM(D, H, num_layers=3, dropout=0.5, dtype=np.float64, rng=3)
    x = seeded_rng("dropout").standard_normal((T, B, D))
    a, _ = m(x)
    b, _ = m(x)
    assert not np.allclose(a, b)  # a fresh mask per call while training
    m.eval()
    c, _ = m(x)
    d, _ = m(x)
    assert_close(c, d, 0, "eval is deterministic")


def test_no_grad_keeps_no_cache_and_float32_runs():
    m = nn.MLSTM(D, 8, dtype=np.float32, rng=0)
    x = seeded_rng("f32").standard_normal((T, B, D)).astype(np.float32)
    with nn.no_grad():
        out, state = m(x)
    assert out.dtype == np.float32 and all(s.dtype == np.float32 for s in state)
    with pytest.raises(RuntimeError, match="no forward pass"):
        m.backward(np.ones_like(out))
    out, _ = m(x)
    dx, _ = m.backward(np.ones_like(out))
    assert dx.dtype == np.float32


def test_initialisation():
    m = nn.MLSTM(10, 8, num_heads=4, rng=0)
    W, b = m.weight_l0.data, m.bias_l0.data
    H, K = 8, 4
    assert np.all(np.abs(W[:3 * H]) <= 1 / np.sqrt(10)) and np.all(W[3 * H:3 * H + 2 * K] == 0)
    np.testing.assert_allclose(b[3 * H + K:3 * H + 2 * K], np.linspace(3, 6, K), rtol=1e-6)
    s = nn.SLSTM(10, 8, rng=0)
    assert np.all(np.abs(s.weight_hh_l0.data) <= 1 / np.sqrt(8)) and s.weight_hh_l0.shape == (32, 8)
    assert repr(s) == "SLSTM(10, 8, num_heads=1)"
    assert repr(nn.MLSTM(3, 4, num_heads=2, form="recurrent", forget_gate="exp", dtype=np.float64)) == (
        "MLSTM(3, 4, num_heads=2, dtype=float64, form='recurrent', forget_gate='exp')")


def test_ops_are_the_functional_ones():
    assert nn.SLSTM._op is F.slstm and nn.SLSTM._reference_op is R.slstm
    assert nn.MLSTM(4, 4, num_heads=1)._op is F.mlstm_parallel
    assert nn.MLSTM(4, 4, num_heads=1, form="recurrent")._reference_op is R.mlstm


# ------------------------------------------------------------------------------------------------- errors
def test_constructor_errors():
    with pytest.raises(ValueError, match=r"^SLSTM: hidden_size=6 must be divisible by num_heads=4 "):
        nn.SLSTM(3, 6, num_heads=4)
    with pytest.raises(ValueError, match=r"^MLSTM: hidden_size=6 must be divisible by num_heads=4 "):
        nn.MLSTM(3, 6, num_heads=4)
    with pytest.raises(ValueError, match=r"^SLSTM: forget_gate must be one of 'sigmoid', 'exp', got 'tanh'$"):
        nn.SLSTM(3, 6, forget_gate="tanh")
    with pytest.raises(ValueError, match=r"^MLSTM: form must be one of 'parallel', 'recurrent', got 'chunkwise'$"):
        nn.MLSTM(3, 8, form="chunkwise")
    with pytest.raises(ValueError, match=r"^MLSTM: num_heads must be > 0, got 0$"):
        nn.MLSTM(3, 8, num_heads=0)
    with pytest.raises(TypeError, match=r"^SLSTM: dtype must be float32 or float64, got int64$"):
        nn.SLSTM(3, 6, dtype=np.int64)


def test_state_errors():
    m = nn.SLSTM(D, H, num_layers=2, dtype=np.float64, rng=0)
    x = np.zeros((T, B, D))
    with pytest.raises(TypeError, match=r"^SLSTM.forward: state must be a tuple \(h0, c0, n0, m0\) of 4 arrays, "
                                        r"got a tuple of length 2$"):
        m(x, (np.zeros((2, B, H)), np.zeros((2, B, H))))
    bad = list(m.initial_state(B))
    bad[2] = np.zeros((2, B + 1, H))
    with pytest.raises(ValueError, match=r"^SLSTM.forward: n0 must have shape \(2, 3, 6\) \(num_layers, batch, "
                                         r"hidden_size\), got \(2, 4, 6\)$"):
        m(x, tuple(bad))
    assert nn.MLSTM(3, 7).num_heads == 1 and nn.SLSTM(3, 7).num_heads == 1  # one head by default: any size
    mm = nn.MLSTM(D, H, num_heads=2, dtype=np.float64)
    with pytest.raises(ValueError, match=r"^MLSTM.forward: C0 must have shape \(1, 3, 2, 3, 3\) \(num_layers, "
                                         r"batch, num_heads, head_size, head_size\), got \(1, 3, 3, 3\)$"):
        mm(x, (np.zeros((1, B, 3, 3)), np.zeros((1, B, 2, 3)), np.zeros((1, B, 2))))
    mm(x)
    with pytest.raises(ValueError, match=r"^MLSTM.backward: dm_n must have shape \(1, 3, 2\) \(num_layers, batch, "
                                         r"num_heads\), got \(1, 3\)$"):
        mm.backward(None, (None, None, np.zeros((1, B))))
    with pytest.raises(ValueError, match=r"^MLSTM.backward: dout must have shape \(5, 3, 6\) \(the output's shape\)"):
        mm.backward(np.zeros((T, B, H + 1)))
    dx, dstate = mm.backward(None, (None, None, np.ones((1, B, 2))))  # the rejected calls kept the cache
    assert dx.shape == (T, B, D) and dstate[0].shape == (1, B, 2, 3, 3)
    with pytest.raises(ValueError, match=r"^SLSTM.layer_parameters: direction must be 0 \(SLSTM layers are "
                                         r"unidirectional\), got 1$"):
        m.layer_parameters(0, 1)
    with pytest.raises(ValueError, match=r"record needs a cache made by layer_forward\(\.\.\., reference=True\)"):
        out = m.layer_forward(0, x, tuple(s[0] for s in m.initial_state(B)))
        m.layer_backward(0, out.cache, None, record=lambda rec: None)
