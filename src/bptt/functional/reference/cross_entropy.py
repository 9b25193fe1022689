r"""Softmax cross-entropy unfused: the softmax, then the negative log-likelihood, each with its own backward.

This is the twin of :mod:`bptt.functional.cross_entropy` (same arguments, same results, held equal in float64
by the tests). The fast op jumps straight to the famous result :math:`dx = p - \mathrm{onehot}(y)` (seed 000's
eq. 3); here the chain rule is taken one link at a time, as seed 000's figure 8 derives it from its softmax
and cross-entropy articles. For logits ``x`` ``(N, C)``, targets ``y`` ``(N,)``, the kept rows
:math:`k_n = [y_n \ne \text{ignore\_index}]` and :math:`M = \sum_n k_n`:

.. math::

    p_{nc} &= \frac{e^{x_{nc} - \max_j x_{nj}}}{\sum_j e^{x_{nj} - \max_j x_{nj}}}
        && \text{softmax (eq. 1)}\\
    \ell_n &= -k_n \log p_{n y_n}, \qquad L = \tfrac{1}{M} \textstyle\sum_n \ell_n
        && \text{negative log-likelihood, averaged}

Backward, for an upstream :math:`dL`:

.. math::

    d\ell_n &= k_n\, dL / M\\
    dp_{nc} &= -d\ell_n\, [c = y_n] / p_{n y_n}                 && \text{through } -\log p \text{ (eq. 2)}\\
    dx_n &= p_n \odot \big(dp_n - \textstyle\sum_c dp_{nc}\, p_{nc}\big)   && \text{through the softmax}

which simplifies to :math:`dx_n = d\ell_n\,(p_n - \mathrm{onehot}(y_n))` (eq. 3): the fast op's formula.
``reduction`` ``"sum"`` drops the :math:`1/M`, ``"none"`` returns the :math:`\ell_n` (upstream ``(N,)``).
When every target is ignored the mean is NaN and its gradient 0, as in the fast op and PyTorch.

The textbook form divides by :math:`p_{n y_n}` and takes its logarithm, so for logits so extreme that the
target's probability underflows to 0 it gives inf/NaN where the fused op stays finite: it is for reading and
for checking, not for training.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CrossEntropyCache(NamedTuple):
    """What :func:`backward` needs."""

    p: np.ndarray  # (N, C) softmax(x)
    y_safe: np.ndarray  # (N,) targets, the ignored ones replaced by 0
    keep: np.ndarray  # (N,) booleans: the target is not ignore_index
    M: int  # number of kept rows
    reduction: str


def forward(
    x: np.ndarray, y: np.ndarray, ignore_index: int = -100, reduction: str = "mean"
) -> tuple[np.ndarray, CrossEntropyCache]:
    """Return the loss (0-d, or ``(N,)`` for ``reduction="none"``) and the cache, like the fast op."""
    N = x.shape[0]
    keep = y != ignore_index  # rows that count
    y_safe = np.where(keep, y, 0)  # any valid class for the ignored rows (their loss is dropped)
    shifted = x - x.max(axis=1, keepdims=True)  # the same softmax, without overflow
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)  # softmax (eq. 1)
    p_target = p[np.arange(N), y_safe]  # the probability of the right answer
    losses = np.where(keep, -np.log(p_target), 0)  # negative log-likelihood of each row
    M = int(keep.sum())
    if reduction == "mean":
        loss = np.asarray(losses.sum() / M if M else np.nan, dtype=x.dtype)
    elif reduction == "sum":
        loss = np.asarray(losses.sum(), dtype=x.dtype)
    else:
        loss = losses.astype(x.dtype, copy=False)
    return loss, CrossEntropyCache(p, y_safe, keep, M, reduction)


def backward(dloss: np.ndarray | float, cache: CrossEntropyCache) -> np.ndarray:
    """Return ``dx`` ``(N, C)``, the chain rule through the log-likelihood and then the softmax."""
    p, y_safe, keep, M, reduction = cache
    N = p.shape[0]
    rows = np.arange(N)
    dloss = np.asarray(dloss, dtype=p.dtype)
    if reduction == "mean":
        dlosses = keep * (dloss / M if M else 0.0)  # through L = sum(l) / M (no kept rows: no gradient)
    else:
        dlosses = keep * dloss  # "sum": through L = sum(l);  "none": the upstream is per row already
    dp = np.zeros_like(p)
    dp[rows, y_safe] = -dlosses / p[rows, y_safe]  # through l = -log p_target (eq. 2)
    dx = p * (dp - (dp * p).sum(axis=1, keepdims=True))  # through the softmax
    return dx.astype(p.dtype, copy=False)
