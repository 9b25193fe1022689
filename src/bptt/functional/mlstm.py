r"""Whole-sequence mLSTM layer of xLSTM (Beck et al., NeurIPS 2024), recurrent form: a matrix memory per head
with a covariance update, normaliser and stabiliser states. The parallel (quadratic) form of the same layer is
:mod:`bptt.functional.mlstm_parallel`; both take these arguments and give these results.

Shapes: ``x`` ``(T, B, D)``; ``K`` heads of size ``S`` (``H = K·S``), read from the state: ``C0``
``(B, K, S, S)``, ``n0`` ``(B, K, S)``, ``m0`` ``(B, K)``; ``W`` ``(4H + 2K, D)`` and ``b`` ``(4H + 2K,)``
stack the projections ``[q (H), k (H), v (H), ĩ (K), f̃ (K), õ (H)]``. For each step, per head (the paper's
equations (19)-(27)):

.. math::

    m_t &= \max(\log f_t + m_{t-1}, \tilde\imath_t), \quad i'_t = e^{\tilde\imath_t - m_t}, \quad
        f'_t = e^{\log f_t + m_{t-1} - m_t}\\
    C_t &= f'_t C_{t-1} + i'_t v_t k_t^\top, \qquad n_t = f'_t n_{t-1} + i'_t k_t\\
    h_t &= \sigma(\tilde o_t) \odot \frac{C_t q_t}{\max(|n_t^\top q_t|, e^{-m_t})}

with ``k_t = W_k x_t / sqrt(S) + b_k`` and ``log f_t = log σ(f̃_t)`` (``forget_gate="sigmoid"``) or ``f̃_t``
(``"exp"``). Read :mod:`bptt.functional.reference.mlstm` for the derivation, one equation per line, and the
stabiliser's gradient convention (differentiated as written; zero up to rounding when only ``y`` feeds the
loss).

**How this op computes it.** All projections of all steps are one matrix product (the key rows of ``W``
pre-scaled by ``1/sqrt(S)``). Forward, a step is a handful of in-place updates of ``(B, K, S, S)`` and
``(B, K, S)`` arrays and one batched matrix-vector product for ``C_t q_t``; the states of every step are kept
for the backward pass. Backward, everything that does not depend on the carried gradients ``dC``, ``dn``,
``dm`` is formed for all steps at once before the loop (output gate, :math:`d\mathrm{num} = d\tilde h / \nu`,
the denominator's gradient and which side of its max won, and :math:`dq = C_t^\top d\mathrm{num} +
d(n^\top q)\, n_t` as one batched product); the loop only carries ``dC``, ``dn``, ``dm`` back and forms
``dv``, ``dk``, ``di'``, ``df'``; the weight gradients are single matrix products after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .workspace import Workspace, empty, take


class MLSTMCache(NamedTuple):
    """What ``backward`` needs (recurrent form)."""

    x: np.ndarray
    W: np.ndarray
    has_bias: bool
    forget_gate: str
    P: np.ndarray  # (T, B, 4H + 2K) projections; the o block holds sigmoid(o~) after forward
    LF: np.ndarray  # (T, B, K) log f_t
    IP: np.ndarray  # (T, B, K) stabilised input gate i'
    FP: np.ndarray  # (T, B, K) stabilised forget gate f'
    FW: np.ndarray  # (T, B, K) bool: the forget branch won the stabiliser's max
    Cs: np.ndarray  # (T+1, B, K, S, S) matrix memories, Cs[0] = C0
    Ns: np.ndarray  # (T+1, B, K, S) normalisers
    Ms: np.ndarray  # (T+1, B, K) stabilisers
    QN: np.ndarray  # (T, B, K) n_t^T q_t
    DEN: np.ndarray  # (T, B, K) max(|n_t^T q_t|, exp(-m_t))
    HT: np.ndarray  # (T, B, K, S) h~_t
    owned: list


class MLSTMGrads(NamedTuple):
    """Gradients returned by both forms' ``backward`` (and by the reference twins')."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dC0: np.ndarray  # (B, K, S, S)
    dn0: np.ndarray  # (B, K, S)
    dm0: np.ndarray  # (B, K)
    dW: np.ndarray  # (4H + 2K, D)
    db: np.ndarray | None  # (4H + 2K,); None without a bias


