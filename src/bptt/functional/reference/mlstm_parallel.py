r"""The mLSTM layer's parallel form, written the textbook way: one batch row and head at a time, the whole
sequence as ``(T, T)`` matrices, one equation per line (the xLSTM paper's appendix on the mLSTM's parallel
formulation, and the authors' ``parallel_stabilized_simple``, extended by an initial state).

This is the twin of :mod:`bptt.functional.mlstm_parallel`, and computes the same function as the recurrent
:mod:`bptt.functional.reference.mlstm` (same arguments, same results, held equal by the tests). The
projections are the recurrent form's (:func:`bptt.functional.reference.mlstm.project`).

**Forward, one head** (:func:`head_forward`), unrolling the recurrence
:math:`\bar C_t = f_t \bar C_{t-1} + i_t v_t k_t^\top` of the unstabilised memory
:math:`\bar C_t = e^{m_t} C_t`:

.. math::

    \bar C_t &= \Big(\prod_{s \le t} f_s\Big) \bar C_0 + \sum_{j \le t} \Big(\prod_{s=j+1}^{t} f_s\Big)
        i_j\, v_j k_j^\top, \qquad \bar C_0 = e^{m_0} C_0

so with :math:`F_t = \sum_{s \le t} \log f_s`, every weight is an exponential of a sum of logs:

.. math::

    \log D_{tj} &= F_t - F_j + \log i_j \quad (j \le t; \; -\infty \text{ above the diagonal: the causal
        mask})\\
    \log w_t &= F_t + m_0 \qquad \text{(the initial state's weight)}\\
    m_t &= \max(\log w_t,\; \max_j \log D_{tj})      \qquad \text{(the row max: the recurrent } m_t\text{)}\\
    D'_{tj} &= e^{\log D_{tj} - m_t}, \qquad w'_t = e^{\log w_t - m_t}\\
    \tilde C_{tj} &= (q_t^\top k_j)\, D'_{tj}          \qquad \text{(the combination matrix)}\\
    \nu_t &= \max\Big(\Big|\sum_j \tilde C_{tj} + w'_t\, n_0^\top q_t\Big|,\; e^{-m_t}\Big), \qquad
        \tilde h_t = \frac{\sum_j \tilde C_{tj} v_j + w'_t\, C_0 q_t}{\nu_t}

and the final states are the last row's: :math:`C_T = \sum_j D'_{Tj} v_j k_j^\top + w'_T C_0`,
:math:`n_T = \sum_j D'_{Tj} k_j + w'_T n_0`, :math:`m_T`.

**Backward, one head** (:func:`head_backward`): each line of :func:`head_forward` taken back in reverse
order; the row max hands :math:`dm_t` to the entry that won (the initial state's weight on ties, then the
oldest column, as the recurrence's maxes do); the causal mask's entries have :math:`D' = 0` and so no
gradient; and :math:`d\log f_s = \sum_{t \ge s} dF_t`, a reverse cumulative sum.

``record``, when given, is called as ``record(cache)`` after :func:`forward` and ``record(cache, heads)``
after :func:`backward`, ``heads[b][k]`` being the :class:`HeadGrads` of batch row ``b``, head ``k``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..mlstm import MLSTMGrads  # the result type, shared with the fast twin
from .common import log_sigmoid, sigmoid
from .mlstm import Projections, project, project_backward


class HeadCache(NamedTuple):
    """One head of one batch row, the whole sequence: ``(T, S)``, ``(T, T)`` or ``(T,)`` arrays."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    log_i: np.ndarray
    log_f: np.ndarray
    C0: np.ndarray  # (S, S)
    n0: np.ndarray  # (S,)
    m0: float
    F: np.ndarray  # cumulative log forget gates
    log_D: np.ndarray  # (T, T), -inf above the diagonal
    log_w0: np.ndarray  # the initial state's log weight
    m: np.ndarray  # the row max (stabiliser)
    D: np.ndarray  # D' = exp(log D - m)
    w0: np.ndarray  # w' = exp(log w - m)
    QK: np.ndarray  # q_t^T k_j
    Ct: np.ndarray  # combination matrix C~
    qn: np.ndarray  # n_t^T q_t
    den: np.ndarray  # max(|n_t^T q_t|, exp(-m_t))
    num: np.ndarray  # C_t q_t
    h_tilde: np.ndarray  # (T, S)


class HeadGrads(NamedTuple):
    """The gradients of one head, in the order :func:`head_backward` forms them."""

    dnum: np.ndarray
    dden: np.ndarray
    dqn: np.ndarray
    dm_den: np.ndarray
    dCt: np.ndarray
    dv: np.ndarray
    dw0: np.ndarray
    dQK: np.ndarray
    dD: np.ndarray
    dq: np.ndarray
    dk: np.ndarray
    dlog_D: np.ndarray
    dlog_w0: np.ndarray
    dm: np.ndarray
    dlog_i: np.ndarray
    dF: np.ndarray
    dlog_f: np.ndarray
    dC0: np.ndarray
    dn0: np.ndarray
    dm0: float


