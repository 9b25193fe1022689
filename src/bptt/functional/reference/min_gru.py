r"""minGRU written the textbook way: one time step at a time, one equation per line (Feng et al., 2024, §3.1).

The twin of :mod:`bptt.functional.min_gru` (same arguments, same results, held equal in float64 by the tests).
``W_ih`` ``(2H, D)`` holds the row blocks ``z, h``; ``b_ih`` ``(2H,)``; the optional ``W_out`` ``(P, H)`` projects
the output (the state stays ``h``).

**Forward, one step** (:func:`step_forward`), the paper's minGRU in its log-space variant (Appendix B: the
candidate through the positivity function :math:`g`, :mod:`.common`):

.. math::

    k_t &= x_t W_{ih}^\top + b_{ih} = [k^z_t, k^h_t]   && \text{the gates read } x_t \text{ only}\\
    z_t &= \sigma(k^z_t)                             && \text{update gate}\\
    \tilde h_t &= g(k^h_t)                           && \text{candidate state}\\
    a_t &= 1 - z_t, \qquad b_t = z_t \odot \tilde h_t  && \text{the scan's coefficient and value}\\
    h_t &= a_t \odot h_{t-1} + b_t                   && = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t\\
    y_t &= h_t \quad (\text{or } h_t W_{out}^\top)

**Backward, one step** (:func:`step_backward`): first the linear recurrence's reverse scan
(:mod:`.scan`), then the chain rule into the gates:

.. math::

    dh &= dy_t\,(W_{out}) + dh_{next}              && \text{total gradient of } h_t\\
    da &= dh \odot h_{t-1}, \qquad db = dh\\
    dh_{next} &= dh \odot a_t                      && \text{carried to step } t-1\\
    dz &= db \odot \tilde h_t - da                 && a = 1 - z,\ b = z \tilde h\\
    d\tilde h &= db \odot z_t\\
    dk^z &= dz \odot z_t (1 - z_t), \qquad dk^h = d\tilde h \odot g'(k^h_t)\\
    dx_t &= dk\, W_{ih}

and the step's shares of the weight gradients :math:`dW_{ih} = dk^\top x_t`, :math:`db_{ih} = \sum_b dk`,
:math:`dW_{out} = dy_t^\top h_t`.

**Sequence** (:func:`forward`, :func:`backward`). ``mode="sequential"`` loops :func:`step_forward` over the
steps. ``mode="parallel"`` computes every step's gates at once, in logarithms (the paper's listing:
:math:`\log a = -\operatorname{softplus}(k^z)`, :math:`\log b = -\operatorname{softplus}(-k^z) + \log g(k^h)`),
and the states with Heinsen's log-space scan (:func:`.scan.forward`); the step caches then hold the same named
quantities as in sequential mode. The backward pass is the same in both modes: the derivative of one function,
the step loop above, walked backwards. ``lengths``: padded steps keep the state and output zero; the record
protocol is that of :mod:`.lstm`.
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
    k: np.ndarray  # gate pre-activations [k_z, k_h], (B, 2H)
    k_z: np.ndarray
    k_h: np.ndarray
    z: np.ndarray  # update gate
    h_tilde: np.ndarray  # candidate state g(k_h)
    a: np.ndarray  # 1 - z
    b: np.ndarray  # z * h_tilde
    h: np.ndarray  # h_t
    y: np.ndarray  # output h_t (or h_t W_out^T)


class StepGrads(NamedTuple):
    """Every gradient of one backward step, each ``(B, ·)``, then the step's shares of the weight gradients.
    All zero at padded rows."""

    dy: np.ndarray  # gradient of the output y_t
    dh_next_in: np.ndarray  # carried in from step t+1
    dh: np.ndarray  # total gradient of h_t
    da: np.ndarray  # gradient of a_t = 1 - z_t
    db: np.ndarray  # gradient of b_t = z_t h_tilde_t
    dh_next: np.ndarray  # carried out to step t-1
    dz: np.ndarray
    dh_tilde: np.ndarray
    dk_z: np.ndarray
    dk_h: np.ndarray
    dk: np.ndarray  # [dk_z, dk_h], (B, 2H)
    dx: np.ndarray
    dW_ih: np.ndarray  # dk^T x_t, (2H, D)
    db_ih: np.ndarray  # sum of dk over the batch, (2H,)
    dW_out: np.ndarray | None  # dy^T h_t, (P, H), None without a projection


def step_forward(x: np.ndarray, h_prev: np.ndarray, W_ih: np.ndarray, b_ih: np.ndarray | None = None,
                 W_out: np.ndarray | None = None) -> tuple[np.ndarray, StepCache]:
    """One minGRU step (the forward equations of the module docstring); returns ``(h, cache)``."""
    k = x @ W_ih.T if b_ih is None else x @ W_ih.T + b_ih  # the gates read x_t only
    k_z, k_h = np.split(k, 2, axis=1)
    z = sigmoid(k_z)  # update gate
    h_tilde = g(k_h)  # candidate state, kept positive by g
    a = 1 - z  # the scan's coefficient
    b = z * h_tilde  # the scan's value
    h = a * h_prev + b  # h_t = (1 - z_t) h_{t-1} + z_t h_tilde_t
    y = h if W_out is None else h @ W_out.T  # the output (projected when W_out is given)
    return h, StepCache(x, h_prev, k, k_z, k_h, z, h_tilde, a, b, h, y)


def step_backward(dy: np.ndarray, dh_next_in: np.ndarray, cache: StepCache, W_ih: np.ndarray,
                  W_out: np.ndarray | None = None) -> StepGrads:
    """One minGRU backward step (the backward equations of the module docstring)."""
    x, h_prev, k, k_z, k_h, z, h_tilde, a, b, h, y = cache
    dh = (dy if W_out is None else dy @ W_out) + dh_next_in  # total gradient of h_t
    da = dh * h_prev  # the scan: dh_t/da_t = h_{t-1}
    db = dh  # dh_t/db_t = 1
    dh_next = dh * a  # dh_t/dh_{t-1} = a_t, carried to step t-1
    dz = db * h_tilde - da  # a = 1 - z and b = z h_tilde
    dh_tilde = db * z
    dk_z = dz * z * (1 - z)  # through z = sigmoid(k_z)
    dk_h = dh_tilde * g_prime(k_h)  # through h_tilde = g(k_h)
    dk = np.concatenate([dk_z, dk_h], axis=1)
    dx = dk @ W_ih  # back through k = x W_ih^T + b_ih
    dW_ih = dk.T @ x  # this step's share of dW_ih
    db_ih = dk.sum(axis=0)  # this step's share of db_ih
    dW_out = None if W_out is None else dy.T @ h  # this step's share of dW_out
    return StepGrads(dy, dh_next_in, dh, da, db, dh_next, dz, dh_tilde, dk_z, dk_h, dk, dx, dW_ih, db_ih, dW_out)


def _parallel_steps(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, b_ih: np.ndarray | None,
                    W_out: np.ndarray | None, reverse: bool, lengths: np.ndarray | None) -> list[StepCache]:
    """Parallel mode: every step's gates at once, the states by the log-space scan."""
    k = x @ W_ih.T if b_ih is None else x @ W_ih.T + b_ih  # (T, B, 2H): all steps in one product
    k_z, k_h = np.split(k, 2, axis=2)
    log_a = -softplus(k_z)  # log(1 - z) = log sigmoid(-k_z)
    log_b = -softplus(-k_z) + log_g(k_h)  # log(z h_tilde) = log sigmoid(k_z) + log g(k_h)
    _, scan_cache = scan.forward(log_a, log_b, h0, reverse=reverse, lengths=lengths)
    z = sigmoid(k_z)
    h_tilde = g(k_h)
    steps = []
    for t, s in enumerate(scan_cache.steps):
        y = s.h if W_out is None else s.h @ W_out.T
        steps.append(StepCache(x[t], s.h_prev, k[t], k_z[t], k_h[t], z[t], h_tilde[t], 1 - z[t], z[t] * h_tilde[t],
                               s.h, y))
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
    :func:`bptt.functional.min_gru.forward` (the loop over the steps: :func:`.min_rnn.run_layer`)."""
    return run_layer(x, h0, W_ih, b_ih, W_out, gates=2, step_forward=step_forward,
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
    return differentiate_layer(dout, cache, gates=2, step_backward=step_backward, need_dx=need_dx, record=record)
