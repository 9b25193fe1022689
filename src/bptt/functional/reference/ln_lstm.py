r"""The layer-normalised LSTM (TensorFlow 1's ``LayerNormBasicLSTMCell``, seed 000's cell) the textbook way.

This is the twin of :mod:`bptt.functional.ln_lstm` (same arguments, same results, held equal in float64 by
the tests). TensorFlow's layout: ``kernel`` ``(D + H, 4H)`` with column blocks ``i, j, f, o`` (``j`` is the
candidate's pre-activation), ``bias`` ``(4H,)`` (used without layer norm), ``gamma`` and ``beta`` ``(5, H)``
with rows ``input, transform, forget, output, state`` (given: layer norm on).

**Layer norm** over the ``H`` units of each row (:func:`layer_norm_forward`, :func:`layer_norm_backward`),
population variance, TensorFlow's :math:`\epsilon = 10^{-12}`:

.. math::

    \mu &= \overline{v}, \quad \sigma^2 = \overline{(v - \mu)^2}, \quad \rho = (\sigma^2 + \epsilon)^{-1/2},
        \quad \hat v = (v - \mu)\,\rho, \quad \mathrm{LN}(v) = \hat v \odot \gamma + \beta\\
    d\hat v &= dy \odot \gamma, \quad
        dv = \rho\,\big(d\hat v - \overline{d\hat v} - \hat v\,\overline{d\hat v \odot \hat v}\big), \quad
        d\gamma = \textstyle\sum_b dy \odot \hat v, \quad d\beta = \sum_b dy

(bars are means over the units).

**Forward, one step** (:func:`step_forward`):

.. math::

    z_t &= [x_t, h_{t-1}] \;\text{(HX)}, \qquad a_t = z_t K \,(+\, b) = [a^i, a^j, a^f, a^o]\\
    \hat a^k &= \mathrm{LN}_k(a^k) \quad (k = i, j, f, o;\ \hat a = a \text{ without layer norm})\\
    i &= \sigma(\hat a^i), \quad g = \tanh(\hat a^j) \odot m_t, \quad f = \sigma(\hat a^f + \text{forget\_bias}),
        \quad o = \sigma(\hat a^o)\\
    \tilde c_t &= c_{t-1} \odot f + i \odot g, \qquad c_t = \mathrm{LN}_{state}(\tilde c_t)\\
    h_t &= \tanh(c_t) \odot o

(:math:`m_t` the optional recurrent-dropout mask, already scaled by ``1/keep_prob``).

**Backward, one step** (:func:`step_backward`), the seed's order; the gate gradients ``da_i`` ... ``da_o``
are with respect to the (normalised) :math:`\hat a`, the layer-norm backward then maps them to :math:`a`:

.. math::

    dh &= dy_t + dh_{next}                                                  && \text{dHt}\\
    do &= dh \odot \tanh(c_t), \qquad d\hat a^o = do \odot o (1 - o)             && \text{dOt}\\
    dc &= dc_{next} + dh \odot o \odot (1 - \tanh^2 c_t), \qquad
        d\tilde c = \mathrm{LN}_{state}'(dc)                                   && \text{dCt}\\
    dg &= d\tilde c \odot i, \qquad d\hat a^j = dg \odot m_t \odot (1 - \tanh^2 \hat a^j) && \text{dCprojt}\\
    df &= d\tilde c \odot c_{t-1}, \qquad d\hat a^f = df \odot f (1 - f)          && \text{dFt}\\
    di &= d\tilde c \odot g, \qquad d\hat a^i = di \odot i (1 - i)                && \text{dIt}\\
    da &= \mathrm{LN}'_{i,j,f,o}(d\hat a), \qquad dz = da\, K^\top = [dx_t, dh_{next}] && \text{dHX}\\
    dc_{next} &= d\tilde c \odot f                                            && \text{dC\_next}

and the step's shares :math:`dK = z_t^\top da`, :math:`db = \sum_b da`, and the five layer norms'
:math:`d\gamma`, :math:`d\beta`.

**A sequence**, ``reverse``, ``lengths`` and the ``record`` protocol work exactly as in
:mod:`bptt.functional.reference.lstm`; ``g_mask`` is ``(T, B, H)``, time-ordered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..ln_lstm import LNLSTMGrads  # the result type, shared with the fast twin
from .common import packed_mask, processing_order, sigmoid

EPS = 1e-12  # TensorFlow's hard-coded layer-norm variance epsilon


class LayerNormCache(NamedTuple):
    """What the layer-norm backward needs, for rows of ``H`` units."""

    xhat: np.ndarray  # the normalised input (v - mean) / sqrt(var + eps), (B, H)
    rstd: np.ndarray  # 1 / sqrt(var + eps), (B, 1)
    gamma: np.ndarray  # the gain, (H,)


def layer_norm_forward(v: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, LayerNormCache]:
    """``LN(v) = (v - mean) / sqrt(var + eps) * gamma + beta`` over the last axis; returns ``(y, cache)``."""
    mean = v.mean(axis=1, keepdims=True)
    var = ((v - mean) ** 2).mean(axis=1, keepdims=True)  # population variance
    rstd = 1 / np.sqrt(var + EPS)
    xhat = (v - mean) * rstd  # zero mean, unit variance
    y = xhat * gamma + beta  # learned gain and shift
    return y, LayerNormCache(xhat, rstd, gamma)


def layer_norm_backward(dy: np.ndarray, cache: LayerNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``y = LN(v)``: returns ``(dv, dgamma, dbeta)`` (the last two summed over the batch)."""
    xhat, rstd, gamma = cache
    dxhat = dy * gamma
    dv = rstd * (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=1, keepdims=True))
    dgamma = (dy * xhat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    return dv, dgamma, dbeta


class StepCache(NamedTuple):
    """Everything one forward step computed, each ``(B, ·)`` (padded rows: a cell whose result was thrown
    away). The layer-norm fields are ``None`` without layer norm."""

    x: np.ndarray  # x_t, (B, D)
    h_prev: np.ndarray  # h_{t-1}
    c_prev: np.ndarray  # c_{t-1}
    z: np.ndarray  # [x_t, h_{t-1}], the seed's HX, (B, D + H)
    a: np.ndarray  # pre-activations [a_i, a_j, a_f, a_o] = z K (+ b), (B, 4H)
    a_hat: np.ndarray  # after the four gate layer norms (a itself without layer norm), (B, 4H)
    ln_gates: tuple[LayerNormCache, ...] | None  # the layer norms of blocks i, j, f, o
    i: np.ndarray  # input gate
    g_raw: np.ndarray  # tanh(a_hat_j), before the dropout mask
    g_mask: np.ndarray | None  # recurrent-dropout mask of this step (None: no dropout)
    g: np.ndarray  # candidate cell state, the seed's Cproj
    f: np.ndarray  # forget gate
    o: np.ndarray  # output gate
    c_tilde: np.ndarray  # c_{t-1} f + i g, before the state layer norm
    ln_c: LayerNormCache | None  # the state layer norm
    c: np.ndarray  # cell state c_t
    tanh_c: np.ndarray  # tanh(c_t)
    h: np.ndarray  # hidden state h_t


class StepGrads(NamedTuple):
    """Every gradient of one backward step, in the seed's order, each ``(B, ·)``, then the step's shares of
    the parameter gradients. All zero at padded rows."""

    dy: np.ndarray  # gradient from the output y_t
    dh_next_in: np.ndarray  # carried in from step t+1
    dc_next_in: np.ndarray  # carried in from step t+1
    dh: np.ndarray  # dHt
    do: np.ndarray  # dOt
    da_o: np.ndarray  # gradient of a_hat_o
    dc: np.ndarray  # dCt (of the normalised state c_t)
    dc_tilde: np.ndarray  # of c~ before the state layer norm (dc without layer norm)
    dg: np.ndarray  # dCprojt
    da_g: np.ndarray  # gradient of a_hat_j
    df: np.ndarray  # dFt
    da_f: np.ndarray  # gradient of a_hat_f
    di: np.ndarray  # dIt
    da_i: np.ndarray  # gradient of a_hat_i
    da_hat: np.ndarray  # [da_i, da_g, da_f, da_o], TensorFlow's block order, (B, 4H)
    da: np.ndarray  # gradient of a = z K (+ b) (da_hat without layer norm), (B, 4H)
    dz: np.ndarray  # dHX = [dx, dh_next], (B, D + H)
    dx: np.ndarray  # the seed's dxt
    dh_next: np.ndarray  # carried out to step t-1
    dc_next: np.ndarray  # dC_next, carried out to step t-1
    dkernel: np.ndarray  # z^T da, (D + H, 4H)
    dbias: np.ndarray  # sum of da over the batch, (4H,)
    dgamma: np.ndarray | None  # (5, H), rows input, transform, forget, output, state; None without layer norm
    dbeta: np.ndarray | None  # (5, H)


class SequenceCache(NamedTuple):
    """What :func:`backward` needs: the time-ordered step caches, the parameters and the options."""

    steps: list[StepCache]  # steps[t] is time step t
    kernel: np.ndarray
    has_bias: bool
    gamma: np.ndarray | None
    forget_bias: float
    reverse: bool
    lengths: np.ndarray | None
    mask: np.ndarray  # (T, B, 1) booleans, t < lengths[b]


def step_forward(
    x: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    gamma: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    *,
    forget_bias: float = 1.0,
    g_mask: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], StepCache]:
    """One step of the cell (the forward equations of the module docstring); returns ``((h, c), cache)``.
    ``g_mask`` is this step's ``(B, H)`` dropout mask."""
    z = np.concatenate([x, h_prev], axis=1)  # HX
    a = z @ kernel  # the four pre-activations, blocks [i, j, f, o]
    if bias is not None:
        a = a + bias
    a_i, a_j, a_f, a_o = np.split(a, 4, axis=1)
    if gamma is None:
        a_hat_i, a_hat_j, a_hat_f, a_hat_o = a_i, a_j, a_f, a_o
        ln_gates = None
    else:
        a_hat_i, ln_i = layer_norm_forward(a_i, gamma[0], beta[0])  # "input" layer norm
        a_hat_j, ln_j = layer_norm_forward(a_j, gamma[1], beta[1])  # "transform"
        a_hat_f, ln_f = layer_norm_forward(a_f, gamma[2], beta[2])  # "forget"
        a_hat_o, ln_o = layer_norm_forward(a_o, gamma[3], beta[3])  # "output"
        ln_gates = (ln_i, ln_j, ln_f, ln_o)
    i = sigmoid(a_hat_i)  # input gate
    g_raw = np.tanh(a_hat_j)  # candidate ...
    g = g_raw if g_mask is None else g_raw * g_mask  # ... after recurrent dropout (the seed's Cproj)
    f = sigmoid(a_hat_f + forget_bias)  # forget gate
    o = sigmoid(a_hat_o)  # output gate
    c_tilde = c_prev * f + i * g  # new cell state ...
    if gamma is None:
        c, ln_c = c_tilde, None
    else:
        c, ln_c = layer_norm_forward(c_tilde, gamma[4], beta[4])  # ... after the "state" layer norm
    tanh_c = np.tanh(c)
    h = tanh_c * o  # new hidden state
    a_hat = np.concatenate([a_hat_i, a_hat_j, a_hat_f, a_hat_o], axis=1)
    return (h, c), StepCache(x, h_prev, c_prev, z, a, a_hat, ln_gates, i, g_raw, g_mask, g, f, o, c_tilde, ln_c,
                             c, tanh_c, h)


