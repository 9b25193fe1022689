r"""Hyperbolic tangent.

.. math::  y = \tanh(x), \qquad \frac{dy}{dx} = 1 - y^2
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class TanhCache(NamedTuple):
    y: np.ndarray  # the output tanh(x)


def forward(x: np.ndarray) -> tuple[np.ndarray, TanhCache]:
    """Return ``y = tanh(x)``; the cache holds ``y``."""
    y = np.tanh(x)
    return y, TanhCache(y)


def backward(dy: np.ndarray, cache: TanhCache) -> np.ndarray:
    """Return ``dx = dy * (1 - y**2)``."""
    y = cache.y
    return dy * (1 - y * y)
