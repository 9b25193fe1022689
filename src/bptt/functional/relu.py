r"""Rectified linear unit.

.. math::  y = \max(x, 0), \qquad \frac{dy}{dx} = [x > 0]

(the subgradient at 0 is taken as 0, as PyTorch does).
"""

from __future__ import annotations

import numpy as np


def forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``y = max(x, 0)``; the cache is the mask ``x > 0``."""
    mask = x > 0
    return np.where(mask, x, 0).astype(x.dtype, copy=False), mask


def backward(dy: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Return ``dx = dy * [x > 0]``."""
    return np.where(cache, dy, 0).astype(dy.dtype, copy=False)