# ------------------------------------------------------------------------ shared with the parallel form
def sizes(W: np.ndarray, n0: np.ndarray) -> tuple[int, int, int]:
    """``(H, K, S)``: hidden size, heads and head size (from the normaliser's shape ``(B, K, S)``)."""
    K, S = n0.shape[1:]
    return K * S, K, S


def row_scale(W: np.ndarray, K: int, S: int) -> np.ndarray:
    """``(4H + 2K,)``: ``1/sqrt(S)`` on the key rows, 1 elsewhere (eq 23 scales the key's weight part)."""
    scale = np.ones(W.shape[0], dtype=W.dtype)
    scale[K * S:2 * K * S] = 1.0 / np.sqrt(S)
    return scale


def project(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, K: int, S: int, ws: Workspace | None,
            owned: list) -> np.ndarray:
    """``P = x (W · scale)^T + b`` for all steps at once, ``(T, B, 4H + 2K)``."""
    T, B, D = x.shape
    P = empty(ws, (T, B, W.shape[0]), x.dtype, owned)
    np.matmul(x.reshape(T * B, D), (W * row_scale(W, K, S)[:, None]).T, out=P.reshape(T * B, -1))
    if b is not None:
        P += b
    return P


def blocks(P: np.ndarray, K: int, S: int) -> tuple[np.ndarray, ...]:
    """Views of ``P`` ``(..., 4H + 2K)``: ``q, k, v`` ``(..., K, S)``, ``a_i, a_f`` ``(..., K)``, ``o``
    ``(..., H)``."""
    H = K * S
    lead = P.shape[:-1]
    q, k, v = (P[..., j * H:(j + 1) * H].reshape(lead + (K, S)) for j in range(3))
    return q, k, v, P[..., 3 * H:3 * H + K], P[..., 3 * H + K:3 * H + 2 * K], P[..., 3 * H + 2 * K:]


def log_forget(a_f: np.ndarray, forget_gate: str) -> np.ndarray:
    """``log f``: ``log sigmoid(a_f)`` or ``a_f`` itself (a new array)."""
    return a_f.copy() if forget_gate == "exp" else -np.logaddexp(0, -a_f)


def output_gate(o: np.ndarray) -> None:
    """``o = sigmoid(o)`` in place, as ``tanh(o/2)/2 + 1/2``."""
    o *= 0.5
    np.tanh(o, out=o)
    o *= 0.5
    o += 0.5


def output_backward(dy: np.ndarray | None, o: np.ndarray, HT: np.ndarray, DEN: np.ndarray, QN: np.ndarray,
                    M: np.ndarray) -> tuple[np.ndarray, ...]:
    r"""The step-independent gradients of ``y = o * num / den``, ``den = max(|qn|, exp(-m))``, for all steps:
    ``(da_o, dnum, dqn, dm_den)`` (``dqn`` where ``|qn|`` won, ``dm_den`` where ``exp(-m)`` won). Shapes as the
    arguments; ``o`` ``(..., H)`` and ``HT`` ``(..., K, S)``."""
    dy = np.zeros(o.shape, dtype=o.dtype) if dy is None else dy
    ht = HT.reshape(o.shape)
    da_o = dy * ht * o * (1 - o)
    dht = (dy * o).reshape(HT.shape)
    dnum = dht / DEN[..., None]
    dden = -np.sum(dht * HT, axis=-1) / DEN
    e = np.exp(-M)
    wins = np.abs(QN) >= e
    dqn = np.where(wins, dden * np.sign(QN), 0)
    dm_den = np.where(wins, 0, -dden * e)
    return da_o, dnum, dqn, dm_den


