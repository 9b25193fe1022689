r"""The mLSTM layer of xLSTM (Beck et al., NeurIPS 2024) in its recurrent form, written the textbook way: one
step at a time, one equation per line. The parallel form is :mod:`bptt.functional.reference.mlstm_parallel`.

This is the twin of :mod:`bptt.functional.mlstm` (same arguments, same results, held equal in float64 by the
tests). ``K`` heads of size ``S`` (``H = K·S``); each head has its own matrix memory ``C`` ``(S, S)``,
normaliser ``n`` ``(S,)`` and stabiliser ``m`` (a scalar). There is no recurrent weight: every projection
reads ``x_t`` only (the paper: no memory mixing), which is what makes the parallel form possible. One weight
``W`` ``(4H + 2K, D)`` and bias ``b`` stack the projections in the paper's order
``[q (H), k (H), v (H), ĩ (K), f̃ (K), õ (H)]``.

**Forward, one step** (:func:`step_forward`), the paper's equations (19)-(27), per head:

.. math::

    q_t &= W_q x_t + b_q, \quad k_t = \tfrac{1}{\sqrt S} W_k x_t + b_k, \quad v_t = W_v x_t + b_v
        && \text{(22)-(24)}\\
    \log i_t &= \tilde\imath_t = w_i^\top x_t + b_i, \qquad
        \log f_t = \log\sigma(\tilde f_t) \;\text{or}\; \tilde f_t, \quad \tilde f_t = w_f^\top x_t + b_f
        && \text{(25), (26)}\\
    m_t &= \max(\log f_t + m_{t-1}, \log i_t), \quad i'_t = e^{\log i_t - m_t}, \quad
        f'_t = e^{\log f_t + m_{t-1} - m_t}     && \text{(stabiliser, as sLSTM's (15)-(17))}\\
    C_t &= f'_t C_{t-1} + i'_t\, v_t k_t^\top                    && \text{(19), matrix memory}\\
    n_t &= f'_t n_{t-1} + i'_t k_t                               && \text{(20), normaliser}\\
    \tilde h_t &= \frac{C_t q_t}{\max(|n_t^\top q_t|,\; e^{-m_t})}, \qquad
        h_t = o_t \odot \tilde h_t, \quad o_t = \sigma(W_o x_t + b_o)   && \text{(21), (27)}

The denominator is the paper's :math:`\max(|n_t^\top q_t|, 1)` of (21) written for the stabilised states:
with :math:`\bar C_t = e^{m_t} C_t`, :math:`\bar n_t = e^{m_t} n_t` (the unstabilised states),
:math:`\bar C_t q_t / \max(|\bar n_t^\top q_t|, 1) = C_t q_t / \max(|n_t^\top q_t|, e^{-m_t})`; this is
also what the authors' code computes (``max(|n^T q|, exp(-m))``), which adds ``eps = 1e-6`` to the
denominator; bptt does not (the paper's equation). So :math:`\tilde h_t` does not depend on :math:`m` at all.
The key is scaled as in (23): the weight part by :math:`1/\sqrt S`, not the bias.

**Backward, one step** (:func:`step_backward`), given :math:`dy_t` and the gradients :math:`dC_{next}`,
:math:`dn_{next}`, :math:`dm_{next}` of :math:`C_t, n_t, m_t` carried back from step :math:`t+1` (no
:math:`dh_{next}`: :math:`h_{t-1}` feeds nothing), with :math:`\nu_t = \max(|n_t^\top q_t|, e^{-m_t})`:

.. math::

    do &= dy_t \odot \tilde h_t, \quad da^o = do \odot o_t (1 - o_t), \quad d\tilde h = dy_t \odot o_t\\
    d\mathrm{num} &= d\tilde h / \nu_t, \qquad d\nu = -\,d\tilde h^\top \tilde h_t / \nu_t\\
    d(n^\top q) &= d\nu\, \mathrm{sign}(n_t^\top q_t) \text{ if } |n_t^\top q_t| \ge e^{-m_t}
        \text{ else } 0, \qquad dm^{\nu} = -d\nu\, e^{-m_t} \text{ otherwise}\\
    dC &= dC_{next} + d\mathrm{num}\, q_t^\top, \qquad dn = dn_{next} + d(n^\top q)\, q_t\\
    dq &= C_t^\top d\mathrm{num} + d(n^\top q)\, n_t, \quad dv = i'_t\, dC\, k_t, \quad
        dk = i'_t\, (dC^\top v_t + dn)\\
    di' &= v_t^\top dC\, k_t + dn^\top k_t, \qquad df' = \langle dC, C_{t-1}\rangle + dn^\top n_{t-1}\\
    dm &= dm_{next} + dm^{\nu} - di'\, i'_t - df'\, f'_t\\
    d\log i &= di'\, i'_t + [\text{input wins}]\, dm, \qquad d\log f = df'\, f'_t + [\text{forget wins}]\, dm\\
    dC_{next} &= f'_t\, dC, \quad dn_{next} = f'_t\, dn, \quad dm_{next} = df'\, f'_t + [\text{forget wins}]\, dm

then the projections: :math:`da^i = d\log i`, :math:`da^f = d\log f\,(1 - \sigma(\tilde f_t))` (sigmoid) or
:math:`d\log f` (exp), :math:`dx_t = dq W_q + dk W_k / \sqrt S + dv W_v + da^i w_i + da^f w_f + da^o W_o`,
and the weight gradients :math:`dW_q = dq^\top x_t`, :math:`dW_k = dk^\top x_t / \sqrt S`, ...

**The stabiliser's gradient** follows the sLSTM's convention (:mod:`bptt.functional.reference.slstm`): the
maxes are differentiated as written (torch autograd of the equations, the authors' ``mLSTM`` backends, which
are plain autograd). Because :math:`\tilde h_t` does not depend on :math:`m`, the gradient reaching
:math:`m_t` is zero (up to rounding) when only the outputs feed the loss; it is carried back and routed
through the max only for losses on the final states themselves.

**A sequence** is a loop over ``t = 0 .. T-1``; ``record`` works as for the other reference ops
(``record(cache)`` after :func:`forward`, ``record(cache, steps)`` after :func:`backward`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..mlstm import MLSTMGrads  # the result type, shared with the fast twin
from .common import log_sigmoid, sigmoid


class Projections(NamedTuple):
    """Every projection of ``x`` (eqs 22-27 before the nonlinearities), heads split: ``(..., K, S)`` or
    ``(..., K)`` for the scalar gates."""

    q: np.ndarray  # query
    k: np.ndarray  # key, scaled by 1/sqrt(S) (the weight part)
    v: np.ndarray  # value
    a_i: np.ndarray  # input gate pre-activation i~ = log i, (..., K)
    a_f: np.ndarray  # forget gate pre-activation f~, (..., K)
    a_o: np.ndarray  # output gate pre-activation o~


def split_weights(W: np.ndarray, num_heads: int) -> list[np.ndarray]:
    """``W`` (or a bias) cut into its row blocks ``[W_q, W_k, W_v, w_i, w_f, W_o]``."""
    H = (W.shape[0] - 2 * num_heads) // 4
    return np.split(W, [H, 2 * H, 3 * H, 3 * H + num_heads, 3 * H + 2 * num_heads])


def project(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, num_heads: int) -> Projections:
    """The projections of ``x`` ``(..., D)``, one line per equation of the paper."""
    W_q, W_k, W_v, w_i, w_f, W_o = split_weights(W, num_heads)
    b_q, b_k, b_v, b_i, b_f, b_o = split_weights(np.zeros(W.shape[0], dtype=W.dtype) if b is None else b, num_heads)
    S = W_q.shape[0] // num_heads  # head size
    q = x @ W_q.T + b_q  # query (eq 22)
    k = x @ W_k.T / math.sqrt(S) + b_k  # key (eq 23)
    v = x @ W_v.T + b_v  # value (eq 24)
    a_i = x @ w_i.T + b_i  # input gate pre-activation, one per head (eq 25)
    a_f = x @ w_f.T + b_f  # forget gate pre-activation, one per head (eq 26)
    a_o = x @ W_o.T + b_o  # output gate pre-activation (eq 27)
    heads = x.shape[:-1] + (num_heads, S)
    return Projections(q.reshape(heads), k.reshape(heads), v.reshape(heads), a_i, a_f, a_o)


def project_backward(grads: Projections, x: np.ndarray, W: np.ndarray, num_heads: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dW, db)`` from the gradients of the projections (same layout as :func:`project` returns)."""
    W_q, W_k, W_v, w_i, w_f, W_o = split_weights(W, num_heads)
    S = W_q.shape[0] // num_heads
    lead = x.shape[:-1]
    dq, dk, dv = (g.reshape(lead + (-1,)) for g in grads[:3])
    da_i, da_f, da_o = grads[3:]
    dx = dq @ W_q + dk @ W_k / math.sqrt(S) + dv @ W_v + da_i @ w_i + da_f @ w_f + da_o @ W_o
    x2 = x.reshape(-1, x.shape[-1])
    rows = [g.reshape(-1, g.shape[-1]) for g in (dq, dk, dv, da_i, da_f, da_o)]
    dW = np.concatenate([rows[0].T @ x2, rows[1].T @ x2 / math.sqrt(S), *(g.T @ x2 for g in rows[2:])])
    db = np.concatenate([g.sum(axis=0) for g in rows])
    return dx, dW, db


