r"""The Elman RNN layer (``tanh`` or ``relu``) written the textbook way: one step at a time, one equation a line.

This is the twin of :mod:`bptt.functional.rnn` (same arguments, same results, held equal in float64 by the
tests); cs231n's ``rnn_step_forward`` / ``rnn_step_backward`` in PyTorch's layout: ``W_ih`` ``(H, D)``,
``W_hh`` ``(H, H)``, biases ``(H,)``.

**Forward, one step** (:func:`step_forward`), with :math:`\phi = \tanh` or ReLU:

.. math::

    z_t = [x_t, h_{t-1}] \quad\text{(the seed's HX)}, \qquad
    a_t = z_t [W_{ih}, W_{hh}]^\top + b_{ih} + b_{hh}, \qquad h_t = \phi(a_t)

**Backward, one step** (:func:`step_backward`):

.. math::

    dh &= dy_t + dh_{next}                                  && \text{(dHt)}\\
    da &= dh \odot \phi'(a_t), \quad \phi' = 1 - h_t^2 \;(\tanh) \text{ or } [a_t > 0] \;(\text{ReLU})\\
    dz &= da\, [W_{ih}, W_{hh}] = [dx_t, dh_{next}]             && \text{(dHX)}

and the step's shares :math:`dW_{ih} = da^\top x_t`, :math:`dW_{hh} = da^\top h_{t-1}`, :math:`db = \sum_b da`.
Over many steps the carried gradient is multiplied by :math:`\mathrm{diag}(\phi'_t) W_{hh}` once per step:
this product is where gradients vanish or explode.

**A sequence**, ``reverse``, ``lengths`` and the ``record`` protocol work exactly as in
:mod:`bptt.functional.reference.lstm` (without the cell state).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..sequence import HiddenGrads  # the result type, shared with the fast twin
from .common import packed_mask, processing_order


class StepCache(NamedTuple):
    """Everything one forward step computed, each ``(B, ·)`` (padded rows: a cell whose result was thrown
    away)."""

    x: np.ndarray  # x_t, (B, D)
    h_prev: np.ndarray  # h_{t-1}, (B, H)
    z: np.ndarray  # [x_t, h_{t-1}], the seed's HX
    a: np.ndarray  # pre-activation
    h: np.ndarray  # hidden state h_t = phi(a)


class StepGrads(NamedTuple):
    """Every gradient of one backward step, each ``(B, ·)``, then the step's shares of the weight gradients.
    All zero at padded rows."""

    dy: np.ndarray  # gradient from the output y_t
    dh_next_in: np.ndarray  # carried in from step t+1
    dh: np.ndarray  # dHt
    da: np.ndarray  # gradient of the pre-activation
    dz: np.ndarray  # dHX = [dx, dh_next]
    dx: np.ndarray  # the seed's dxt
    dh_next: np.ndarray  # carried out to step t-1
    dW_ih: np.ndarray  # da^T x_t, (H, D)
    dW_hh: np.ndarray  # da^T h_{t-1}, (H, H)
    db: np.ndarray  # sum of da over the batch (the gradient of b_ih and of b_hh)


class SequenceCache(NamedTuple):
    """What :func:`backward` needs: the time-ordered step caches, the weights and the options."""

    steps: list[StepCache]  # steps[t] is time step t
    W_ih: np.ndarray
    W_hh: np.ndarray
    has_bias: bool
    nonlinearity: str  # "tanh" or "relu"
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
    *,
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, StepCache]:
    """One RNN step; returns ``(h, cache)``. ``nonlinearity`` is ``"relu"`` or (anything else) ``"tanh"``."""
    z = np.concatenate([x, h_prev], axis=1)  # HX
    a = z @ np.concatenate([W_ih, W_hh], axis=1).T  # pre-activation
    if b_ih is not None:
        a = a + b_ih + b_hh
    h = np.maximum(a, 0) if nonlinearity == "relu" else np.tanh(a)  # new hidden state
    return h, StepCache(x, h_prev, z, a, h)


def step_backward(
    dy: np.ndarray,
    dh_next_in: np.ndarray,
    cache: StepCache,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    *,
    nonlinearity: str = "tanh",
) -> StepGrads:
    """One RNN backward step (the backward equations of the module docstring)."""
    x, h_prev, z, a, h = cache
    D = x.shape[1]
    dh = dy + dh_next_in  # dHt: from the output and from step t+1
    dphi = (a > 0).astype(a.dtype) if nonlinearity == "relu" else 1 - h**2  # phi'(a)
    da = dh * dphi  # through h = phi(a)
    dz = da @ np.concatenate([W_ih, W_hh], axis=1)  # dHX: back through a = z W^T
    dx = dz[:, :D]  # dxt: the x part of HX
    dh_next = dz[:, D:]  # the h_{t-1} part of HX, carried to step t-1
    dW_ih = da.T @ x  # this step's share of dW_ih
    dW_hh = da.T @ h_prev  # this step's share of dW_hh
    db = da.sum(axis=0)  # this step's share of db_ih (and of db_hh)
    return StepGrads(dy, dh_next_in, dh, da, dz, dx, dh_next, dW_ih, dW_hh, db)


def forward(
    x: np.ndarray,
    h0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray | None = None,
    b_hh: np.ndarray | None = None,
    *,
    nonlinearity: str = "tanh",
    reverse: bool = False,
    lengths: np.ndarray | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], SequenceCache]:
    """Run the layer over ``x`` ``(T, B, D)``; returns ``((y, h_n), cache)`` like
    :func:`bptt.functional.rnn.forward`."""
    T, B, _ = x.shape
    nonlinearity = "relu" if nonlinearity == "relu" else "tanh"
    mask = packed_mask(lengths, T, B)
    y = np.zeros((T, B, h0.shape[1]), dtype=x.dtype)
    steps: list = [None] * T
    h = h0
    for t in processing_order(T, reverse):
        m = mask[t]  # (B, 1): which rows are inside their sequence at step t
        h_new, steps[t] = step_forward(x[t], h, W_ih, W_hh, b_ih, b_hh, nonlinearity=nonlinearity)
        h = np.where(m, h_new, h)  # padded rows keep their state ...
        y[t] = np.where(m, h_new, 0)  # ... and output zeros
    cache = SequenceCache(steps, W_ih, W_hh, b_ih is not None, nonlinearity, reverse, lengths, mask)
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
    :func:`bptt.functional.rnn.backward`."""
    dy, dh_n = dout
    steps, W_ih, W_hh, has_bias, nonlinearity, reverse, _, mask = cache
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
        grads[t] = step_backward(np.where(m, dy_t, 0), np.where(m, dh_carry, 0), steps[t], W_ih, W_hh,
                                 nonlinearity=nonlinearity)
        dh_carry = np.where(m, grads[t].dh_next, dh_carry)  # ... and its carried gradient passes straight through
        dx[t] = grads[t].dx
    dW_ih = sum((g.dW_ih for g in grads), np.zeros(W_ih.shape, dtype=dt))
    dW_hh = sum((g.dW_hh for g in grads), np.zeros(W_hh.shape, dtype=dt))
    db = sum((g.db for g in grads), np.zeros(H, dtype=dt))
    if record is not None:
        record(cache, grads)
    db_ih = db if has_bias else None
    db_hh = db.copy() if has_bias else None
    return HiddenGrads(dx if need_dx else None, dh_carry, dW_ih, dW_hh, db_ih, db_hh)
