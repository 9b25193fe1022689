r"""minLSTM written the textbook way: one time step at a time, one equation per line (Feng et al., 2024, §3.2).

The twin of :mod:`bptt.functional.min_lstm` (same arguments, same results, held equal in float64 by the tests).
``W_ih`` ``(3H, D)`` holds the row blocks ``f, i, h``; ``b_ih`` ``(3H,)``; the optional ``W_out`` ``(P, H)``
projects the output (the state stays ``h``).

**Forward, one step** (:func:`step_forward`), the paper's minLSTM in its log-space variant (Appendix B: the
candidate through the positivity function :math:`g`, :mod:`.common`):

.. math::

    k_t &= x_t W_{ih}^\top + b_{ih} = [k^f_t, k^i_t, k^h_t]  && \text{the gates read } x_t \text{ only}\\
    f_t &= \sigma(k^f_t), \qquad i_t = \sigma(k^i_t)         && \text{forget and input gates}\\
    \tilde h_t &= g(k^h_t)                                  && \text{candidate state}\\
    s_t &= f_t + i_t\\
    f'_t &= f_t / s_t, \qquad i'_t = i_t / s_t             && \text{normalised: } f' + i' = 1\\
    a_t &= f'_t, \qquad b_t = i'_t \odot \tilde h_t          && \text{the scan's coefficient and value}\\
    h_t &= a_t \odot h_{t-1} + b_t                          && = f'_t \odot h_{t-1} + i'_t \odot \tilde h_t\\
    y_t &= h_t \quad (\text{or } h_t W_{out}^\top)

**Backward, one step** (:func:`step_backward`): the reverse scan (:mod:`.scan`), then the normalisation
(:math:`\partial f'/\partial f = i/s^2`, :math:`\partial f'/\partial i = -f/s^2`, :math:`\partial i'/\partial f =
-i/s^2`, :math:`\partial i'/\partial i = f/s^2`) and the sigmoids:

.. math::

    dh &= dy_t\,(W_{out}) + dh_{next}, \qquad da = dh \odot h_{t-1}, \qquad db = dh, \qquad
        dh_{next} = dh \odot a_t\\
    df' &= da, \qquad di' = db \odot \tilde h_t, \qquad d\tilde h = db \odot i'_t\\
    df &= (df' - di') \odot i_t / s_t^2, \qquad di = (di' - df') \odot f_t / s_t^2\\
    dk^f &= df \odot f_t (1 - f_t), \qquad dk^i = di \odot i_t (1 - i_t), \qquad dk^h = d\tilde h \odot g'(k^h_t)\\
    dx_t &= dk\, W_{ih}

**Sequence** (:func:`forward`, :func:`backward`) as in :mod:`.min_gru`: ``mode="parallel"`` forms the
logarithms as the paper's listing does, :math:`\delta = \operatorname{softplus}(-k^f) - \operatorname{softplus}(-k^i)
= \log(i/f)`, :math:`\log a = -\operatorname{softplus}(\delta)`, :math:`\log b = -\operatorname{softplus}(-\delta) +
\log g(k^h)`, and runs Heinsen's scan (:func:`.scan.forward`); the backward pass is the step loop in both modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..min_rnn import MinRNNGrads, MinRNNProjectionGrads  # the result types, shared with the fast twin
from . import scan
from .common import g, g_prime, log_g, sigmoid, softplus
from .min_rnn import SequenceCache, differentiate_layer, run_layer


class StepCache(NamedTuple):
    """Everything one forward step computed, each ``(B, ·)``."""

    x: np.ndarray  # x_t, (B, D)
    h_prev: np.ndarray  # h_{t-1}, (B, H)
    k: np.ndarray  # gate pre-activations [k_f, k_i, k_h], (B, 3H)
    k_f: np.ndarray
    k_i: np.ndarray
    k_h: np.ndarray
    f: np.ndarray  # forget gate
    i: np.ndarray  # input gate
    h_tilde: np.ndarray  # candidate state g(k_h)
    s: np.ndarray  # f + i
    f_prime: np.ndarray  # f / s
    i_prime: np.ndarray  # i / s
    a: np.ndarray  # f_prime
    b: np.ndarray  # i_prime * h_tilde
    h: np.ndarray  # h_t
    y: np.ndarray  # output h_t (or h_t W_out^T)


class StepGrads(NamedTuple):
    """Every gradient of one backward step, each ``(B, ·)``, then the step's shares of the weight gradients.
    All zero at padded rows."""

    dy: np.ndarray  # gradient of the output y_t
    dh_next_in: np.ndarray  # carried in from step t+1
    dh: np.ndarray  # total gradient of h_t
    da: np.ndarray  # gradient of a_t = f'_t
    db: np.ndarray  # gradient of b_t = i'_t h_tilde_t
    dh_next: np.ndarray  # carried out to step t-1
    df_prime: np.ndarray
    di_prime: np.ndarray
    dh_tilde: np.ndarray
    df: np.ndarray
    di: np.ndarray
    dk_f: np.ndarray
    dk_i: np.ndarray
    dk_h: np.ndarray
    dk: np.ndarray  # [dk_f, dk_i, dk_h], (B, 3H)
    dx: np.ndarray
    dW_ih: np.ndarray  # dk^T x_t, (3H, D)
    db_ih: np.ndarray  # sum of dk over the batch, (3H,)
    dW_out: np.ndarray | None  # dy^T h_t, (P, H), None without a projection


def step_forward(x: np.ndarray, h_prev: np.ndarray, W_ih: np.ndarray, b_ih: np.ndarray | None = None,
                 W_out: np.ndarray | None = None) -> tuple[np.ndarray, StepCache]:
    """One minLSTM step (the forward equations of the module docstring); returns ``(h, cache)``."""
    k = x @ W_ih.T if b_ih is None else x @ W_ih.T + b_ih  # the gates read x_t only
    k_f, k_i, k_h = np.split(k, 3, axis=1)
    f = sigmoid(k_f)  # forget gate
    i = sigmoid(k_i)  # input gate
    h_tilde = g(k_h)  # candidate state, kept positive by g
    s = f + i
    f_prime = f / s  # normalised forget gate
    i_prime = i / s  # normalised input gate: f' + i' = 1
    a = f_prime  # the scan's coefficient
    b = i_prime * h_tilde  # the scan's value
    h = a * h_prev + b  # h_t = f'_t h_{t-1} + i'_t h_tilde_t
    y = h if W_out is None else h @ W_out.T  # the output (projected when W_out is given)
    return h, StepCache(x, h_prev, k, k_f, k_i, k_h, f, i, h_tilde, s, f_prime, i_prime, a, b, h, y)


def step_backward(dy: np.ndarray, dh_next_in: np.ndarray, cache: StepCache, W_ih: np.ndarray,
                  W_out: np.ndarray | None = None) -> StepGrads:
    """One minLSTM backward step (the backward equations of the module docstring)."""
    x, h_prev, k, k_f, k_i, k_h, f, i, h_tilde, s, f_prime, i_prime, a, b, h, y = cache
    dh = (dy if W_out is None else dy @ W_out) + dh_next_in  # total gradient of h_t
    da = dh * h_prev  # the scan: dh_t/da_t = h_{t-1}
    db = dh  # dh_t/db_t = 1
    dh_next = dh * a  # dh_t/dh_{t-1} = a_t, carried to step t-1
    df_prime = da  # a = f'
    di_prime = db * h_tilde  # b = i' h_tilde
    dh_tilde = db * i_prime
    df = (df_prime - di_prime) * i / s**2  # through f' = f / s and i' = i / s
    di = (di_prime - df_prime) * f / s**2
    dk_f = df * f * (1 - f)  # through f = sigmoid(k_f)
    dk_i = di * i * (1 - i)  # through i = sigmoid(k_i)
    dk_h = dh_tilde * g_prime(k_h)  # through h_tilde = g(k_h)
    dk = np.concatenate([dk_f, dk_i, dk_h], axis=1)
    dx = dk @ W_ih  # back through k = x W_ih^T + b_ih
    dW_ih = dk.T @ x  # this step's share of dW_ih
    db_ih = dk.sum(axis=0)  # this step's share of db_ih
    dW_out = None if W_out is None else dy.T @ h  # this step's share of dW_out
    return StepGrads(dy, dh_next_in, dh, da, db, dh_next, df_prime, di_prime, dh_tilde, df, di, dk_f, dk_i, dk_h, dk,
                     dx, dW_ih, db_ih, dW_out)


def _parallel_steps(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, b_ih: np.ndarray | None,
                    W_out: np.ndarray | None, reverse: bool, lengths: np.ndarray | None) -> list[StepCache]:
    """Parallel mode: every step's gates at once, the states by the log-space scan."""
    k = x @ W_ih.T if b_ih is None else x @ W_ih.T + b_ih  # (T, B, 3H): all steps in one product
    k_f, k_i, k_h = np.split(k, 3, axis=2)
    delta = softplus(-k_f) - softplus(-k_i)  # log(i / f)
    log_a = -softplus(delta)  # log f' = log(f / (f + i))
    log_b = -softplus(-delta) + log_g(k_h)  # log(i' h_tilde)
    _, scan_cache = scan.forward(log_a, log_b, h0, reverse=reverse, lengths=lengths)
    f = sigmoid(k_f)
    i = sigmoid(k_i)
    h_tilde = g(k_h)
    steps = []
    for t, st in enumerate(scan_cache.steps):
        s = f[t] + i[t]
        y = st.h if W_out is None else st.h @ W_out.T
        steps.append(StepCache(x[t], st.h_prev, k[t], k_f[t], k_i[t], k_h[t], f[t], i[t], h_tilde[t], s, f[t] / s,
                               i[t] / s, f[t] / s, i[t] / s * h_tilde[t], st.h, y))
    return steps


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
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], SequenceCache]:
    """Run the layer over ``x`` ``(T, B, D)``; returns ``((y, h_n), cache)`` like
    :func:`bptt.functional.min_lstm.forward` (the loop over the steps: :func:`.min_rnn.run_layer`)."""
    return run_layer(x, h0, W_ih, b_ih, W_out, gates=3, step_forward=step_forward,
                       parallel_steps=_parallel_steps, mode=mode, reverse=reverse, lengths=lengths, record=record)


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None],
    cache: SequenceCache,
    *,
    need_dx: bool = True,
    record: Callable | None = None,
) -> MinRNNGrads | MinRNNProjectionGrads:
    """Backpropagate ``dout = (dy, dh_n)`` (``None`` for zero) through time: the gradient tuple of the fast
    twin, ``(dx, dh0, dW_ih, db_ih[, dW_out])`` (the loop over the steps: :func:`.min_rnn.differentiate_layer`)."""
    return differentiate_layer(dout, cache, gates=3, step_backward=step_backward, need_dx=need_dx, record=record)