class StepCache(NamedTuple):
    """Everything one forward step computed; ``(B, K, S)`` per head, ``(B, K)`` for the scalar gates."""

    x: np.ndarray  # x_t, (B, D)
    C_prev: np.ndarray  # C_{t-1}, (B, K, S, S)
    n_prev: np.ndarray  # n_{t-1}, (B, K, S)
    m_prev: np.ndarray  # m_{t-1}, (B, K)
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    log_i: np.ndarray  # log i_t = i~
    a_f: np.ndarray  # f~
    log_f: np.ndarray  # log f_t
    m: np.ndarray  # stabiliser m_t
    i: np.ndarray  # stabilised input gate i'_t
    f: np.ndarray  # stabilised forget gate f'_t
    C: np.ndarray  # matrix memory C_t, (B, K, S, S)
    n: np.ndarray  # normaliser n_t
    num: np.ndarray  # C_t q_t
    qn: np.ndarray  # n_t^T q_t, (B, K)
    den: np.ndarray  # max(|n_t^T q_t|, exp(-m_t))
    h_tilde: np.ndarray  # C_t q_t / den, (B, K, S)
    o: np.ndarray  # output gate, (B, H)
    h: np.ndarray  # output h_t = o * h~, (B, H)


class StepGrads(NamedTuple):
    """Every gradient of one backward step, then the step's shares of the weight gradients."""

    dy: np.ndarray  # gradient from the output y_t, (B, H)
    dC_next_in: np.ndarray  # carried in from step t+1
    dn_next_in: np.ndarray
    dm_next_in: np.ndarray
    do: np.ndarray
    da_o: np.ndarray
    dh_tilde: np.ndarray  # (B, K, S)
    dnum: np.ndarray
    dden: np.ndarray  # (B, K)
    dqn: np.ndarray  # gradient of n^T q (zero where exp(-m) is the larger)
    dm_den: np.ndarray  # gradient of m through exp(-m) in the denominator (zero elsewhere)
    dC: np.ndarray  # (B, K, S, S)
    dn: np.ndarray
    dq: np.ndarray
    dv: np.ndarray
    dk: np.ndarray
    di: np.ndarray  # gradient of i'_t, (B, K)
    df: np.ndarray  # gradient of f'_t
    dm: np.ndarray  # gradient of m_t (zero up to rounding when only outputs feed the loss)
    dlog_i: np.ndarray
    dlog_f: np.ndarray
    da_i: np.ndarray
    da_f: np.ndarray
    dx: np.ndarray
    dC_next: np.ndarray  # carried out to step t-1
    dn_next: np.ndarray
    dm_next: np.ndarray
    dW: np.ndarray  # this step's share of dW, (4H + 2K, D)
    db: np.ndarray  # this step's share of db