def step_backward(
    dy: np.ndarray, dh_next_in: np.ndarray, dc_next_in: np.ndarray, cache: StepCache, kernel: np.ndarray
) -> StepGrads:
    """One backward step of the cell in seed 000's order (the backward equations of the module docstring)."""
    x, h_prev, c_prev, z, a, a_hat, ln_gates, i, g_raw, g_mask, g, f, o, c_tilde, ln_c, c, tanh_c, h = cache
    D = x.shape[1]
    dh = dy + dh_next_in  # dHt: from the output and from step t+1
    do = dh * tanh_c  # dOt
    da_o = do * o * (1 - o)  # through o = sigmoid(a_hat_o)
    dc = dc_next_in + dh * o * (1 - tanh_c**2)  # dCt: from step t+1 and through h = tanh(c) o
    if ln_c is None:
        dc_tilde, dgamma_c, dbeta_c = dc, None, None
    else:
        dc_tilde, dgamma_c, dbeta_c = layer_norm_backward(dc, ln_c)  # through c = LN_state(c~)
    dg = dc_tilde * i  # dCprojt
    dg_raw = dg if g_mask is None else dg * g_mask  # through the dropout mask g = g_raw m
    da_g = dg_raw * (1 - g_raw**2)  # through g_raw = tanh(a_hat_j)
    df = dc_tilde * c_prev  # dFt
    da_f = df * f * (1 - f)  # through f = sigmoid(a_hat_f + forget_bias)
    di = dc_tilde * g  # dIt
    da_i = di * i * (1 - i)  # through i = sigmoid(a_hat_i)
    da_hat = np.concatenate([da_i, da_g, da_f, da_o], axis=1)  # blocks [i, j, f, o]
    if ln_gates is None:
        da, dgamma, dbeta = da_hat, None, None
    else:  # back through the four gate layer norms, block by block
        ln_back = [layer_norm_backward(d, ln) for d, ln in zip((da_i, da_g, da_f, da_o), ln_gates)]
        da = np.concatenate([d for d, _, _ in ln_back], axis=1)
        dgamma = np.stack([dgam for _, dgam, _ in ln_back] + [dgamma_c])  # rows input .. output, state
        dbeta = np.stack([dbet for _, _, dbet in ln_back] + [dbeta_c])
    dz = da @ kernel.T  # dHX: back through a = z K
    dx = dz[:, :D]  # dxt: the x part of HX
    dh_next = dz[:, D:]  # the h_{t-1} part of HX, carried to step t-1
    dc_next = dc_tilde * f  # dC_next: through c~ = c_{t-1} f + i g, carried to step t-1
    dkernel = z.T @ da  # this step's share of dkernel
    dbias = da.sum(axis=0)  # this step's share of dbias
    return StepGrads(dy, dh_next_in, dc_next_in, dh, do, da_o, dc, dc_tilde, dg, da_g, df, da_f, di, da_i, da_hat,
                     da, dz, dx, dh_next, dc_next, dkernel, dbias, dgamma, dbeta)


def forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    gamma: np.ndarray | None = None,
    beta: np.ndarray | None = None,
    *,
    forget_bias: float = 1.0,
    g_mask: np.ndarray | None = None,
    reverse: bool = False,
    lengths: np.ndarray | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], SequenceCache]:
    """Run the layer over ``x`` ``(T, B, D)``; ``gamma``/``beta`` given means layer norm on. Returns
    ``((y, h_n, c_n), cache)`` like :func:`bptt.functional.ln_lstm.forward`."""
    T, B, _ = x.shape
    mask = packed_mask(lengths, T, B)
    y = np.zeros((T, B, h0.shape[1]), dtype=x.dtype)
    steps: list = [None] * T
    h, c = h0, c0
    for t in processing_order(T, reverse):
        m = mask[t]  # (B, 1): which rows are inside their sequence at step t
        g_mask_t = None if g_mask is None else g_mask[t]
        (h_new, c_new), steps[t] = step_forward(x[t], h, c, kernel, bias, gamma, beta, forget_bias=forget_bias,
                                                g_mask=g_mask_t)
        h = np.where(m, h_new, h)  # padded rows keep their state ...
        c = np.where(m, c_new, c)
        y[t] = np.where(m, h_new, 0)  # ... and output zeros
    cache = SequenceCache(steps, kernel, bias is not None, gamma, forget_bias, reverse, lengths, mask)
    if record is not None:
        record(cache)
    return (y, h, c), cache


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    cache: SequenceCache,
    *,
    need_dx: bool = True,
    record: Callable | None = None,
) -> LNLSTMGrads:
    """Backpropagate ``(dy, dh_n, dc_n)``; returns ``LNLSTMGrads(dx, dh0, dc0, dkernel, dbias, dgamma, dbeta)`` like
    :func:`bptt.functional.ln_lstm.backward`."""
    dy, dh_n, dc_n = dout
    steps, kernel, has_bias, gamma, _, reverse, _, mask = cache
    T = len(steps)
    H = kernel.shape[1] // 4
    B, D = steps[0].x.shape if T else (mask.shape[1], kernel.shape[0] - H)
    dt = steps[0].x.dtype if T else kernel.dtype
    dh_carry = np.zeros((B, H), dtype=dt) if dh_n is None else np.asarray(dh_n, dtype=dt)
    dc_carry = np.zeros((B, H), dtype=dt) if dc_n is None else np.asarray(dc_n, dtype=dt)
    dx = np.zeros((T, B, D), dtype=dt)
    grads: list = [None] * T
    for t in processing_order(T, not reverse):  # backwards in time
        m = mask[t]
        dy_t = np.zeros((B, H), dtype=dt) if dy is None else np.asarray(dy[t], dtype=dt)
        # A padded row's cell did not run: it gets no gradient (so every quantity of its step is zero) ...
        grads[t] = step_backward(np.where(m, dy_t, 0), np.where(m, dh_carry, 0), np.where(m, dc_carry, 0),
                                 steps[t], kernel)
        dh_carry = np.where(m, grads[t].dh_next, dh_carry)  # ... and its carried gradients pass straight through
        dc_carry = np.where(m, grads[t].dc_next, dc_carry)
        dx[t] = grads[t].dx
    dkernel = sum((g.dkernel for g in grads), np.zeros(kernel.shape, dtype=dt))
    dbias = sum((g.dbias for g in grads), np.zeros(4 * H, dtype=dt)) if has_bias else None
    dgamma = dbeta = None
    if gamma is not None:
        dgamma = sum((g.dgamma for g in grads), np.zeros((5, H), dtype=dt))
        dbeta = sum((g.dbeta for g in grads), np.zeros((5, H), dtype=dt))
    if record is not None:
        record(cache, grads)
    return LNLSTMGrads(dx if need_dx else None, dh_carry, dc_carry, dkernel, dbias, dgamma, dbeta)
