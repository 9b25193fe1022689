r"""Softmax over the last axis (seed 000's figure 8, eq. 1).

.. math::

    p_k = \frac{e^{x_k - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j

The Jacobian is :math:`\partial p_k / \partial x_j = p_k(\delta_{kj} - p_j)`, so for an upstream gradient
:math:`dp`

.. math::  dx = p \odot \big(dp - \textstyle\sum_j dp_j\, p_j\big)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SoftmaxCache(NamedTuple):
    p: np.ndarray  # the output softmax(x)
    axis: int


def forward(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, SoftmaxCache]:
    """Return ``p = softmax(x)`` along ``axis`` and the cache ``(p, axis)``."""
    z = x - x.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z, SoftmaxCache(z, axis)


def backward(dp: np.ndarray, cache: SoftmaxCache) -> np.ndarray:
    """Return ``dx = p * (dp - sum(dp * p))``."""
    p, axis = cache
    return p * (dp - (dp * p).sum(axis=axis, keepdims=True))
