"""NumPy-only helpers shared by the whole test suite (importable anywhere: ``pythonpath = ["tests"]``).

``assert_close`` is the one tolerance check (a torch tensor is accepted as the reference when torch is already
loaded, without importing torch here); ``seeded_rng`` and ``distinct_uniform`` make random, non-zero, distinct
test values. Helpers that need PyTorch live in ``torch_helpers.py``.
"""

from __future__ import annotations

import sys
import zlib
from typing import Any

import numpy as np


def _as_numpy(a: Any) -> np.ndarray:
    torch = sys.modules.get("torch")  # a tensor can only exist if torch is loaded: never import it here
    if torch is not None and isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def assert_close(ours: Any, ref: Any, rtol: float = 1e-10, name: str = "array") -> None:
    """Assert ``max|ours - ref| <= rtol * max(max|ref|, 1e-300)`` (one scale for the whole array).

    ``ref`` may be a torch tensor or an array. Shapes must be equal; NaNs must sit at the same positions (and
    are then ignored); a float64 reference requires a float64 result (no silent down-casts).
    """
    if ref is None or ours is None:
        assert ours is None and ref is None, (
            f"{name}: ours is {type(ours).__name__}, reference is {type(ref).__name__}"
        )
        return
    o = _as_numpy(ours)
    r = _as_numpy(ref)
    assert o.shape == r.shape, f"{name}: shape mismatch, ours {o.shape} vs reference {r.shape}"
    if r.dtype == np.float64:
        assert o.dtype == np.float64, f"{name}: dtype mismatch, ours {o.dtype} vs reference float64"
    o = o.astype(np.float64)
    r = r.astype(np.float64)
    nan_o, nan_r = np.isnan(o), np.isnan(r)
    if not np.array_equal(nan_o, nan_r):
        raise AssertionError(
            f"{name}: NaN pattern differs: ours has {int(nan_o.sum())} NaNs, reference {int(nan_r.sum())} "
            f"(of {o.size}); first differing index "
            f"{np.unravel_index(int(np.argmax(nan_o != nan_r)), o.shape) if o.ndim else ()}\n"
            f"ours={o!r}\nreference={r!r}"
        )
    keep = ~nan_r
    if not keep.any():
        return
    if not np.array_equal(np.isinf(o) & keep, np.isinf(r) & keep) or not np.array_equal(
        o[np.isinf(r)], r[np.isinf(r)]
    ):
        raise AssertionError(f"{name}: infinities differ\nours={o!r}\nreference={r!r}")
    fin = keep & np.isfinite(r)
    diff = np.where(fin, np.abs(o - r), 0.0)
    err = float(diff.max(initial=0.0))
    scale = max(float(np.abs(np.where(fin, r, 0.0)).max(initial=0.0)), 1e-300)
    if not err <= rtol * scale:
        idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        raise AssertionError(
            f"{name}: max|ours - reference| = {err:.3e} > {rtol:g} * max|reference| = {rtol * scale:.3e} "
            f"(relative {err / scale:.3e}); worst at index {tuple(int(i) for i in idx)}: "
            f"ours={o[idx]!r}, reference={r[idx]!r}; shape {o.shape}"
        )


def seeded_rng(*parts: Any) -> np.random.Generator:
    """A Generator whose seed is a stable hash of ``parts`` (e.g. a test's parameters)."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def distinct_uniform(
    rng: np.random.Generator, shape: tuple, low: float = -0.6, high: float = 0.6
) -> np.ndarray:
    """Random non-zero values (|v| >= 0.05) in [low, high]; all distinct with probability 1."""
    v = rng.uniform(low, high, shape)
    v = np.where(np.abs(v) < 0.05, np.copysign(0.05, v) + v, v)
    return v
