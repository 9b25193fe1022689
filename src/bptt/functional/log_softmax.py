r"""Log-softmax over the last axis, evaluated with the log-sum-exp shift.

.. math::

    \ell_k = x_k - m - \log \textstyle\sum_j e^{x_j - m}, \quad m = \max_j x_j

With :math:`p = e^{\ell}` (the softmax), :math:`\partial \ell_k / \partial x_j = \delta_{kj} - p_j`, so

.. math::  dx = d\ell - p \textstyle\sum_k d\ell_k
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LogSoftmaxCache(NamedTuple):
    ell: np.ndarray  # the output log_softmax(x)
    axis: int


def forward(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, LogSoftmaxCache]:
    """Return ``log_softmax(x)`` along ``axis`` and the cache ``(ell, axis)``."""
    z = x - x.max(axis=axis, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
    ell = z - lse
    return ell, LogSoftmaxCache(ell, axis)


def backward(dell: np.ndarray, cache: LogSoftmaxCache) -> np.ndarray:
    """Return ``dx = dell - softmax(x) * sum(dell)``."""
    ell, axis = cache
    return dell - np.exp(ell) * dell.sum(axis=axis, keepdims=True)