class SequenceCache(NamedTuple):
    """What :func:`backward` needs."""

    x: np.ndarray
    W: np.ndarray
    has_bias: bool
    forget_gate: str
    projections: Projections  # (T, B, K, S) / (T, B, K) / (T, B, H)
    o: np.ndarray  # output gate, (T, B, H)
    heads: list  # heads[b][k]: HeadCache


def head_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, log_i: np.ndarray, log_f: np.ndarray,
                 C0: np.ndarray, n0: np.ndarray, m0: float) -> tuple[tuple, HeadCache]:
    """One head over the whole sequence: ``((h_tilde, C_T, n_T, m_T), cache)``."""
    T = len(log_i)
    F = np.cumsum(log_f)  # F_t = sum_{s<=t} log f_s
    causal = np.tril(np.ones((T, T), dtype=bool))  # step t reads steps j <= t
    log_D = np.where(causal, F[:, None] - F[None, :] + log_i[None, :], -np.inf)  # log D_tj
    log_w0 = F + m0  # the initial state's log weight
    m = np.maximum(log_w0, log_D.max(axis=1))  # the row max: the stabiliser m_t
    D = np.exp(log_D - m[:, None])  # stabilised decay matrix D'
    w0 = np.exp(log_w0 - m)  # stabilised weight of the initial state
    QK = q @ k.T  # q_t^T k_j
    Ct = QK * D  # combination matrix C~
    qn = Ct.sum(axis=1) + w0 * (q @ n0)  # n_t^T q_t
    den = np.maximum(np.abs(qn), np.exp(-m))  # max(|n^T q|, 1) for the stabilised states
    num = Ct @ v + w0[:, None] * (q @ C0.T)  # C_t q_t
    h_tilde = num / den[:, None]
    C_T = (D[-1][:, None] * v).T @ k + w0[-1] * C0  # the last row: the final matrix memory
    n_T = D[-1] @ k + w0[-1] * n0  # the final normaliser
    cache = HeadCache(q, k, v, log_i, log_f, C0, n0, m0, F, log_D, log_w0, m, D, w0, QK, Ct, qn, den, num, h_tilde)
    return (h_tilde, C_T, n_T, m[-1]), cache


def head_backward(dh_tilde: np.ndarray, dC_T: np.ndarray, dn_T: np.ndarray, dm_T: float,
                  cache: HeadCache) -> HeadGrads:
    """One head's backward pass: each line of :func:`head_forward`, taken back in reverse order."""
    q, k, v, log_i, log_f, C0, n0, m0, F, log_D, log_w0, m, D, w0, QK, Ct, qn, den, num, h_tilde = cache
    T = len(log_i)
    last = np.arange(T) == T - 1  # the final states read the last row
    dnum = dh_tilde / den[:, None]  # h~ = num / den
    dden = -np.sum(dh_tilde * h_tilde, axis=1) / den
    normaliser_wins = np.abs(qn) >= np.exp(-m)  # which argument the max of the denominator took
    dqn = np.where(normaliser_wins, dden * np.sign(qn), 0)  # through |n^T q|
    dm_den = np.where(normaliser_wins, 0, -dden * np.exp(-m))  # through exp(-m)
    dCt = dnum @ v.T + dqn[:, None]  # num = C~ v + ..., qn = sum_j C~ + ...
    dv = Ct.T @ dnum + D[-1][:, None] * (k @ dC_T.T)  # num, and the final memory C_T
    dw0 = np.sum(dnum * (q @ C0.T), axis=1) + dqn * (q @ n0) + last * (np.sum(dC_T * C0) + dn_T @ n0)
    dQK = dCt * D  # C~ = QK * D'
    dD = dCt * QK + np.outer(last, np.sum((v @ dC_T) * k, axis=1) + k @ dn_T)  # and C_T, n_T's last row
    dq = dQK @ k + w0[:, None] * (dnum @ C0) + (dqn * w0)[:, None] * n0[None, :]  # QK = q k^T, and C0 q, n0^T q
    dk = dQK.T @ q + D[-1][:, None] * (v @ dC_T + dn_T[None, :])  # QK = q k^T, and C_T, n_T
    dlog_D = dD * D  # D' = exp(log D - m)
    dlog_w0 = dw0 * w0  # w' = exp(log w - m)
    dm = dm_den + last * dm_T - dlog_D.sum(axis=1) - dlog_w0  # m enters D', w' and exp(-m)
    init_wins = log_w0 >= log_D.max(axis=1)  # the row max's winner: the initial state's weight ...
    winner = np.argmax(log_D, axis=1)  # ... or the oldest column among ties
    dlog_w0 = dlog_w0 + np.where(init_wins, dm, 0)
    dlog_D = dlog_D + np.where(init_wins, 0, dm)[:, None] * (np.arange(T)[None, :] == winner[:, None])
    dlog_i = dlog_D.sum(axis=0)  # log D_tj = F_t - F_j + log i_j
    dF = dlog_D.sum(axis=1) - dlog_D.sum(axis=0) + dlog_w0  # F_t enters row t (+), column t (-) and log w_t
    dlog_f = np.cumsum(dF[::-1])[::-1]  # F_t = sum_{s<=t} log f_s
    dC0 = (w0[:, None] * dnum).T @ q + w0[-1] * dC_T  # num = ... + w' C0 q, and C_T = ... + w'_T C0
    dn0 = (w0 * dqn) @ q + w0[-1] * dn_T  # qn = ... + w' n0^T q, and n_T = ... + w'_T n0
    dm0 = dlog_w0.sum()  # log w_t = F_t + m0
    return HeadGrads(dnum, dden, dqn, dm_den, dCt, dv, dw0, dQK, dD, dq, dk, dlog_D, dlog_w0, dm, dlog_i, dF, dlog_f,
                     dC0, dn0, dm0)


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
    """Run the layer over ``x`` ``(T, B, D)`` in the parallel form; returns ``((y, C_n, n_n, m_n), cache)``
    like :func:`bptt.functional.mlstm_parallel.forward`."""
    T, B, _ = x.shape
    K, S = n0.shape[1:]
    p = project(x, W, b, K)  # all steps' projections (eqs 22-27)
    log_f = log_sigmoid(p.a_f) if forget_gate == "sigmoid" else p.a_f  # (T, B, K)
    o = sigmoid(p.a_o)  # output gate
    h_tilde = np.zeros((T, B, K, S), dtype=x.dtype)
    C_n, n_n, m_n = np.zeros_like(C0), np.zeros_like(n0), np.zeros_like(m0)
    heads: list = [[None] * K for _ in range(B)]
    for b_ in range(B):
        for h in range(K):
            (h_tilde[:, b_, h], C_n[b_, h], n_n[b_, h], m_n[b_, h]), heads[b_][h] = head_forward(
                p.q[:, b_, h], p.k[:, b_, h], p.v[:, b_, h], p.a_i[:, b_, h], log_f[:, b_, h], C0[b_, h], n0[b_, h],
                m0[b_, h])
    y = o * h_tilde.reshape(T, B, K * S)  # h_t = o_t * h~_t
    cache = SequenceCache(x, W, b is not None, forget_gate, p, o, heads)
    if record is not None:
        record(cache)
    return (y, C_n, n_n, m_n), cache


