r"""The GRU layer written the textbook way: one time step at a time, one equation per line.

This is the twin of :mod:`bptt.functional.gru` (same arguments, same results, held equal in float64 by the
tests). PyTorch's equations and weight layout: ``W_ih`` ``(3H, D)``, ``W_hh`` ``(3H, H)``, biases ``(3H,)``,
row blocks in the gate order ``r, z, n``.

**Forward, one step** (:func:`step_forward`). The input and the recurrent projections are kept apart,
because the reset gate multiplies the recurrent projection of the candidate *including its bias*
:math:`b_{hn}` (PyTorch, and Keras with ``reset_after=True``):

.. math::

    gx_t &= x_t W_{ih}^\top + b_{ih} = [gx^r, gx^z, gx^n], \qquad
        gh_t = h_{t-1} W_{hh}^\top + b_{hh} = [gh^r, gh^z, gh^n]\\
    r_t &= \sigma(gx^r + gh^r) \quad\text{(reset gate)}, \qquad z_t = \sigma(gx^z + gh^z) \quad\text{(update gate)}\\
    n_t &= \tanh(gx^n + r_t \odot gh^n) \quad\text{(candidate)}\\
    h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

**Backward, one step** (:func:`step_backward`), with :math:`dh_{next}` carried back from step :math:`t+1`:

.. math::

    dh &= dy_t + dh_{next}                          && \text{(the seed's dHt)}\\
    dn &= dh \odot (1 - z_t), \qquad da^n = dn \odot (1 - n_t^2)\\
    dz &= dh \odot (h_{t-1} - n_t), \qquad da^z = dz \odot z_t (1 - z_t)\\
    dr &= da^n \odot gh^n, \qquad da^r = dr \odot r_t (1 - r_t)\\
    dgx &= [da^r, da^z, da^n], \qquad dgh = [da^r, da^z, da^n \odot r_t]\\
    dx_t &= dgx\, W_{ih}, \qquad dh_{next} = dh \odot z_t + dgh\, W_{hh}

and the step's shares of the weight gradients :math:`dW_{ih} = dgx^\top x_t`,
:math:`dW_{hh} = dgh^\top h_{t-1}`, :math:`db_{ih} = \sum_b dgx`, :math:`db_{hh} = \sum_b dgh`.

**A sequence**, ``reverse``, ``lengths`` and the ``record`` protocol work exactly as in
:mod:`bptt.functional.reference.lstm` (without the cell state).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..sequence import HiddenGrads  # the result type, shared with the fast twin
from .common import packed_mask, processing_order, sigmoid


class StepCache(NamedTuple):
    """Everything one forward step computed, each ``(B, ·)`` (padded rows: a cell whose result was thrown
    away)."""

    x: np.ndarray  # x_t, (B, D)
    h_prev: np.ndarray  # h_{t-1}, (B, H)
    r: np.ndarray  # reset gate
    z: np.ndarray  # update gate
    n: np.ndarray  # candidate state
    gh_n: np.ndarray  # h_{t-1} W_hn^T + b_hn, the recurrent projection the reset gate multiplies
    h: np.ndarray  # hidden state h_t


class StepGrads(NamedTuple):
    """Every gradient of one backward step, each ``(B, ·)``, then the step's shares of the weight gradients.
    All zero at padded rows."""

    dy: np.ndarray  # gradient from the output y_t
    dh_next_in: np.ndarray  # carried in from step t+1
    dh: np.ndarray  # dHt
    dn: np.ndarray  # gradient of the candidate n
    da_n: np.ndarray  # ... of its pre-activation
    dz: np.ndarray  # gradient of the update gate z
    da_z: np.ndarray
    dr: np.ndarray  # gradient of the reset gate r
    da_r: np.ndarray
    dgx: np.ndarray  # gradient of the input projections [gx_r, gx_z, gx_n], (B, 3H)
    dgh: np.ndarray  # gradient of the recurrent projections [gh_r, gh_z, gh_n], (B, 3H)
    dx: np.ndarray  # the seed's dxt
    dh_next: np.ndarray  # carried out to step t-1
    dW_ih: np.ndarray  # dgx^T x_t, (3H, D)
    dW_hh: np.ndarray  # dgh^T h_{t-1}, (3H, H)
    db_ih: np.ndarray  # sum of dgx over the batch, (3H,)
    db_hh: np.ndarray  # sum of dgh over the batch, (3H,)


class SequenceCache(NamedTuple):
    """What :func:`backward` needs: the time-ordered step caches, the weights and the options."""

    steps: list[StepCache]  # steps[t] is time step t
    W_ih: np.ndarray
    W_hh: np.ndarray
    has_bias: bool
    reverse: bool
    lengths: np.ndarray | None
    mask: np.ndarray  # (T, B, 1) booleans, t < lengths[b]


def step_forward(
    x: np.ndarray,
    h_prev: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray | None = None,
    b_hh: np.ndarray | None = None,
) -> tuple[np.ndarray, StepCache]:
    """One GRU step (the forward equations of the module docstring); returns ``(h, cache)``."""
    gx = x @ W_ih.T  # input projections, blocks [r, z, n]
    gh = h_prev @ W_hh.T  # recurrent projections, blocks [r, z, n]
    if b_ih is not None:
        gx = gx + b_ih
        gh = gh + b_hh  # b_hn stays with gh_n: the reset gate multiplies it too
    gx_r, gx_z, gx_n = np.split(gx, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)
    r = sigmoid(gx_r + gh_r)  # reset gate
    z = sigmoid(gx_z + gh_z)  # update gate
    n = np.tanh(gx_n + r * gh_n)  # candidate state
    h = (1 - z) * n + z * h_prev  # new hidden state: z keeps the old one
    return h, StepCache(x, h_prev, r, z, n, gh_n, h)


def step_backward(
    dy: np.ndarray, dh_next_in: np.ndarray, cache: StepCache, W_ih: np.ndarray, W_hh: np.ndarray
) -> StepGrads:
    """One GRU backward step (the backward equations of the module docstring)."""
    x, h_prev, r, z, n, gh_n, h = cache
    dh = dy + dh_next_in  # dHt: from the output and from step t+1
    dn = dh * (1 - z)  # through h = (1 - z) n + z h_prev
    da_n = dn * (1 - n**2)  # through n = tanh(a_n)
    dz = dh * (h_prev - n)  # through h = (1 - z) n + z h_prev
    da_z = dz * z * (1 - z)  # through z = sigmoid(a_z)
    dr = da_n * gh_n  # through a_n = gx_n + r gh_n
    da_r = dr * r * (1 - r)  # through r = sigmoid(a_r)
    dgx = np.concatenate([da_r, da_z, da_n], axis=1)  # the input projections enter a_r, a_z, a_n directly
    dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)  # gh_n enters a_n through the reset gate
    dx = dgx @ W_ih  # dxt
    dh_next = dh * z + dgh @ W_hh  # to step t-1: directly through z h_prev, and through every gate
    dW_ih = dgx.T @ x  # this step's share of dW_ih
    dW_hh = dgh.T @ h_prev  # this step's share of dW_hh
    db_ih = dgx.sum(axis=0)  # this step's share of db_ih
    db_hh = dgh.sum(axis=0)  # this step's share of db_hh
    return StepGrads(dy, dh_next_in, dh, dn, da_n, dz, da_z, dr, da_r, dgx, dgh, dx, dh_next,
                     dW_ih, dW_hh, db_ih, db_hh)


def forward(
    x: np.ndarray,
    h0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray | None = None,
    b_hh: np.ndarray | None = None,
    *,
    reverse: bool = False,
    lengths: np.ndarray | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], SequenceCache]:
    """Run the layer over ``x`` ``(T, B, D)``; returns ``((y, h_n), cache)`` like
    :func:`bptt.functional.gru.forward`."""
    T, B, _ = x.shape
    mask = packed_mask(lengths, T, B)
    y = np.zeros((T, B, h0.shape[1]), dtype=x.dtype)
    steps: list = [None] * T
    h = h0
    for t in processing_order(T, reverse):
        m = mask[t]  # (B, 1): which rows are inside their sequence at step t
        h_new, steps[t] = step_forward(x[t], h, W_ih, W_hh, b_ih, b_hh)
        h = np.where(m, h_new, h)  # padded rows keep their state ...
        y[t] = np.where(m, h_new, 0)  # ... and output zeros
    cache = SequenceCache(steps, W_ih, W_hh, b_ih is not None, reverse, lengths, mask)
    if record is not None:
        record(cache)
    return (y, h), cache


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None],
    cache: SequenceCache,
    *,
    need_dx: bool = True,
    record: Callable | None = None,
) -> HiddenGrads:
    """Backpropagate ``dout = (dy, dh_n)``; returns ``HiddenGrads(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)`` like
    :func:`bptt.functional.gru.backward`."""
    dy, dh_n = dout
    steps, W_ih, W_hh, has_bias, reverse, _, mask = cache
    T = len(steps)
    B, D = steps[0].x.shape if T else (mask.shape[1], W_ih.shape[1])
    dt = steps[0].x.dtype if T else W_ih.dtype
    H = W_hh.shape[1]
    dh_carry = np.zeros((B, H), dtype=dt) if dh_n is None else np.asarray(dh_n, dtype=dt)
    dx = np.zeros((T, B, D), dtype=dt)
    grads: list = [None] * T
    for t in processing_order(T, not reverse):  # backwards in time
        m = mask[t]
        dy_t = np.zeros((B, H), dtype=dt) if dy is None else np.asarray(dy[t], dtype=dt)
        # A padded row's cell did not run: it gets no gradient ...
        grads[t] = step_backward(np.where(m, dy_t, 0), np.where(m, dh_carry, 0), steps[t], W_ih, W_hh)
        dh_carry = np.where(m, grads[t].dh_next, dh_carry)  # ... and its carried gradient passes straight through
        dx[t] = grads[t].dx
    dW_ih = sum((g.dW_ih for g in grads), np.zeros(W_ih.shape, dtype=dt))
    dW_hh = sum((g.dW_hh for g in grads), np.zeros(W_hh.shape, dtype=dt))
    db_ih = sum((g.db_ih for g in grads), np.zeros(3 * H, dtype=dt)) if has_bias else None
    db_hh = sum((g.db_hh for g in grads), np.zeros(3 * H, dtype=dt)) if has_bias else None
    if record is not None:
        record(cache, grads)
    return HiddenGrads(dx if need_dx else None, dh_carry, dW_ih, dW_hh, db_ih, db_hh)
