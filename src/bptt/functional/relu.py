r"""Rectified linear unit.

.. math::  y = \max(x, 0), \qquad \frac{dy}{dx} = [x > 0]

(the subgradient at 0 is taken as 0, as PyTorch does).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ReLUCache(NamedTuple):
    positive: np.ndarray  # boolean mask x > 0


def forward(x: np.ndarray) -> tuple[np.ndarray, ReLUCache]:
    """Return ``y = max(x, 0)``; the cache holds the mask ``x > 0``."""
    positive = x > 0
    return np.where(positive, x, 0).astype(x.dtype, copy=False), ReLUCache(positive)


def backward(dy: np.ndarray, cache: ReLUCache) -> np.ndarray:
    """Return ``dx = dy * [x > 0]``."""
    return np.where(cache.positive, dy, 0).astype(dy.dtype, copy=False)
