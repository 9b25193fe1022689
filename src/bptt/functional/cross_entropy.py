r"""Fused softmax + cross-entropy, averaged over the non-ignored targets.

For logits ``x`` of shape ``(N, C)`` and integer targets ``y`` of shape ``(N,)``; rows whose target equals
``ignore_index`` contribute nothing. With :math:`M` the number of kept rows and the stable log-sum-exp:

.. math::

    L = \frac{1}{M} \sum_{n:\,y_n \ne \mathrm{ignore}} \Big( \log \sum_j e^{x_{nj}} - x_{n y_n} \Big)

Its gradient is the famous "softmax minus one-hot" (seed 000's eq. 3):

.. math::  \frac{\partial L}{\partial x_{nk}} = \frac{1}{M}\big(p_{nk} - [k = y_n]\big)\,[y_n \ne \mathrm{ignore}]

``reduction`` may be ``"mean"`` (above), ``"sum"`` (no :math:`1/M`) or ``"none"`` (the per-row losses, 0 for
ignored rows). When every target is ignored, the mean is NaN and its gradient 0, as in PyTorch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CrossEntropyCache(NamedTuple):
    p: np.ndarray  # (N, C) softmax(x)
    y_safe: np.ndarray  # (N,) targets, ignored ones replaced by 0
    keep: np.ndarray  # (N,) boolean: target is not ignore_index
    M: int  # number of kept rows
    reduction: str


def forward(
    x: np.ndarray, y: np.ndarray, ignore_index: int = -100, reduction: str = "mean"
) -> tuple[np.ndarray, CrossEntropyCache]:
    """Return the loss (a 0-d array, or ``(N,)`` for ``reduction="none"``) and the cache."""
    N = x.shape[0]
    keep = y != ignore_index
    y_safe = np.where(keep, y, 0)
    m = x.max(axis=1, keepdims=True)
    z = x - m
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    lse = np.log(s)[:, 0]
    losses = (lse - z[np.arange(N), y_safe]) * keep
    M = int(keep.sum())
    if reduction == "mean":
        loss = np.asarray(losses.sum() / M if M else np.nan, dtype=x.dtype)
    elif reduction == "sum":
        loss = np.asarray(losses.sum(), dtype=x.dtype)
    else:
        loss = losses.astype(x.dtype, copy=False)
    p = e / s
    return loss, CrossEntropyCache(p, y_safe, keep, M, reduction)


def backward(dloss: np.ndarray | float, cache: CrossEntropyCache) -> np.ndarray:
    """Return ``dx = dloss * (softmax(x) - onehot(y)) / M`` on kept rows (0 on ignored rows)."""
    p, y_safe, keep, M, reduction = cache
    N = p.shape[0]
    dx = p.copy()
    dx[np.arange(N), y_safe] -= 1
    dx *= keep[:, None]
    dloss = np.asarray(dloss, dtype=p.dtype)
    if reduction == "mean":
        dx *= dloss / M if M else 0.0  # no kept rows: the gradient is 0 (PyTorch), the loss NaN
    elif reduction == "sum":
        dx *= dloss
    else:
        dx *= dloss[:, None]
    return dx