class SequenceCache(NamedTuple):
    """What :func:`backward` needs: the time-ordered step caches, the weights and the options."""

    steps: list[StepCache]
    W: np.ndarray
    has_bias: bool
    forget_gate: str


def step_forward(
    x: np.ndarray,
    C_prev: np.ndarray,
    n_prev: np.ndarray,
    m_prev: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None = None,
    *,
    forget_gate: str = "sigmoid",
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], StepCache]:
    """One mLSTM step (the forward equations of the module docstring); returns ``((h, C, n, m), cache)``."""
    B, K = m_prev.shape
    q, k, v, log_i, a_f, a_o = project(x, W, b, K)  # eqs 22-27 before the nonlinearities; log i = i~
    log_f = log_sigmoid(a_f) if forget_gate == "sigmoid" else a_f  # sigmoid or exponential forget gate (eq 26)
    m = np.maximum(log_f + m_prev, log_i)  # stabiliser
    i = np.exp(log_i - m)  # stabilised input gate i'
    f = np.exp(log_f + m_prev - m)  # stabilised forget gate f'
    C = f[:, :, None, None] * C_prev + i[:, :, None, None] * (v[:, :, :, None] * k[:, :, None, :])  # eq 19
    n = f[:, :, None] * n_prev + i[:, :, None] * k  # normaliser (eq 20)
    num = np.einsum("bkij,bkj->bki", C, q)  # C_t q_t
    qn = np.sum(n * q, axis=2)  # n_t^T q_t
    den = np.maximum(np.abs(qn), np.exp(-m))  # max(|n^T q|, 1) for the stabilised states (eq 21)
    h_tilde = num / den[:, :, None]  # eq 21
    o = sigmoid(a_o)  # output gate (eq 27)
    h = o * h_tilde.reshape(B, -1)  # eq 21
    return (h, C, n, m), StepCache(x, C_prev, n_prev, m_prev, q, k, v, log_i, a_f, log_f, m, i, f, C, n, num, qn,
                                   den, h_tilde, o, h)


