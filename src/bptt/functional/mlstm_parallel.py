r"""Whole-sequence mLSTM layer, parallel form: all steps at once through a masked ``(T, T)`` decay matrix per
head, as in the xLSTM paper's appendix (the mLSTM's parallel formulation) and the authors'
``parallel_stabilized_simple``. Same arguments and results as the recurrent :mod:`bptt.functional.mlstm`
(held equal to it in float64 by the tests); read :mod:`bptt.functional.reference.mlstm_parallel` for the
equations one per line.

Per batch row and head, with :math:`F_t = \sum_{s \le t} \log f_s` (time index from 0):

.. math::

    \log D_{tj} &= F_t - F_j + \log i_j \;\; (j \le t), \quad -\infty \;\; (j > t), \qquad
        \log w_t = F_t + m_0 \quad \text{(the initial state's weight)}\\
    m_t &= \max(\log w_t, \max_j \log D_{tj}), \qquad D'_{tj} = e^{\log D_{tj} - m_t}, \quad
        w'_t = e^{\log w_t - m_t}\\
    \tilde C &= (Q K^\top) \odot D', \qquad
        \tilde h_t = \frac{(\tilde C V)_t + w'_t\, C_0 q_t}{\max(|\sum_j \tilde C_{tj} + w'_t\, n_0^\top q_t|,\;
        e^{-m_t})}

:math:`m_t` is exactly the recurrent stabiliser (the nested maxes of the recurrence unrolled) and the two
forms agree step by step; the final states are the last row, :math:`C_T = \sum_j D'_{Tj} v_j k_j^\top +
w'_T C_0`, :math:`n_T = \sum_j D'_{Tj} k_j + w'_T n_0`, :math:`m_T`. The authors' version has no initial
state (the ``w`` column) and adds ``eps = 1e-6`` to the denominator.

**Backward** (the reference twin spells it out): through :math:`\tilde h`'s numerator and denominator to
:math:`d\tilde C = d\mathrm{num}\, V^\top + d(n^\top q)\mathbf 1^\top`, :math:`dV = \tilde C^\top
d\mathrm{num}`; through :math:`\tilde C = S \odot D'` to :math:`dS = d\tilde C \odot D'` (so :math:`dQ = dS\,
K`, :math:`dK = dS^\top Q`) and :math:`dD' = d\tilde C \odot S`; through the exponentials to :math:`d\log D =
dD' \odot D'` and :math:`dm_t = -\sum_j d\log D_{tj} - d\log w_t` (plus the denominator's share), which the
row max hands to the entry that won; finally :math:`d\log i_j = \sum_t d\log D_{tj}`, :math:`dF_t = \sum_j
d\log D_{tj} - \sum_{t'} d\log D_{t'j=t} + d\log w_t` and :math:`d\log f_s = \sum_{t \ge s} dF_t` (a reverse
cumulative sum). Costs :math:`O(T^2)` memory and time per head, against the recurrent form's
:math:`O(T S^2)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .mlstm import MLSTMGrads, blocks, log_forget, output_backward, output_gate, project, project_backward, sizes
from .workspace import Workspace


class MLSTMParallelCache(NamedTuple):
    """What ``backward`` needs (parallel form); per-head arrays are ``(B, K, T, ·)``."""

    x: np.ndarray
    W: np.ndarray
    has_bias: bool
    forget_gate: str
    P: np.ndarray  # (T, B, 4H + 2K) projections; the o block holds sigmoid(o~) after forward
    Q: np.ndarray  # (B, K, T, S) queries
    Kt: np.ndarray  # keys
    V: np.ndarray  # values
    Dp: np.ndarray  # (B, K, T, T) stabilised decay matrix D' (zero above the diagonal)
    w0: np.ndarray  # (B, K, T) stabilised weight of the initial state
    M: np.ndarray  # (B, K, T) stabiliser m_t
    init_wins: np.ndarray  # (B, K, T) bool: the row max is the initial state's weight
    amax: np.ndarray  # (B, K, T) the column of the row max otherwise
    Sm: np.ndarray  # (B, K, T, T) Q K^T
    Ct: np.ndarray  # (B, K, T, T) S * D'
    QN: np.ndarray  # (B, K, T) n_t^T q_t
    DEN: np.ndarray  # (B, K, T) max(|n_t^T q_t|, exp(-m_t))
    HT: np.ndarray  # (B, K, T, S) h~
    C0: np.ndarray
    n0: np.ndarray
    owned: list


def _heads(a: np.ndarray) -> np.ndarray:
    """``(T, B, K[, S])`` -> ``(B, K, T[, S])``, contiguous."""
    return np.ascontiguousarray(np.moveaxis(a, 0, 2))


def _steps(a: np.ndarray) -> np.ndarray:
    """``(B, K, T[, S])`` -> ``(T, B, K[, S])`` (a view)."""
    return np.moveaxis(a, 2, 0)


def forward(
    x: np.ndarray,
    C0: np.ndarray,
    n0: np.ndarray,
    m0: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None = None,
    *,
    forget_gate: str = "sigmoid",
    ws: Workspace | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, ...], MLSTMParallelCache]:
    """Run the layer over the whole sequence at once; returns ``((y, C_n, n_n, m_n), cache)`` like
    :func:`bptt.functional.mlstm.forward`."""
    T, B, _ = x.shape
    H, K, S = sizes(W, n0)
    owned: list = []
    P = project(x, W, b, K, S, ws, owned)
    q, k, v, a_i, a_f, o = blocks(P, K, S)
    Q, Kt, V, LI = _heads(q), _heads(k), _heads(v), _heads(a_i)
    Fc = np.cumsum(_heads(log_forget(a_f, forget_gate)), axis=-1)  # F_t = sum_{s<=t} log f_s
    logD = Fc[..., :, None] - Fc[..., None, :] + LI[..., None, :]
    np.copyto(logD, -np.inf, where=~np.tri(T, dtype=bool))  # causal: step t reads j <= t
    logw0 = Fc + m0[..., None]
    colmax = logD.max(axis=-1)
    M = np.maximum(logw0, colmax)
    init_wins = logw0 >= colmax  # ties go to the older entry, as the recurrence's maxes do
    amax = logD.argmax(axis=-1)  # first (oldest) column among ties
    logD -= M[..., None]
    Dp = np.exp(logD, out=logD)
    w0 = np.exp(logw0 - M)
    Sm = np.matmul(Q, Kt.swapaxes(-1, -2))
    Ct = Sm * Dp
    QN = Ct.sum(axis=-1) + w0 * np.matmul(Q, n0[..., None])[..., 0]
    DEN = np.maximum(np.abs(QN), np.exp(-M))
    HT = np.matmul(Ct, V)
    HT += w0[..., None] * np.matmul(Q, C0.swapaxes(-1, -2))  # + w' C0 q_t
    HT /= DEN[..., None]
    C_n = np.matmul(V.swapaxes(-1, -2) * Dp[..., -1, None, :], Kt) + w0[..., -1, None, None] * C0
    n_n = np.matmul(Dp[..., -1, None, :], Kt)[..., 0, :] + w0[..., -1, None] * n0
    output_gate(o)
    y = o * _steps(HT).reshape(T, B, H)
    cache = MLSTMParallelCache(x, W, b is not None, forget_gate, P, Q, Kt, V, Dp, w0, M, init_wins, amax, Sm, Ct,
                               QN, DEN, HT, C0, n0, owned)
    if record is not None:
        record(cache)
    return (y, C_n, n_n, M[..., -1].copy()), cache


def backward(
    dout: tuple[np.ndarray | None, ...],
    cache: MLSTMParallelCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> MLSTMGrads:
    """Backpropagate ``dout = (dy, dC_n, dn_n, dm_n)`` (any may be ``None``); returns
    :class:`~bptt.functional.mlstm.MLSTMGrads` like the recurrent form. ``record`` receives ``dP`` and the
    decay matrix's gradient ``dlogD`` ``(B, K, T, T)``."""
    dy, dC_n, dn_n, dm_n = dout
    (x, W, has_bias, forget_gate, P, Q, Kt, V, Dp, w0, M, init_wins, amax, Sm, Ct, QN, DEN, HT, C0, n0,
     owned) = cache
    T, B, _ = x.shape
    K, S = n0.shape[1:]
    o = blocks(P, K, S)[5]
    a_f = blocks(P, K, S)[4]
    da_o, dnum, dqn, dm = output_backward(dy, o, _steps(HT), _steps(DEN), _steps(QN), _steps(M))
    dnum, dqn, dm = _heads(dnum), _heads(dqn), _heads(dm)
    # h~ numerator (C~ V + w' C0 q) and denominator's n^T q (sum_j C~ + w' n0^T q)
    dCt = np.matmul(dnum, V.swapaxes(-1, -2)) + dqn[..., None]
    dV = np.matmul(Ct.swapaxes(-1, -2), dnum)
    dw0 = np.sum(dnum * np.matmul(Q, C0.swapaxes(-1, -2)), axis=-1) + dqn * np.matmul(Q, n0[..., None])[..., 0]
    dQ = w0[..., None] * np.matmul(dnum, C0) + (dqn * w0)[..., None] * n0[..., None, :]
    dC0 = np.matmul((dnum * w0[..., None]).swapaxes(-1, -2), Q)
    dn0 = np.matmul((dqn * w0)[..., None, :], Q)[..., 0, :]
    # C~ = S * D', S = Q K^T
    dSm = dCt * Dp
    dDp = dCt * Sm
    dQ += np.matmul(dSm, Kt)
    dK = np.matmul(dSm.swapaxes(-1, -2), Q)
    # the final states are the last row: C_n = sum_j D'_j v_j k_j^T + w' C0, n_n = sum_j D'_j k_j + w' n0
    last = Dp[..., -1, :, None]
    if dC_n is not None:
        VdC = np.matmul(V, dC_n)  # rows v_j^T dC_n
        dV += last * np.matmul(Kt, dC_n.swapaxes(-1, -2))
        dK += last * VdC
        dDp[..., -1, :] += np.sum(VdC * Kt, axis=-1)
        dw0[..., -1] += np.sum(dC_n * C0, axis=(-1, -2))
        dC0 += w0[..., -1, None, None] * dC_n
    if dn_n is not None:
        dK += last * dn_n[..., None, :]
        dDp[..., -1, :] += np.matmul(Kt, dn_n[..., None])[..., 0]
        dw0[..., -1] += np.sum(dn_n * n0, axis=-1)
        dn0 += w0[..., -1, None] * dn_n
    if dm_n is not None:
        dm[..., -1] += dm_n
    # D' = exp(log D - m), w' = exp(log w - m); m = the row max of [log w, log D]
    dlogD = dDp * Dp
    dlogw0 = dw0 * w0
    dm -= dlogD.sum(axis=-1) + dlogw0
    dlogw0 += np.where(init_wins, dm, 0)
    won = np.take_along_axis(dlogD, amax[..., None], axis=-1)
    np.put_along_axis(dlogD, amax[..., None], won + np.where(init_wins, 0, dm)[..., None], axis=-1)
    # log D_tj = F_t - F_j + log i_j, log w_t = F_t + m0, F_t = sum_{s<=t} log f_s
    dLI = dlogD.sum(axis=-2)
    dFc = dlogD.sum(axis=-1) - dLI + dlogw0
    dm0 = dlogw0.sum(axis=-1)
    dLF = np.cumsum(dFc[..., ::-1], axis=-1)[..., ::-1]
    dP = np.empty(P.shape, dtype=x.dtype)
    dq, dk, dv, da_i, da_f, dP_o = blocks(dP, K, S)
    dq[...], dk[...], dv[...] = _steps(dQ), _steps(dK), _steps(dV)
    da_i[...] = _steps(dLI)
    da_f[...] = _steps(dLF)
    if forget_gate == "sigmoid":  # d log sigmoid(a)/da = 1 - sigmoid(a) = 1/2 - tanh(a/2)/2
        da_f *= 0.5 - 0.5 * np.tanh(0.5 * a_f)
    dP_o[...] = da_o
    dx, dW, db = project_backward(dP, x, W, K, S, has_bias, need_dx, ws)
    grads = MLSTMGrads(dx, dC0, dn0, dm0, dW, db)
    if record is not None:
        record(cache, {"dout": dout, "dP": dP, "dlogD": dlogD, "grads": grads})
    if ws is not None:
        ws.give(*owned)
    return grads