def project_backward(dP: np.ndarray, x: np.ndarray, W: np.ndarray, K: int, S: int, has_bias: bool,
                     need_dx: bool, ws: Workspace | None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """``(dx, dW, db)`` from the projections' gradient ``dP`` ``(T, B, 4H + 2K)``."""
    T, B, D = x.shape
    scale = row_scale(W, K, S)
    dP2 = dP.reshape(T * B, -1)
    dx = np.matmul(dP2, W * scale[:, None]).reshape(T, B, D) if need_dx else None
    dW = take(ws, W.shape, x.dtype)
    np.matmul(dP2.T, x.reshape(T * B, D), out=dW)
    dW *= scale[:, None]
    db = dP2.sum(axis=0) if has_bias else None
    return dx, dW, db


# ------------------------------------------------------------------------------------ recurrent form
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
) -> tuple[tuple[np.ndarray, ...], MLSTMCache]:
    """Run the layer step by step over the whole sequence from ``(C0, n0, m0)``.

    Returns ``((y, C_n, n_n, m_n), cache)``: ``y`` ``(T, B, H)`` and the final states (views of the cache:
    copy before changing them in place). ``ws`` and ``record`` as in :func:`bptt.functional.lstm.forward`.
    """
    T, B, _ = x.shape
    H, K, S = sizes(W, n0)
    dt = x.dtype
    owned: list = []
    P = project(x, W, b, K, S, ws, owned)
    q, k, v, a_i, a_f, o = blocks(P, K, S)
    LF = log_forget(a_f, forget_gate)
    IP, FP, QN, DEN = (empty(ws, (T, B, K), dt, owned) for _ in range(4))
    FW = np.empty((T, B, K), dtype=bool)
    Cs = empty(ws, (T + 1, B, K, S, S), dt, owned)
    Ns = empty(ws, (T + 1, B, K, S), dt, owned)
    Ms = empty(ws, (T + 1, B, K), dt, owned)
    HT = empty(ws, (T, B, K, S), dt, owned)
    Cs[0], Ns[0], Ms[0] = C0, n0, m0
    lfm = np.empty((B, K), dtype=dt)
    vk = np.empty((B, K, S, S), dtype=dt)
    ik = np.empty((B, K, S), dtype=dt)
    e = np.empty((B, K), dtype=dt)
    for t in range(T):
        m = Ms[t + 1]
        np.add(LF[t], Ms[t], out=lfm)  # log f + m_{t-1}
        np.maximum(lfm, a_i[t], out=m)
        np.greater_equal(lfm, a_i[t], out=FW[t])
        np.subtract(a_i[t], m, out=IP[t])
        np.exp(IP[t], out=IP[t])
        np.subtract(lfm, m, out=FP[t])
        np.exp(FP[t], out=FP[t])
        C, n = Cs[t + 1], Ns[t + 1]
        np.multiply(Cs[t], FP[t][:, :, None, None], out=C)
        np.multiply(v[t], IP[t][:, :, None], out=ik)  # i' v
        np.multiply(ik[:, :, :, None], k[t][:, :, None, :], out=vk)
        C += vk  # C = f' C_{t-1} + i' v k^T
        np.multiply(Ns[t], FP[t][:, :, None], out=n)
        np.multiply(k[t], IP[t][:, :, None], out=ik)
        n += ik  # n = f' n_{t-1} + i' k
        np.matmul(C, q[t][:, :, :, None], out=HT[t][:, :, :, None])  # C q
        np.einsum("bks,bks->bk", n, q[t], out=QN[t])
        np.negative(m, out=e)
        np.exp(e, out=e)
        np.abs(QN[t], out=DEN[t])
        np.maximum(DEN[t], e, out=DEN[t])
        HT[t] /= DEN[t][:, :, None]
    output_gate(o)
    y = o * HT.reshape(T, B, H)
    cache = MLSTMCache(x, W, b is not None, forget_gate, P, LF, IP, FP, FW, Cs, Ns, Ms, QN, DEN, HT, owned)
    if record is not None:
        record(cache)
    return (y, Cs[T], Ns[T], Ms[T]), cache