def step_backward(
    dy: np.ndarray,
    dC_next_in: np.ndarray,
    dn_next_in: np.ndarray,
    dm_next_in: np.ndarray,
    cache: StepCache,
    W: np.ndarray,
    *,
    forget_gate: str = "sigmoid",
) -> StepGrads:
    """One mLSTM backward step (the backward equations of the module docstring)."""
    (x, C_prev, n_prev, m_prev, q, k, v, log_i, a_f, log_f, m, i, f, C, n, num, qn, den, h_tilde, o,
     h) = cache
    B, K, S = q.shape
    do = dy * h_tilde.reshape(B, -1)  # through h = o * h~
    da_o = do * o * (1 - o)  # through o = sigmoid(o~)
    dh_tilde = (dy * o).reshape(B, K, S)
    dnum = dh_tilde / den[:, :, None]  # through h~ = num / den
    dden = -np.sum(dh_tilde * h_tilde, axis=2) / den  # d(num/den)/dden = -h~/den
    normaliser_wins = np.abs(qn) >= np.exp(-m)  # which argument the max of the denominator took
    dqn = np.where(normaliser_wins, dden * np.sign(qn), 0)  # through |n^T q|
    dm_den = np.where(normaliser_wins, 0, -dden * np.exp(-m))  # through exp(-m)
    dC = dC_next_in + dnum[:, :, :, None] * q[:, :, None, :]  # num = C q
    dn = dn_next_in + dqn[:, :, None] * q  # n^T q
    dq = np.einsum("bkij,bki->bkj", C, dnum) + dqn[:, :, None] * n  # num = C q and n^T q
    dv = i[:, :, None] * np.einsum("bkij,bkj->bki", dC, k)  # C = ... + i' v k^T
    dk = i[:, :, None] * (np.einsum("bkij,bki->bkj", dC, v) + dn)  # C = ... + i' v k^T, n = ... + i' k
    di = np.einsum("bkij,bki,bkj->bk", dC, v, k) + np.sum(dn * k, axis=2)  # i' enters C and n
    df = np.sum(dC * C_prev, axis=(2, 3)) + np.sum(dn * n_prev, axis=2)  # f' enters C and n
    dm = dm_next_in + dm_den - di * i - df * f  # m enters den, i' = exp(log i - m), f' = exp(log f + m_prev - m)
    forget_wins = log_f + m_prev >= log_i  # which argument the stabiliser's max took
    dlog_i = di * i + np.where(forget_wins, 0, dm)
    dlog_f = df * f + np.where(forget_wins, dm, 0)
    da_i = dlog_i  # log i = i~
    da_f = dlog_f * (1 - sigmoid(a_f)) if forget_gate == "sigmoid" else dlog_f  # d log sigmoid(a)/da = 1 - sigmoid(a)
    dx, dW, db = project_backward(Projections(dq, dk, dv, da_i, da_f, da_o), x, W, K)
    dC_next = f[:, :, None, None] * dC  # through C = f' C_{t-1} + ..., carried to step t-1
    dn_next = f[:, :, None] * dn  # through n = f' n_{t-1} + ...
    dm_next = df * f + np.where(forget_wins, dm, 0)  # through f' and, when the forget branch won, the max
    return StepGrads(dy, dC_next_in, dn_next_in, dm_next_in, do, da_o, dh_tilde, dnum, dden, dqn, dm_den, dC, dn, dq,
                     dv, dk, di, df, dm, dlog_i, dlog_f, da_i, da_f, dx, dC_next, dn_next, dm_next, dW, db)


