"""bptt.nn.MinGRU / MinLSTM, NumPy only: the modes agree, finite differences through stacks, packed-sequence
semantics, parameter names, init, shapes with a projection, and errors named at the boundary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bptt.gradcheck import check_module
from bptt.nn import MinGRU, MinLSTM
from helpers import assert_close, seeded_rng

CLASSES = [MinGRU, MinLSTM]


def _pair(cls, **kw):
    return (cls(3, 4, mode="parallel", dtype=np.float64, rng=7, **kw),
            cls(3, 4, mode="sequential", dtype=np.float64, rng=7, **kw))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True, "proj_size": 2},
                                {"num_layers": 3, "bias": False, "batch_first": True}])
def test_modes_agree_through_the_stack(cls, kw):
    rng = seeded_rng("nn-min-modes", cls.__name__, repr(kw))
    par, seq = _pair(cls, **kw)
    x = rng.standard_normal((2, 6, 3) if par.batch_first else (6, 2, 3))
    n = par.num_layers * par.num_directions
    h0 = rng.standard_normal((n, 2, 4))
    lengths = [6, 3]
    out_p, hn_p = par(x, h0, lengths=lengths)
    out_s, hn_s = seq(x, h0, lengths=lengths)
    assert_close(out_p, out_s, 1e-10, name="out")
    assert_close(hn_p, hn_s, 1e-10, name="h_n")
    dout, dhn = rng.standard_normal(out_p.shape), rng.standard_normal(hn_p.shape)
    dx_p, dh0_p = par.backward(dout, dhn)
    dx_s, dh0_s = seq.backward(dout, dhn)
    assert_close(dx_p, dx_s, 1e-10, name="dx")
    assert_close(dh0_p, dh0_s, 1e-10, name="dh0")
    for (name, p), (_, s) in zip(par.named_parameters(), seq.named_parameters()):
        assert_close(p.grad, s.grad, 1e-10, name=name)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_finite_differences_of_a_bidirectional_projected_stack(cls, mode):
    m = cls(3, 3, num_layers=2, bidirectional=True, proj_size=2, mode=mode, dtype=np.float64, rng=3)
    report = check_module(m, seeded_rng("nn-min-fd", cls.__name__, mode).standard_normal((4, 2, 3)))
    assert report.ok, str(report)
    assert "weight_out_l1_reverse" in report.errors and "bias_ih_l0" in report.errors


@pytest.mark.parametrize("cls", CLASSES)
def test_padded_steps_keep_the_state(cls):
    """A batch with lengths equals each sequence run alone on its own length (both directions)."""
    m = cls(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, rng=5)
    rng = seeded_rng("nn-min-lengths", cls.__name__)
    x = rng.standard_normal((7, 3, 3))
    lengths = np.array([7, 2, 5])
    out, hn = m(x, lengths=lengths)
    for b, L in enumerate(lengths):
        out_b, hn_b = m(x[:L, b : b + 1])
        assert_close(out[:L, b], out_b[:, 0], 1e-13, name=f"out {b}")
        assert np.all(out[L:, b] == 0)
        assert_close(hn[:, b], hn_b[:, 0], 1e-13, name=f"h_n {b}")


@pytest.mark.parametrize("cls,G", [(MinGRU, 2), (MinLSTM, 3)])
def test_parameters_names_shapes_and_init(cls, G):
    m = cls(10, 6, num_layers=2, proj_size=3, bidirectional=True, rng=0)
    shapes = {n: p.data.shape for n, p in m.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (G * 6, 10), "bias_ih_l0": (G * 6,), "weight_out_l0": (3, 6),
        "weight_ih_l0_reverse": (G * 6, 10), "bias_ih_l0_reverse": (G * 6,), "weight_out_l0_reverse": (3, 6),
        "weight_ih_l1": (G * 6, 6), "bias_ih_l1": (G * 6,), "weight_out_l1": (3, 6),
        "weight_ih_l1_reverse": (G * 6, 6), "bias_ih_l1_reverse": (G * 6,), "weight_out_l1_reverse": (3, 6),
    }
    assert np.abs(m.weight_ih_l0.data).max() <= 1 / math.sqrt(10)
    assert np.abs(m.weight_ih_l1.data).max() <= 1 / math.sqrt(6)
    assert np.abs(m.weight_ih_l0.data).max() > 0.8 / math.sqrt(10)  # uniform over the whole range
    assert np.abs(m.weight_out_l0.data).max() <= 1 / math.sqrt(6)
    assert m.weight_ih_l0.data.dtype == np.float32
    out, hn = m(np.zeros((5, 2, 10), dtype=np.float32))
    assert out.shape == (5, 2, 6) and hn.shape == (4, 2, 6)  # output 2 x proj_size, state hidden_size
    assert not m.has_cell_state and m.mode == cls.__name__ and m.scan_mode == "parallel"
    assert [n for n, _ in cls(2, 2, bias=False).named_parameters()] == ["weight_ih_l0"]


@pytest.mark.parametrize("cls", CLASSES)
def test_unbatched_and_batch_first_agree_with_time_major(cls):
    m = cls(3, 4, dtype=np.float64, rng=1)
    mb = cls(3, 4, dtype=np.float64, rng=1, batch_first=True)
    x = seeded_rng("nn-min-layout").standard_normal((5, 2, 3))
    out, hn = m(x)
    out_b, hn_b = mb(x.transpose(1, 0, 2))
    out_u, hn_u = m(x[:, 0])
    np.testing.assert_array_equal(out_b.transpose(1, 0, 2), out)
    np.testing.assert_array_equal(hn_b, hn)
    assert_close(out_u, out[:, 0], 1e-15)
    assert hn_u.shape == (1, 4)


@pytest.mark.parametrize("cls", CLASSES)
def test_errors_name_the_argument(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=f"^{name}: mode must be 'parallel' or 'sequential', got 'scan'$"):
        cls(3, 4, mode="scan")
    with pytest.raises(ValueError, match=f"^{name}: proj_size must be >= 0, got -1$"):
        cls(3, 4, proj_size=-1)
    m = cls(3, 4, proj_size=2, num_layers=2, dtype=np.float64)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5, 4\)"):
        m(np.zeros((3, 5, 3)), np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 3\]"):
        m(np.zeros((3, 5, 3)), lengths=[4, 1, 1, 1, 1])
    with pytest.raises(TypeError, match=f"hx must be a single array h0 for {name}"):
        m(np.zeros((3, 5, 3)), (np.zeros((2, 5, 4)), np.zeros((2, 5, 4))))


def test_projection_larger_than_the_state_is_allowed():
    m = MinGRU(2, 3, proj_size=5, rng=0)  # an up-projection (expansion factor < 1)
    out, hn = m(np.ones((2, 1, 2), dtype=np.float32))
    assert out.shape == (2, 1, 5) and hn.shape == (1, 1, 3)
