r"""Affine map (fully connected layer), PyTorch layout.

Forward, for ``x`` of shape ``(..., D)``, ``W`` of shape ``(K, D)`` and ``b`` of shape ``(K,)``:

.. math::  y = x W^\top + b

Backward, given :math:`dy = \partial L / \partial y` of shape ``(..., K)``; all leading axes are flattened
to one axis of ``N`` rows so each weight gradient is a single matrix product:

.. math::

    dx = dy\, W, \qquad dW = dy^\top x \;(\text{summed over the } N \text{ rows}), \qquad db = \textstyle\sum_n dy_n

This is the seed's ``DWy`` / ``DBy`` (figures 9-11 of seed 000).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LinearCache(NamedTuple):
    x: np.ndarray
    W: np.ndarray
    has_bias: bool


def forward(x: np.ndarray, W: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, LinearCache]:
    """Return ``y = x @ W.T + b`` and the cache ``(x, W, has_bias)``."""
    y = np.matmul(x, W.T)
    if b is not None:
        y += b
    return y, LinearCache(x, W, b is not None)


def backward(dy: np.ndarray, cache: LinearCache) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(dx, dW, db)``; ``db`` is ``None`` when the forward pass had no bias."""
    x, W, has_bias = cache
    K, D = W.shape
    dx = np.matmul(dy, W)
    dy2 = dy.reshape(-1, K)
    dW = np.matmul(dy2.T, x.reshape(-1, D))
    db = dy2.sum(axis=0) if has_bias else None
    return dx, dW, db
