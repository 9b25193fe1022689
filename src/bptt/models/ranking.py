"""Ranking beam-search hypotheses: the best ``k`` of each row, and GNMT's length penalty computed so that no
``alpha`` overflows, warns or gives NaN.

GNMT divides a hypothesis's sum of log-probabilities ``total`` (<= 0) by ``lp = ((5 + length) / 6) ** alpha``.
``lp`` overflows a float for a large ``alpha`` (and a float32 already for moderate ones), but
``total / lp = -exp(log(-total) - log(lp))`` is ordered exactly like ``-(log(-total) - log(lp))``, whose terms
stay finite: :func:`penalised_rank` ranks with that; :func:`penalised` gives the penalised score itself.
"""

from __future__ import annotations

import numpy as np

__all__ = ["length_penalty", "log_length_penalty", "penalised", "penalised_rank", "top_k"]


def length_penalty(lengths: np.ndarray | int, alpha: float) -> np.ndarray:
    """GNMT's ``((5 + length) / 6) ** alpha`` (float64; ``inf`` where it overflows)."""
    with np.errstate(over="ignore"):
        return np.exp(log_length_penalty(np.asarray(lengths), alpha))


def log_length_penalty(lengths: np.ndarray, alpha: float) -> np.ndarray:
    """The logarithm of GNMT's length penalty ``lp = ((5 + length) / 6) ** alpha``, in float64 (``lp`` itself
    overflows for large ``alpha``; its logarithm never does)."""
    return alpha * np.log((5.0 + lengths.astype(np.float64)) / 6.0)


def penalised_rank(total: np.ndarray, lengths: np.ndarray, alpha: float) -> np.ndarray:
    """A score that orders hypotheses as ``total / lp`` does (``total`` <= 0, sums of log-probabilities),
    computed stably for any ``alpha``: ``total / lp = -exp(log(-total) - log(lp))``, so ranking by
    ``-(log(-total) - log(lp))`` is the same and stays finite (``-inf`` for dead beams)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.log(np.maximum(-total.astype(np.float64), np.finfo(np.float64).tiny))
        return -(magnitude - log_length_penalty(lengths, alpha))


def penalised(total: np.ndarray, lengths: np.ndarray, alpha: float) -> np.ndarray:
    """``total / lp`` (float64; it may underflow to 0 or reach -inf, but never warns or becomes NaN)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = total.astype(np.float64) * np.exp(-log_length_penalty(lengths, alpha))
    return np.where(total == 0, 0.0, out)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row, best first; ties go to the lower index."""
    n = scores.shape[1]
    if k >= n or n <= 4096:
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1)
