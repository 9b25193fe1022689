r"""The LSTM layer written the textbook way: one time step at a time, one equation per line, seed 000's names.

This is the twin of :mod:`bptt.functional.lstm` (same arguments, same results, held equal in float64 by the
tests); read it next to seed 000 ("LSTM internals, part 3: the backward propagation"). PyTorch's equations and
weight layout: ``W_ih`` ``(4H, D)``, ``W_hh`` ``(4H, P)``, biases ``(4H,)``, row blocks in the gate order
``i, f, g, o``; ``P = H``, or the projection size when ``W_hr`` ``(P, H)`` is given.

**Forward, one step** (:func:`step_forward`). The seed feeds the gates with :math:`z_t = [x_t, h_{t-1}]`
("HX") and one weight matrix :math:`W = [W_{ih}, W_{hh}]`:

.. math::

    z_t &= [x_t, h_{t-1}]                                             && \text{(HX)}\\
    a_t &= z_t W^\top + b_{ih} + b_{hh} = [a^i, a^f, a^g, a^o]\\
    i_t &= \sigma(a^i + p_i \odot c_{t-1}), \quad f_t = \sigma(a^f + \text{forget\_bias} + p_f \odot c_{t-1}),
        \quad g_t = \tanh(a^g)                                           && (g \text{ is the seed's Cproj})\\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
    o_t &= \sigma(a^o + p_o \odot c_t)\\
    r_t &= o_t \odot \tanh(c_t), \qquad h_t = r_t \;(\text{or } r_t W_{hr}^\top \text{ with a projection})

:math:`p_i, p_f, p_o` are the **peepholes** (``W_peep`` ``(3H,)`` = ``[p_i, p_f, p_o]``, TensorFlow 1's
``LSTMCell(use_peepholes=True)``), zero without them: then ``o`` does not depend on ``c_t`` and these are
PyTorch's equations. The output gate is written after ``c_t`` because with peepholes it reads it.

**Backward, one step** (:func:`step_backward`), given :math:`dy_t` from the layer above and the gradients
:math:`dh_{next}`, :math:`dc_{next}` carried back from step :math:`t+1`, in the seed's order:

.. math::

    dh &= dy_t + dh_{next}                                              && \text{dHt, figs 12-14}\\
    dr &= dh\, W_{hr} \quad (dr = dh \text{ without a projection})\\
    do &= dr \odot \tanh(c_t), \qquad da^o = do \odot o_t (1 - o_t)        && \text{dOt, figs 15-17}\\
    dc &= dc_{next} + dr \odot o_t \odot (1 - \tanh^2 c_t) + da^o \odot p_o  && \text{dCt, figs 18-19}\\
    dg &= dc \odot i_t, \qquad da^g = dg \odot (1 - g_t^2)                && \text{dCprojt, figs 20-22}\\
    df &= dc \odot c_{t-1}, \qquad da^f = df \odot f_t (1 - f_t)            && \text{dFt, figs 23-25}\\
    di &= dc \odot g_t, \qquad da^i = di \odot i_t (1 - i_t)                && \text{dIt, figs 26-28}\\
    dz &= da\, W = [dx_t, dh_{next}]                                     && \text{dHX, figs 29-30}\\
    dc_{next} &= dc \odot f_t + da^i \odot p_i + da^f \odot p_f           && \text{dC\_next, fig 31}

and the step's contributions to the weight gradients, :math:`dW_{ih} = da^\top x_t`,
:math:`dW_{hh} = da^\top h_{t-1}`, :math:`db = \sum_b da`, :math:`dW_{hr} = dh^\top r_t`,
:math:`dW_{peep} = \sum_b [da^i \odot c_{t-1},\, da^f \odot c_{t-1},\, da^o \odot c_t]`; summed over the steps
they are the layer's parameter gradients (``db_ih = db_hh``). The peephole terms of ``dc`` and ``dc_next``
are the seed's figures with the extra paths from ``c`` into the gates' pre-activations.

**A sequence** (:func:`forward`, :func:`backward`) is a loop over the steps, ``t = 0 .. T-1`` (or
``T-1 .. 0`` with ``reverse=True``; everything stays in time order). With ``lengths`` (packed sequences) a
per-step mask :math:`m_t` of shape ``(B, 1)`` keeps the state of the rows whose sequence has ended
(``h = where(m, h_new, h_prev)``), makes their output zero, gives their cell no gradient and passes their
carried gradients straight through (see :mod:`bptt.functional.reference.common`).

**Record protocol.** ``record``, when given, is called as ``record(cache)`` at the end of :func:`forward`
(``cache.steps[t]`` is the :class:`StepCache` of time step ``t``) and as ``record(cache, steps)`` at the end
of :func:`backward`, ``steps[t]`` being the :class:`StepGrads` of time step ``t``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..lstm import LSTMGrads, LSTMPeepholeGrads, LSTMProjectionGrads  # the result types, shared with the fast twin
from .common import packed_mask, processing_order, sigmoid


class StepCache(NamedTuple):
    """Everything one forward step computed, each ``(B, ·)``. At padded rows (see :class:`SequenceCache`'s
    ``mask``) these are the values of a cell whose result the sequence loop threw away."""

    x: np.ndarray  # x_t, (B, D)
    h_prev: np.ndarray  # h_{t-1}, (B, P)
    c_prev: np.ndarray  # c_{t-1}, (B, H)
    z: np.ndarray  # [x_t, h_{t-1}], the seed's HX, (B, D + P)
    a: np.ndarray  # gate pre-activations [a_i, a_f, a_g, a_o] (no forget_bias, no peepholes), (B, 4H)
    i: np.ndarray  # input gate
    f: np.ndarray  # forget gate
    g: np.ndarray  # candidate cell state, the seed's Cproj
    c: np.ndarray  # cell state c_t
    o: np.ndarray  # output gate
    tanh_c: np.ndarray  # tanh(c_t)
    r: np.ndarray  # o * tanh(c_t), the hidden state before the projection (r is h without one)
    h: np.ndarray  # hidden state h_t, (B, P)


class StepGrads(NamedTuple):
    """Every gradient of one backward step, in the seed's order, each ``(B, ·)``, followed by the step's
    contributions to the weight gradients. All zero at padded rows (the cell did not run there)."""

    dy: np.ndarray  # gradient from the output y_t (from the layer above)
    dh_next_in: np.ndarray  # carried in from step t+1
    dc_next_in: np.ndarray  # carried in from step t+1
    dh: np.ndarray  # dHt
    dr: np.ndarray  # gradient of r = o * tanh(c) (dr is dh without a projection)
    do: np.ndarray  # dOt
    da_o: np.ndarray
    dc: np.ndarray  # dCt
    dg: np.ndarray  # dCprojt
    da_g: np.ndarray
    df: np.ndarray  # dFt
    da_f: np.ndarray
    di: np.ndarray  # dIt
    da_i: np.ndarray
    da: np.ndarray  # [da_i, da_f, da_g, da_o], (B, 4H)
    dz: np.ndarray  # dHX = [dx, dh_next], (B, D + P)
    dx: np.ndarray  # the seed's dxt
    dh_next: np.ndarray  # carried out to step t-1
    dc_next: np.ndarray  # dC_next, carried out to step t-1
    dW_ih: np.ndarray  # da^T x_t, (4H, D)
    dW_hh: np.ndarray  # da^T h_{t-1}, (4H, P)
    db: np.ndarray  # sum of da over the batch, (4H,) (the gradient of b_ih and of b_hh)
    dW_hr: np.ndarray | None  # dh^T r_t, (P, H), None without a projection
    dW_peep: np.ndarray | None  # [da_i c_{t-1}, da_f c_{t-1}, da_o c_t] summed over the batch, None without peepholes


class SequenceCache(NamedTuple):
    """What :func:`backward` needs: the time-ordered step caches, the weights and the options."""

    steps: list[StepCache]  # steps[t] is time step t (time order also for reverse)
    W_ih: np.ndarray
    W_hh: np.ndarray
    W_hr: np.ndarray | None
    W_peep: np.ndarray | None
    has_bias: bool
    forget_bias: float
    reverse: bool
    lengths: np.ndarray | None
    mask: np.ndarray  # (T, B, 1) booleans, mask[t, b] = t < lengths[b] (all True without lengths)


def step_forward(
    x: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray | None = None,
    b_hh: np.ndarray | None = None,
    W_hr: np.ndarray | None = None,
    W_peep: np.ndarray | None = None,
    *,
    forget_bias: float = 0.0,
) -> tuple[tuple[np.ndarray, np.ndarray], StepCache]:
    """One LSTM step (the forward equations of the module docstring); returns ``((h, c), cache)``."""
    p_i, p_f, p_o = (0.0, 0.0, 0.0) if W_peep is None else np.split(W_peep, 3)  # peepholes (zero without)
    z = np.concatenate([x, h_prev], axis=1)  # HX: the input and the previous hidden state side by side
    a = z @ np.concatenate([W_ih, W_hh], axis=1).T  # the four gates' pre-activations, blocks [i, f, g, o]
    if b_ih is not None:
        a = a + b_ih + b_hh
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i = sigmoid(a_i + p_i * c_prev)  # input gate (peeks at c_{t-1})
    f = sigmoid(a_f + forget_bias + p_f * c_prev)  # forget gate (peeks at c_{t-1})
    g = np.tanh(a_g)  # candidate cell state (the seed's Cproj)
    c = f * c_prev + i * g  # new cell state
    o = sigmoid(a_o + p_o * c)  # output gate (peeks at the new c_t)
    tanh_c = np.tanh(c)
    r = o * tanh_c  # new hidden state (before the projection)
    h = r if W_hr is None else r @ W_hr.T  # projection h = r W_hr^T (LSTM with proj_size)
    return (h, c), StepCache(x, h_prev, c_prev, z, a, i, f, g, c, o, tanh_c, r, h)


def step_backward(
    dy: np.ndarray,
    dh_next_in: np.ndarray,
    dc_next_in: np.ndarray,
    cache: StepCache,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    W_hr: np.ndarray | None = None,
    W_peep: np.ndarray | None = None,
) -> StepGrads:
    """One LSTM backward step in seed 000's order (the backward equations of the module docstring).

    ``dy`` is the gradient of the step's output from above, ``dh_next_in`` and ``dc_next_in`` the gradients
    of ``h_t`` and ``c_t`` carried back from step ``t + 1``.
    """
    x, h_prev, c_prev, z, a, i, f, g, c, o, tanh_c, r, h = cache
    p_i, p_f, p_o = (0.0, 0.0, 0.0) if W_peep is None else np.split(W_peep, 3)  # peepholes (zero without)
    D = x.shape[1]
    dh = dy + dh_next_in  # dHt (figs 12-14): from the output and from step t+1
    dr = dh if W_hr is None else dh @ W_hr  # back through the projection h = r W_hr^T
    do = dr * tanh_c  # dOt (figs 15-17)
    da_o = do * o * (1 - o)  # through o = sigmoid(a_o)
    dc = dc_next_in + dr * o * (1 - tanh_c**2) + da_o * p_o  # dCt (figs 18-19): step t+1, h = o tanh(c), o's peephole
    dg = dc * i  # dCprojt (figs 20-22)
    da_g = dg * (1 - g**2)  # through g = tanh(a_g)
    df = dc * c_prev  # dFt (figs 23-25)
    da_f = df * f * (1 - f)  # through f = sigmoid(a_f + forget_bias)
    di = dc * g  # dIt (figs 26-28)
    da_i = di * i * (1 - i)  # through i = sigmoid(a_i)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # all four gates, PyTorch's block order
    dz = da @ np.concatenate([W_ih, W_hh], axis=1)  # dHX (figs 29-30): back through a = z W^T
    dx = dz[:, :D]  # dxt: the x part of HX
    dh_next = dz[:, D:]  # dh_next: the h_{t-1} part of HX, carried to step t-1
    dc_next = dc * f + da_i * p_i + da_f * p_f  # dC_next (fig 31): c = f c_{t-1} + i g and i's, f's peepholes
    dW_ih = da.T @ x  # this step's share of dW_ih
    dW_hh = da.T @ h_prev  # this step's share of dW_hh
    db = da.sum(axis=0)  # this step's share of db_ih (and of db_hh)
    dW_hr = None if W_hr is None else dh.T @ r  # this step's share of dW_hr
    dW_peep = None if W_peep is None else np.concatenate(
        [(da_i * c_prev).sum(axis=0), (da_f * c_prev).sum(axis=0), (da_o * c).sum(axis=0)])  # share of dW_peep
    return StepGrads(dy, dh_next_in, dc_next_in, dh, dr, do, da_o, dc, dg, da_g, df, da_f, di, da_i, da,
                     dz, dx, dh_next, dc_next, dW_ih, dW_hh, db, dW_hr, dW_peep)


def forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray | None = None,
    b_hh: np.ndarray | None = None,
    W_hr: np.ndarray | None = None,
    W_peep: np.ndarray | None = None,
    *,
    forget_bias: float = 0.0,
    reverse: bool = False,
    lengths: np.ndarray | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], SequenceCache]:
    """Run the layer over ``x`` ``(T, B, D)``; returns ``((y, h_n, c_n), cache)`` like
    :func:`bptt.functional.lstm.forward`: ``y`` ``(T, B, P)`` in time order, ``h_n`` ``(B, P)``, ``c_n``
    ``(B, H)``."""
    T, B, _ = x.shape
    mask = packed_mask(lengths, T, B)
    y = np.zeros((T, B, h0.shape[1]), dtype=x.dtype)
    steps: list = [None] * T
    h, c = h0, c0
    for t in processing_order(T, reverse):
        m = mask[t]  # (B, 1): which rows are inside their sequence at step t
        (h_new, c_new), steps[t] = step_forward(x[t], h, c, W_ih, W_hh, b_ih, b_hh, W_hr, W_peep,
                                                forget_bias=forget_bias)
        h = np.where(m, h_new, h)  # padded rows keep their state ...
        c = np.where(m, c_new, c)
        y[t] = np.where(m, h_new, 0)  # ... and output zeros
    cache = SequenceCache(steps, W_ih, W_hh, W_hr, W_peep, b_ih is not None, forget_bias, reverse, lengths, mask)
    if record is not None:
        record(cache)
    return (y, h, c), cache


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    cache: SequenceCache,
    *,
    need_dx: bool = True,
    record: Callable | None = None,
) -> LSTMGrads | LSTMProjectionGrads | LSTMPeepholeGrads:
    """Backpropagate ``dout = (dy, dh_n, dc_n)`` (``None`` for zero) through time.

    Returns :class:`~bptt.functional.lstm.LSTMGrads` ``(dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh)`` (biases
    ``None`` without biases, ``dx`` ``None`` with ``need_dx=False``), or with a projection
    :class:`~bptt.functional.lstm.LSTMProjectionGrads`, the same followed by ``dW_hr``, or with peepholes
    :class:`~bptt.functional.lstm.LSTMPeepholeGrads`, the same followed by ``dW_hr`` (``None`` without a
    projection) and ``dW_peep``, like the fast twin.
    """
    dy, dh_n, dc_n = dout
    steps, W_ih, W_hh, W_hr, W_peep, has_bias, _, reverse, _, mask = cache
    T = len(steps)
    B, D = steps[0].x.shape if T else (mask.shape[1], W_ih.shape[1])
    dt = steps[0].x.dtype if T else W_ih.dtype
    P, H = W_hh.shape[1], W_hh.shape[0] // 4
    dh_carry = np.zeros((B, P), dtype=dt) if dh_n is None else np.asarray(dh_n, dtype=dt)
    dc_carry = np.zeros((B, H), dtype=dt) if dc_n is None else np.asarray(dc_n, dtype=dt)
    dx = np.zeros((T, B, D), dtype=dt)
    grads: list = [None] * T
    for t in processing_order(T, not reverse):  # backwards in time
        m = mask[t]
        dy_t = np.zeros((B, P), dtype=dt) if dy is None else np.asarray(dy[t], dtype=dt)
        # A padded row's cell did not run: it gets no gradient (so every quantity of its step is zero) ...
        grads[t] = step_backward(np.where(m, dy_t, 0), np.where(m, dh_carry, 0), np.where(m, dc_carry, 0),
                                 steps[t], W_ih, W_hh, W_hr, W_peep)
        dh_carry = np.where(m, grads[t].dh_next, dh_carry)  # ... and its carried gradients pass straight through
        dc_carry = np.where(m, grads[t].dc_next, dc_carry)
        dx[t] = grads[t].dx
    dW_ih = sum((g.dW_ih for g in grads), np.zeros(W_ih.shape, dtype=dt))
    dW_hh = sum((g.dW_hh for g in grads), np.zeros(W_hh.shape, dtype=dt))
    db = sum((g.db for g in grads), np.zeros(4 * H, dtype=dt))
    db_ih = db if has_bias else None
    db_hh = db.copy() if has_bias else None
    if record is not None:
        record(cache, grads)
    dx = dx if need_dx else None
    dW_hr = None if W_hr is None else sum((g.dW_hr for g in grads), np.zeros(W_hr.shape, dtype=dt))
    if W_peep is not None:
        dW_peep = sum((g.dW_peep for g in grads), np.zeros(W_peep.shape, dtype=dt))
        return LSTMPeepholeGrads(dx, dh_carry, dc_carry, dW_ih, dW_hh, db_ih, db_hh, dW_hr, dW_peep)
    if W_hr is None:
        return LSTMGrads(dx, dh_carry, dc_carry, dW_ih, dW_hh, db_ih, db_hh)
    return LSTMProjectionGrads(dx, dh_carry, dc_carry, dW_ih, dW_hh, db_ih, db_hh, dW_hr)
