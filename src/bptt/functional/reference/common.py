r"""What every textbook recurrent op shares: the logistic sigmoid, the order of the steps and the packed mask.

.. math::  \sigma(a) = \frac{1}{1 + e^{-a}}, \qquad \sigma'(a) = \sigma(a)\,(1 - \sigma(a))

and its logarithm, which the exponentially gated cells (sLSTM, mLSTM) use for a sigmoid forget gate in log
space:

.. math::  \log\sigma(a) = -\log(1 + e^{-a}), \qquad \frac{d \log\sigma(a)}{da} = 1 - \sigma(a)

A layer runs its steps ``t = 0 .. T-1``, or ``T-1 .. 0`` for the reverse direction; its outputs are always
stored in *time* order (``y[t]`` belongs to ``x[t]`` in both directions).

**Packed sequences.** With ``lengths`` (``(B,)`` ints in ``[1, T]``), row ``b`` of the batch exists only at
steps ``t < lengths[b]``. The mask :math:`m_t = [t < \ell_b]` of shape ``(B, 1)`` decides, per row, what a
step does: where :math:`m_t` is false the cell's result is thrown away (the state is kept, the output is
zero), and in the backward pass the cell receives no gradient while the carried gradients pass straight
through to step ``t - 1``.
"""

from __future__ import annotations

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-a))`` (``exp`` may overflow to inf for very negative ``a``,
    which correctly gives 0; the warning is silenced)."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-a))


def log_sigmoid(a: np.ndarray) -> np.ndarray:
    """``log(sigmoid(a)) = -log(1 + exp(-a))``, through ``logaddexp`` (never overflows)."""
    return -np.logaddexp(0, -a)


def processing_order(T: int, reverse: bool) -> list[int]:
    """The time steps in the order a layer visits them: ``0 .. T-1``, or ``T-1 .. 0`` when ``reverse``."""
    return list(range(T - 1, -1, -1)) if reverse else list(range(T))


def packed_mask(lengths: np.ndarray | None, T: int, B: int) -> np.ndarray:
    """``(T, B, 1)`` booleans, ``mask[t, b] = t < lengths[b]`` (all True when ``lengths`` is None)."""
    if lengths is None:
        return np.ones((T, B, 1), dtype=bool)
    return (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[:, :, None]
