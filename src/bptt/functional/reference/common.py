r"""What every textbook recurrent op shares: the logistic sigmoid, the order of the steps and the packed mask.

.. math::  \sigma(a) = \frac{1}{1 + e^{-a}}, \qquad \sigma'(a) = \sigma(a)\,(1 - \sigma(a))

and its logarithm, which the exponentially gated cells (sLSTM, mLSTM) use for a sigmoid forget gate in log
space:

.. math::  \log\sigma(a) = -\log(1 + e^{-a}), \qquad \frac{d \log\sigma(a)}{da} = 1 - \sigma(a)

and, for minGRU and minLSTM, softplus and the paper's positivity function :math:`g`:

.. math::

    \operatorname{softplus}(a) = \log(1 + e^a), \qquad \log \sigma(a) = -\operatorname{softplus}(-a),
    \qquad \log(1 - \sigma(a)) = -\operatorname{softplus}(a)

    g(a) = \begin{cases} a + \tfrac12 & a \ge 0 \\ \sigma(a) & a < 0 \end{cases}, \qquad
    g'(a) = \begin{cases} 1 & a \ge 0 \\ \sigma(a)(1 - \sigma(a)) & a < 0 \end{cases}, \qquad
    (\log g)'(a) = \begin{cases} 1 / (a + \tfrac12) & a \ge 0 \\ 1 - \sigma(a) & a < 0 \end{cases}

(Feng et al., 2024, Appendix B: :math:`g` is continuous and positive, so a candidate state :math:`g(\cdot)` has a
logarithm; at :math:`a = 0` the derivative is taken from the right, as ``torch.where(a >= 0, ...)`` does.)

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


def softplus(a: np.ndarray) -> np.ndarray:
    """``log(1 + exp(a))``, evaluated as ``logaddexp(0, a)`` (no overflow)."""
    return np.logaddexp(0, a)


def g(a: np.ndarray) -> np.ndarray:
    """The paper's positivity function: ``a + 1/2`` for ``a >= 0``, ``sigmoid(a)`` below."""
    return np.where(a >= 0, a + 0.5, sigmoid(a))


def g_prime(a: np.ndarray) -> np.ndarray:
    """``g'(a)``: 1 for ``a >= 0``, ``sigmoid(a) (1 - sigmoid(a))`` below."""
    return np.where(a >= 0, 1.0, sigmoid(a) * (1 - sigmoid(a)))


def log_g(a: np.ndarray) -> np.ndarray:
    """``log g(a)``: ``log(a + 1/2)`` for ``a >= 0``, ``-softplus(-a)`` below (the paper's ``log_g``)."""
    return np.where(a >= 0, np.log(np.maximum(a, 0) + 0.5), -softplus(-a))


def log_g_prime(a: np.ndarray) -> np.ndarray:
    """``(log g)'(a)``: ``1 / (a + 1/2)`` for ``a >= 0``, ``1 - sigmoid(a)`` below."""
    return np.where(a >= 0, 1 / (np.maximum(a, 0) + 0.5), 1 - sigmoid(a))