def backward(
    dout: tuple[np.ndarray | None, ...],
    cache: SequenceCache,
    *,
    need_dx: bool = True,
    record: Callable | None = None,
) -> MLSTMGrads:
    """Backpropagate ``dout = (dy, dC_n, dn_n, dm_n)`` (``None`` for zero); returns
    :class:`~bptt.functional.mlstm.MLSTMGrads` like the fast twin."""
    x, W, has_bias, forget_gate, p, o, heads = cache
    T, B, K, S = p.q.shape
    dt = x.dtype
    dy, dC_n, dn_n, dm_n = dout
    dy = np.zeros((T, B, K * S), dtype=dt) if dy is None else dy
    dC_n = np.zeros((B, K, S, S), dtype=dt) if dC_n is None else dC_n
    dn_n = np.zeros((B, K, S), dtype=dt) if dn_n is None else dn_n
    dm_n = np.zeros((B, K), dtype=dt) if dm_n is None else dm_n
    h_tilde = np.stack([np.stack([heads[b_][h].h_tilde for h in range(K)], axis=1) for b_ in range(B)], axis=1)
    do = dy * h_tilde.reshape(T, B, K * S)  # h = o * h~
    da_o = do * o * (1 - o)  # o = sigmoid(o~)
    dh_tilde = (dy * o).reshape(T, B, K, S)
    dq, dk, dv = np.zeros_like(p.q), np.zeros_like(p.k), np.zeros_like(p.v)
    dlog_i, dlog_f = np.zeros_like(p.a_i), np.zeros_like(p.a_f)
    dC0, dn0, dm0 = np.zeros((B, K, S, S), dtype=dt), np.zeros((B, K, S), dtype=dt), np.zeros((B, K), dtype=dt)
    grads: list = [[None] * K for _ in range(B)]
    for b_ in range(B):
        for h in range(K):
            g = grads[b_][h] = head_backward(dh_tilde[:, b_, h], dC_n[b_, h], dn_n[b_, h], dm_n[b_, h], heads[b_][h])
            dq[:, b_, h], dk[:, b_, h], dv[:, b_, h] = g.dq, g.dk, g.dv
            dlog_i[:, b_, h], dlog_f[:, b_, h] = g.dlog_i, g.dlog_f
            dC0[b_, h], dn0[b_, h], dm0[b_, h] = g.dC0, g.dn0, g.dm0
    da_f = dlog_f * (1 - sigmoid(p.a_f)) if forget_gate == "sigmoid" else dlog_f  # d log sigmoid(a)/da
    dx, dW, db = project_backward(Projections(dq, dk, dv, dlog_i, da_f, da_o), x, W, K)
    if record is not None:
        record(cache, grads)
    return MLSTMGrads(dx if need_dx else None, dC0, dn0, dm0, dW, db if has_bias else None)
