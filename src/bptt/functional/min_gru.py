r"""minGRU (Feng et al., 2024, "Were RNNs All We Needed?", §3.1 and Appendix B), one direction, whole sequence.

The GRU with the previous state removed from its gates and the ``tanh`` removed from its candidate
(§3.1, "minGRU"); in the paper's log-space variant (Appendix B) the candidate passes through the positivity
function :math:`g` (:mod:`~bptt.functional.min_rnn`) in *both* modes, so that :math:`\log b_t` exists:

.. math::

    [k^z_t, k^h_t] &= x_t W_{ih}^\top + b_{ih}       && \text{rows of } W_{ih} \text{: blocks } z, h\\
    z_t &= \sigma(k^z_t), \qquad \tilde h_t = g(k^h_t)\\
    h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t   && a_t = 1 - z_t, \quad b_t = z_t \odot \tilde h_t

**Sequential mode** forms :math:`a_t`, :math:`b_t` as values and runs the step loop. **Parallel mode** forms
their logarithms without rounding through a ``log`` (the paper's ``log_coeffs = -softplus(k)``,
``log_z = -softplus(-k)``):

.. math::  \log a_t = -\operatorname{softplus}(k^z_t), \qquad
           \log b_t = -\operatorname{softplus}(-k^z_t) + \log g(k^h_t)

and runs Heinsen's log-space scan (:func:`bptt.functional.scan.forward`).

**Backward.** From the scan's gradients (a reverse scan, :mod:`~bptt.functional.scan`):

.. math::

    \text{sequential:}\quad dz &= db \odot \tilde h - da, \qquad dk^z = dz \odot z (1 - z), \qquad
        dk^h = db \odot z \odot g'(k^h)\\
    \text{parallel:}\quad dk^z &= (1 - z) \odot d\log b - z \odot d\log a, \qquad
        dk^h = d\log b \odot (\log g)'(k^h)

(:math:`\tfrac{d}{dk}\,[-\operatorname{softplus}(k)] = -\sigma(k)`,
:math:`\tfrac{d}{dk}\,[-\operatorname{softplus}(-k)] = 1 - \sigma(k)`), the same numbers up to rounding.

**The initial state** :math:`h_0` is the state itself, of any sign, in both modes (the parallel scan adds
:math:`A_t h_0` outside the logarithm). The paper's log-space parallel listing feeds ``log_g(h_0)`` instead, i.e.
starts from :math:`g(h_0)`; pass ``h0 = g(h0)`` to reproduce it (docs/cells.md lists every convention).

Arguments: ``x`` ``(T, B, D)``, ``h0`` ``(B, H)``, ``W_ih`` ``(2H, D)``, ``b_ih`` ``(2H,)`` or None, ``W_out``
``(P, H)`` or None; ``mode`` ``"parallel"`` or ``"sequential"``, ``reverse``, ``lengths`` (packed sequences:
padded steps keep the state and output zero). The textbook twin is :mod:`bptt.functional.reference.min_gru`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import min_rnn
from .min_rnn import MinRNNCache, MinRNNGrads, MinRNNProjectionGrads
from .workspace import Workspace

__all__ = ["MinRNNCache", "MinRNNGrads", "MinRNNProjectionGrads", "backward", "coefficients",
           "coefficients_backward", "forward", "log_coefficients", "log_coefficients_backward"]

GATES = 2  # row blocks of W_ih: z, h


def coefficients(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Sequential mode: ``(a, b, saved)`` with ``a = 1 - z``, ``b = z * g(k_h)``."""
    H = K.shape[-1] // GATES
    k_z, k_h = K[..., :H], K[..., H:]
    z = min_rnn.sigmoid(k_z)
    h_tilde = min_rnn.g(k_h)
    return 1 - z, z * h_tilde, (z, h_tilde)


def coefficients_backward(da: np.ndarray, db: np.ndarray, K: np.ndarray, saved: tuple) -> np.ndarray:
    """``dK`` from the gradients of ``a`` and ``b`` (sequential mode)."""
    z, h_tilde = saved
    H = K.shape[-1] // GATES
    dK = np.empty(K.shape, dtype=K.dtype)
    dz = db * h_tilde - da
    np.multiply(dz * z, 1 - z, out=dK[..., :H])
    np.multiply(db * z, min_rnn.g_prime(K[..., H:]), out=dK[..., H:])
    return dK


def log_coefficients(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Parallel mode: ``(log_a, log_b, saved)``, ``log a = -softplus(k_z)``, ``log b = log z + log g(k_h)`` with
    ``log z = -softplus(-k_z) = k_z + log a`` (one softplus for both gates)."""
    H = K.shape[-1] // GATES
    k_z, k_h = K[..., :H], K[..., H:]
    log_a = min_rnn.softplus(k_z)
    np.negative(log_a, out=log_a)
    log_b = min_rnn.log_g(k_h)
    log_b += k_z
    log_b += log_a
    return log_a, log_b, ()


def log_coefficients_backward(dlog_a: np.ndarray, dlog_b: np.ndarray, K: np.ndarray, saved: tuple,
                              a: np.ndarray) -> np.ndarray:
    """``dK`` from the gradients of ``log a`` and ``log b`` (parallel mode); ``a = 1 - z`` from the scan."""
    H = K.shape[-1] // GATES
    dK = np.empty(K.shape, dtype=K.dtype)
    np.multiply(a, dlog_b, out=dK[..., :H])  # (1 - z) d log b
    dK[..., :H] -= (1 - a) * dlog_a  # - z d log a
    np.multiply(dlog_b, min_rnn.log_g_prime(K[..., H:]), out=dK[..., H:])
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
    """Run minGRU over ``x``; returns ``((y, h_n), cache)``: ``y`` ``(T, B, H)`` (``(T, B, P)`` with
    ``W_out``), time order, zero at padded steps; ``h_n`` ``(B, H)`` the state after the last processed step."""
    return min_rnn.run_layer(_MATH, x, h0, W_ih, b_ih, W_out, mode, reverse, lengths, ws, record)


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None],
    cache: MinRNNCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> MinRNNGrads | MinRNNProjectionGrads:
    """Backpropagate ``dout = (dy, dh_n)`` (``None`` for zero): :class:`~bptt.functional.min_rnn.MinRNNGrads`
    ``(dx, dh0, dW_ih, db_ih)``, or with ``W_out`` :class:`~bptt.functional.min_rnn.MinRNNProjectionGrads`
    (followed by ``dW_out``)."""
    return min_rnn.differentiate_layer(_MATH, dout, cache, ws, need_dx, record)