def backward(
    dout: tuple[np.ndarray | None, ...],
    cache: MLSTMCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> MLSTMGrads:
    """Backpropagate ``dout = (dy, dC_n, dn_n, dm_n)`` (any may be ``None`` for zero); returns
    :class:`MLSTMGrads` ``(dx, dC0, dn0, dm0, dW, db)``. ``ws``, ``need_dx`` and ``record`` as in
    :func:`bptt.functional.lstm.backward`; ``record`` receives ``dP`` (the projections' gradient) and ``DC``,
    ``DN``, ``DM`` (the gradients of ``C_t``, ``n_t``, ``m_t`` at each step)."""
    dy, dC_n, dn_n, dm_n = dout
    x, W, has_bias, forget_gate, P, LF, IP, FP, FW, Cs, Ns, Ms, QN, DEN, HT, owned = cache
    T, B, _ = x.shape
    K, S = Ns.shape[2:]
    dt = x.dtype
    tmp: list = []
    q, k, v, a_i, a_f, o = blocks(P, K, S)
    dP = empty(ws, P.shape, dt, tmp)
    dq, dk, dv, da_i, da_f, da_o = blocks(dP, K, S)
    da_o[...], dnum, dqn, dm_den = output_backward(dy, o, HT, DEN, QN, Ms[1:])
    np.matmul(dnum[:, :, :, None, :], Cs[1:], out=dq[:, :, :, None, :])  # C_t^T dnum, all steps at once
    dq += dqn[..., None] * Ns[1:]
    DC = empty(ws, (T, B, K, S, S), dt, tmp)
    DN = empty(ws, (T, B, K, S), dt, tmp)
    DM = empty(ws, (T, B, K), dt, tmp)
    dC_next = np.zeros((B, K, S, S), dtype=dt) if dC_n is None else np.array(dC_n, dtype=dt)
    dn_next = np.zeros((B, K, S), dtype=dt) if dn_n is None else np.array(dn_n, dtype=dt)
    dm_next = np.zeros((B, K), dtype=dt) if dm_n is None else np.array(dm_n, dtype=dt)
    dfp = np.empty((B, K), dtype=dt)
    dmf = np.empty((B, K), dtype=dt)
    tk = np.empty((B, K), dtype=dt)
    for t in range(T - 1, -1, -1):
        dC, dn, dm = DC[t], DN[t], DM[t]
        np.multiply(dnum[t][:, :, :, None], q[t][:, :, None, :], out=dC)
        dC += dC_next  # dC = dC_next + dnum q^T
        np.multiply(dqn[t][:, :, None], q[t], out=dn)
        dn += dn_next  # dn = dn_next + d(n^T q) q
        np.matmul(dC, k[t][:, :, :, None], out=dv[t][:, :, :, None])  # dC k
        np.matmul(v[t][:, :, None, :], dC, out=dk[t][:, :, None, :])  # dC^T v
        dii = da_i[t]
        np.einsum("bks,bks->bk", v[t], dv[t], out=dii)  # v^T dC k
        dii += np.einsum("bks,bks->bk", dn, k[t], out=tk)
        dii *= IP[t]  # di' i'
        dv[t] *= IP[t][:, :, None]
        dk[t] += dn
        dk[t] *= IP[t][:, :, None]
        np.einsum("bkij,bkij->bk", dC, Cs[t], out=dfp)
        dfp += np.einsum("bks,bks->bk", dn, Ns[t], out=tk)
        dfp *= FP[t]  # df' f'
        np.add(dm_next, dm_den[t], out=dm)
        dm -= dii
        dm -= dfp  # dm = dm_next + dm_den - di' i' - df' f'
        np.multiply(dm, FW[t], out=dmf)
        dii += dm - dmf  # d log i: + dm where the input branch won
        np.add(dfp, dmf, out=da_f[t])  # d log f: + dm where the forget branch won
        np.multiply(dC, FP[t][:, :, None, None], out=dC_next)
        np.multiply(dn, FP[t][:, :, None], out=dn_next)
        np.add(dfp, dmf, out=dm_next)
    if forget_gate == "sigmoid":  # d log sigmoid(a)/da = 1 - sigmoid(a) = 1/2 - tanh(a/2)/2
        da_f *= 0.5 - 0.5 * np.tanh(0.5 * a_f)
    dx, dW, db = project_backward(dP, x, W, K, S, has_bias, need_dx, ws)
    grads = MLSTMGrads(dx, dC_next, dn_next, dm_next, dW, db)
    if record is not None:
        record(cache, {"dout": dout, "dP": dP, "DC": DC, "DN": DN, "DM": DM, "grads": grads})
    if ws is not None:
        ws.give(*owned, *tmp)
    return grads