def forward(
    x: np.ndarray,
    C0: np.ndarray,
    n0: np.ndarray,
    m0: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None = None,
    *,
    forget_gate: str = "sigmoid",
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, ...], SequenceCache]:
    """Run the layer over ``x`` ``(T, B, D)`` from ``C0`` ``(B, K, S, S)``, ``n0`` ``(B, K, S)``, ``m0``
    ``(B, K)``; returns ``((y, C_n, n_n, m_n), cache)`` like :func:`bptt.functional.mlstm.forward`."""
    T, B, _ = x.shape
    K, S = n0.shape[1:]
    y = np.zeros((T, B, K * S), dtype=x.dtype)
    steps: list = [None] * T
    C, n, m = C0, n0, m0
    for t in range(T):
        (y[t], C, n, m), steps[t] = step_forward(x[t], C, n, m, W, b, forget_gate=forget_gate)
    cache = SequenceCache(steps, W, b is not None, forget_gate)
    if record is not None:
        record(cache)
    return (y, C, n, m), cache


def backward(
    dout: tuple[np.ndarray | None, ...],
    cache: SequenceCache,
    *,
    need_dx: bool = True,
    record: Callable | None = None,
) -> MLSTMGrads:
    """Backpropagate ``dout = (dy, dC_n, dn_n, dm_n)`` (``None`` for zero) through time; returns
    :class:`~bptt.functional.mlstm.MLSTMGrads` ``(dx, dC0, dn0, dm0, dW, db)`` like the fast twin."""
    steps, W, has_bias, forget_gate = cache
    T = len(steps)
    B, D = steps[0].x.shape
    K, S = steps[0].n.shape[1:]
    dt = steps[0].x.dtype
    dy, dC_n, dn_n, dm_n = dout
    dC_carry = np.zeros((B, K, S, S), dtype=dt) if dC_n is None else np.asarray(dC_n, dtype=dt)
    dn_carry = np.zeros((B, K, S), dtype=dt) if dn_n is None else np.asarray(dn_n, dtype=dt)
    dm_carry = np.zeros((B, K), dtype=dt) if dm_n is None else np.asarray(dm_n, dtype=dt)
    dx = np.zeros((T, B, D), dtype=dt)
    grads: list = [None] * T
    for t in range(T - 1, -1, -1):  # backwards in time
        dy_t = np.zeros((B, K * S), dtype=dt) if dy is None else np.asarray(dy[t], dtype=dt)
        grads[t] = step_backward(dy_t, dC_carry, dn_carry, dm_carry, steps[t], W, forget_gate=forget_gate)
        dC_carry, dn_carry, dm_carry = grads[t].dC_next, grads[t].dn_next, grads[t].dm_next
        dx[t] = grads[t].dx
    dW = sum((g.dW for g in grads), np.zeros(W.shape, dtype=dt))
    db = sum((g.db for g in grads), np.zeros(W.shape[0], dtype=dt)) if has_bias else None
    if record is not None:
        record(cache, grads)
    return MLSTMGrads(dx if need_dx else None, dC_carry, dn_carry, dm_carry, dW, db)
