r"""minLSTM (Feng et al., 2024, "Were RNNs All We Needed?", §3.2 and Appendix B), one direction, whole sequence.

The LSTM with the previous state removed from its gates, the ``tanh`` removed from its candidate, the output
gate dropped (the cell state is the hidden state) and the forget and input gates normalised to sum to one, so
that the state's scale does not depend on time (§3.2, "minLSTM"). In the log-space variant (Appendix B) the
candidate passes through :math:`g` (:mod:`~bptt.functional.min_rnn`) in both modes:

.. math::

    [k^f_t, k^i_t, k^h_t] &= x_t W_{ih}^\top + b_{ih}      && \text{rows of } W_{ih} \text{: blocks } f, i, h\\
    f_t &= \sigma(k^f_t), \quad i_t = \sigma(k^i_t), \quad \tilde h_t = g(k^h_t)\\
    f'_t &= \frac{f_t}{f_t + i_t}, \qquad i'_t = \frac{i_t}{f_t + i_t}\\
    h_t &= f'_t \odot h_{t-1} + i'_t \odot \tilde h_t   && a_t = f'_t, \quad b_t = i'_t \odot \tilde h_t

**Parallel mode** forms the logarithms as the paper's listing does: with
:math:`\delta_t = \operatorname{softplus}(-k^f_t) - \operatorname{softplus}(-k^i_t) = \log(i_t / f_t)`,

.. math::  \log a_t = \log f'_t = -\operatorname{softplus}(\delta_t), \qquad
           \log b_t = \log i'_t + \log g(k^h_t) = -\operatorname{softplus}(-\delta_t) + \log g(k^h_t)

and runs Heinsen's log-space scan. **Sequential mode** forms the values and runs the step loop.

**Backward.** From the scan's gradients (:mod:`~bptt.functional.scan`). Sequential, through the normalisation
(with :math:`s = f + i`, :math:`\partial f'/\partial f = i/s^2`, :math:`\partial f'/\partial i = -f/s^2` and
the mirror images for :math:`i'`):

.. math::

    df' &= da, \qquad di' = db \odot \tilde h, \qquad d\tilde h = db \odot i'\\
    df &= (df' - di') \odot i / s^2, \qquad di = (di' - df') \odot f / s^2\\
    dk^f &= df \odot f (1 - f), \qquad dk^i = di \odot i (1 - i), \qquad dk^h = d\tilde h \odot g'(k^h)

Parallel, through :math:`\delta` (:math:`\sigma(-\delta) = f'`, :math:`\sigma(\delta) = i'`):

.. math::

    d\delta &= f' \odot d\log b - i' \odot d\log a\\
    dk^f &= -d\delta \odot (1 - f), \qquad dk^i = d\delta \odot (1 - i), \qquad dk^h = d\log b \odot (\log g)'(k^h)

**The initial state** :math:`h_0` is the state itself in both modes (the paper's parallel listing starts from
:math:`g(h_0)`; see :mod:`~bptt.functional.min_gru` and docs/cells.md). Arguments as
:func:`bptt.functional.min_gru.forward` with ``W_ih`` ``(3H, D)`` and ``b_ih`` ``(3H,)``. The textbook twin is
:mod:`bptt.functional.reference.min_lstm`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import min_rnn
from .min_rnn import MinRNNCache, MinRNNGrads, MinRNNProjectionGrads
from .workspace import Workspace

__all__ = ["MinRNNCache", "MinRNNGrads", "MinRNNProjectionGrads", "backward", "coefficients",
           "coefficients_backward", "forward", "log_coefficients", "log_coefficients_backward"]

GATES = 3  # row blocks of W_ih: f, i, h


def coefficients(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Sequential mode: ``(a, b, saved)`` with ``a = f'``, ``b = i' * g(k_h)``."""
    H = K.shape[-1] // GATES
    f = min_rnn.sigmoid(K[..., :H])
    i = min_rnn.sigmoid(K[..., H : 2 * H])
    h_tilde = min_rnn.g(K[..., 2 * H :])
    s = f + i
    f_prime = f / s
    i_prime = i / s
    return f_prime, i_prime * h_tilde, (f, i, s, i_prime, h_tilde)


