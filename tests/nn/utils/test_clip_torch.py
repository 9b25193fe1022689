"""``bptt.nn.utils.clip_grad_norm_`` and ``clip_grad_value_`` against ``torch.nn.utils``."""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest
import torch

from bptt.nn import Parameter
from bptt.nn.utils import clip_grad_norm_, clip_grad_value_

pytestmark = pytest.mark.torch

SHAPES = [(3, 4), (7,), (2, 3, 5)]


def _rng(*parts: Any) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def _pair(grads: list[np.ndarray]) -> tuple[list[Parameter], list[torch.Tensor]]:
    ours = [Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype, requires_grad=True) for g in grads]
    for p, t, g in zip(ours, theirs, grads, strict=True):
        p.grad[...] = g
        t.grad = torch.tensor(g.copy())
    return ours, theirs


def _rel(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).max()) / max(float(np.abs(ref).max()), 1e-300)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("factor", [0.3, 0.999, 2.0], ids=["clips", "just-below", "no-clip"])
def test_clip_grad_norm_matches_torch(norm_type: float, factor: float) -> None:
    rng = _rng("norm", norm_type, factor)
    grads = [rng.standard_normal(s) * 3.0 for s in SHAPES]
    ours, theirs = _pair(grads)
    total_ref = float(torch.nn.utils.get_total_norm([t.grad for t in theirs], norm_type))
    max_norm = factor * total_ref
    ref = float(torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type))
    got = clip_grad_norm_(ours, max_norm, norm_type)
    assert isinstance(got, float)
    assert abs(got - ref) <= 1e-12 * ref, (got, ref)
    for p, t, g in zip(ours, theirs, grads, strict=True):
        assert p.grad.dtype == np.float64
        assert _rel(p.grad, t.grad.numpy()) <= 1e-12
        if factor > 1:
            assert np.array_equal(p.grad, g)  # untouched when the norm is within bounds
    if factor < 1:  # after clipping, the total norm is max_norm (up to the 1e-6 guard)
        after = clip_grad_norm_(ours, 1e300, norm_type)
        assert after == pytest.approx(max_norm, rel=1e-6)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_float32(norm_type: float) -> None:
    rng = _rng("f32", norm_type)
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours, theirs = _pair(grads)
    ref = float(torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type))
    got = clip_grad_norm_(ours, 0.5, norm_type)
    assert abs(got - ref) <= 1e-6 * ref
    for p, t in zip(ours, theirs, strict=True):
        assert p.grad.dtype == np.float32
        assert _rel(p.grad, t.grad.numpy()) <= 1e-6


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_clip_grad_norm_nonfinite_matches_torch(norm_type: float, where: int) -> None:
    """A NaN anywhere makes the total NaN and every gradient NaN (PyTorch scales by the NaN coefficient)."""
    rng = _rng("nan", norm_type, where)
    grads = [rng.standard_normal(s) for s in SHAPES]
    grads[where].flat[1] = np.nan
    ours, theirs = _pair(grads)
    ref = float(torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type))
    got = clip_grad_norm_(ours, 1.0, norm_type)
    assert math.isnan(ref) and math.isnan(got)
    for p, t in zip(ours, theirs, strict=True):
        assert np.array_equal(np.isnan(p.grad), np.isnan(t.grad.numpy()))
        assert np.isnan(p.grad).all()
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order .* is non-finite"):
        clip_grad_norm_(_pair(grads)[0], 1.0, norm_type, error_if_nonfinite=True)


def test_clip_grad_norm_infinite_matches_torch() -> None:
    grads = [np.array([np.inf, 2.0]), np.array([1.0, -3.0])]
    ours, theirs = _pair(grads)
    ref = float(torch.nn.utils.clip_grad_norm_(theirs, 1.0))
    got = clip_grad_norm_(ours, 1.0)
    assert ref == got == math.inf
    for p, t in zip(ours, theirs, strict=True):
        r = t.grad.numpy()
        assert np.array_equal(np.isnan(p.grad), np.isnan(r))
        assert np.array_equal(p.grad[~np.isnan(r)], r[~np.isnan(r)])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(_pair(grads)[0], 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("clip_value", [0.0, 0.1, 0.7, 5.0])
def test_clip_grad_value_matches_torch(clip_value: float) -> None:
    rng = _rng("value", clip_value)
    grads = [rng.standard_normal(s) for s in SHAPES]
    grads[0].flat[0] = np.nan
    ours, theirs = _pair(grads)
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert clip_grad_value_(ours, clip_value) is None
    for p, t in zip(ours, theirs, strict=True):
        r = t.grad.numpy()
        assert np.array_equal(p.grad, r, equal_nan=True)
    assert all(np.nanmax(np.abs(p.grad)) <= clip_value for p in ours)