def coefficients_backward(da: np.ndarray, db: np.ndarray, K: np.ndarray, saved: tuple) -> np.ndarray:
    """``dK`` from the gradients of ``a = f'`` and ``b = i' g(k_h)`` (sequential mode)."""
    f, i, s, i_prime, h_tilde = saved
    H = K.shape[-1] // GATES
    dK = np.empty(K.shape, dtype=K.dtype)
    q = (da - db * h_tilde) / (s * s)  # (df' - di') / s^2
    np.multiply(q * i, f * (1 - f), out=dK[..., :H])  # dk_f = df f (1 - f), df = q i
    np.multiply(-q * f, i * (1 - i), out=dK[..., H : 2 * H])  # dk_i = di i (1 - i), di = -q f
    np.multiply(db * i_prime, min_rnn.g_prime(K[..., 2 * H :]), out=dK[..., 2 * H :])
    return dK


def log_coefficients(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Parallel mode: ``(log_a, log_b, saved)`` through ``delta = softplus(-k_f) - softplus(-k_i)``;
    ``log i' = -softplus(-delta) = delta + log f'``."""
    H = K.shape[-1] // GATES
    delta = min_rnn.softplus(-K[..., :H])
    delta -= min_rnn.softplus(-K[..., H : 2 * H])
    log_a = min_rnn.softplus(delta)
    np.negative(log_a, out=log_a)
    log_b = min_rnn.log_g(K[..., 2 * H :])
    log_b += delta
    log_b += log_a
    return log_a, log_b, ()


def log_coefficients_backward(dlog_a: np.ndarray, dlog_b: np.ndarray, K: np.ndarray, saved: tuple,
                              a: np.ndarray) -> np.ndarray:
    """``dK`` from the gradients of ``log a`` and ``log b`` (parallel mode); ``a = f'`` from the scan."""
    H = K.shape[-1] // GATES
    d_delta = a * dlog_b  # f' d log b ...
    d_delta -= (1 - a) * dlog_a  # ... - i' d log a  (i' = 1 - f')
    dK = np.empty(K.shape, dtype=K.dtype)
    np.multiply(-d_delta, min_rnn.sigmoid(-K[..., :H]), out=dK[..., :H])  # 1 - f = sigmoid(-k_f)
    np.multiply(d_delta, min_rnn.sigmoid(-K[..., H : 2 * H]), out=dK[..., H : 2 * H])
    np.multiply(dlog_b, min_rnn.log_g_prime(K[..., 2 * H :]), out=dK[..., 2 * H :])
    return dK


_MATH = min_rnn.CellMath(coefficients, coefficients_backward, log_coefficients, log_coefficients_backward)


def forward(
    x: np.ndarray,
    h0: np.ndarray,
    W_ih: np.ndarray,
    b_ih: np.ndarray | None = None,
    W_out: np.ndarray | None = None,
    *,
    mode: str = "parallel",
    reverse: bool = False,
    lengths: np.ndarray | None = None,
    ws: Workspace | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], MinRNNCache]:
    """Run minLSTM over ``x``; returns ``((y, h_n), cache)`` as :func:`bptt.functional.min_gru.forward`."""
    return min_rnn.run_layer(_MATH, x, h0, W_ih, b_ih, W_out, mode, reverse, lengths, ws, record)


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None],
    cache: MinRNNCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> MinRNNGrads | MinRNNProjectionGrads:
    """Backpropagate ``dout = (dy, dh_n)``: as :func:`bptt.functional.min_gru.backward`."""
    return min_rnn.differentiate_layer(_MATH, dout, cache, ws, need_dx, record)
