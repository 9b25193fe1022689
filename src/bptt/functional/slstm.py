r"""Whole-sequence sLSTM layer of xLSTM (Beck et al., NeurIPS 2024): exponential gating, normaliser and
stabiliser states, block-diagonal (per-head) memory mixing.

Shapes: ``x`` is time-major ``(T, B, D)``; the state ``(h0, c0, n0, m0)`` is four ``(B, H)`` arrays;
``W_ih`` is ``(4H, D)``; ``W_hh`` is ``(4H, H/K)``: the ``K`` diagonal blocks of the block-diagonal recurrent
matrix ``R`` (``K`` heads; row ``g·H + k·H/K + j`` is gate ``g``, head ``k``, unit ``j`` and reads head ``k``'s
hidden units only; with one head ``W_hh`` is PyTorch's ``(4H, H)`` layout); ``b`` is ``(4H,)``. Row blocks in
the paper's gate order ``i, f, z, o``. For each step ``t = 0 .. T-1`` (equations (8)-(17) of the paper):

.. math::

    [\tilde\imath, \tilde f, \tilde z, \tilde o] &= x_t W_{ih}^\top + h_{t-1} R^\top + b\\
    \log i_t &= \tilde\imath_t, \qquad \log f_t = \log\sigma(\tilde f_t) \;(\texttt{forget\_gate="sigmoid"})
        \;\text{or}\; \tilde f_t \;(\texttt{"exp"})\\
    m_t &= \max(\log f_t + m_{t-1}, \log i_t), \qquad i'_t = e^{\log i_t - m_t}, \qquad
        f'_t = e^{\log f_t + m_{t-1} - m_t}\\
    c_t &= f'_t c_{t-1} + i'_t \tanh(\tilde z_t), \qquad n_t = f'_t n_{t-1} + i'_t, \qquad
        h_t = \sigma(\tilde o_t)\, c_t / n_t

Read the twin :mod:`bptt.functional.reference.slstm` for the derivation, one equation per line, including why
the stabiliser :math:`m` never changes :math:`h` and how its max enters the gradient: the max is
differentiated as written (torch autograd of the paper's equations, the authors' vanilla backend), and the
gradient reaching :math:`m_t`, :math:`dm_t = dm_{next} - c_t \odot dc_{next} - n_t \odot dn_{next}`, is
exactly zero when only the outputs feed the loss (then a stop-gradient on :math:`m`, as in the authors' CUDA
kernel, gives the same parameter gradients).

**How this op computes it.** Forward: the input projections of all steps are one matrix product; inside the
loop, one batched product per step for the block-diagonal recurrence (``(K, B, H/K) @ (K, H/K, 4H/K)``) and
in-place ufuncs into preallocated ``(T+1, B, H)`` state arrays. Backward: every factor that does not depend on
the carried gradients is formed for the whole sequence before the loop,

.. math::

    K^1_t = o_t / n_t, \quad K^2_t = K^1_t \tilde h_t, \quad Q_t = \tilde h_t o_t (1 - o_t), \quad
    P_t = i'_t (1 - z_t^2), \quad i'_t z_t, \quad f'_t c_{t-1}, \quad f'_t n_{t-1}

so a step is a handful of multiply-adds (:math:`dc = dc_{next} + dh K^1`, :math:`dn = dn_{next} - dh K^2`,
:math:`di' i' = dc\, i'z + dn\, i'`, :math:`df' f' = dc\, f'c_{t-1} + dn\, f'n_{t-1}`, ...) and one batched
product for :math:`dh_{next} = da\,R`. The weight gradients are single matrix products over all ``T·B`` rows
after the loop (``dW_hh`` one batched product over the heads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import sequence as seq
from .workspace import Workspace, empty, take

FORGET_GATES = ("sigmoid", "exp")


class SLSTMCache(NamedTuple):
    """What ``backward`` needs: inputs, weights and the time-ordered states and gates."""

    x: np.ndarray
    W_ih: np.ndarray
    W_hh: np.ndarray
    has_bias: bool
    forget_gate: str
    A: np.ndarray  # (T, B, 4H): [log i = i~, f~ (raw), z = tanh(z~), o = sigmoid(o~)]
    LF: np.ndarray  # (T, B, H) log f_t
    I: np.ndarray  # (T, B, H) stabilised input gate i'
    F: np.ndarray  # (T, B, H) stabilised forget gate f'
    FW: np.ndarray  # (T, B, H) bool: the forget branch won the max of the stabiliser
    Hs: np.ndarray  # (T+1, B, H) hidden states (Hs[0] = h0)
    Cs: np.ndarray  # (T+1, B, H) cell states
    Ns: np.ndarray  # (T+1, B, H) normaliser states
    Ms: np.ndarray  # (T+1, B, H) stabiliser states
    HT: np.ndarray  # (T, B, H) h~ = c / n
    owned: list  # workspace buffers to give back after backward


class SLSTMGrads(NamedTuple):
    """Gradients returned by :func:`backward` (and by the reference twin's)."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dh0: np.ndarray  # (B, H)
    dc0: np.ndarray
    dn0: np.ndarray
    dm0: np.ndarray
    dW_ih: np.ndarray  # (4H, D)
    dW_hh: np.ndarray  # (4H, H/K)
    db: np.ndarray | None  # (4H,); None without a bias


def heads_in_out(W_hh: np.ndarray) -> np.ndarray:
    """``(K, H/K, 4H/K)``: head ``k``'s block of ``R^T`` (inputs x gate outputs), so that
    ``h_k @ heads_in_out(W_hh)[k]`` gives head ``k``'s four gate blocks ``[i, f, z, o]``."""
    H, S = W_hh.shape[0] // 4, W_hh.shape[1]
    return np.ascontiguousarray(W_hh.reshape(4, H // S, S, S).transpose(1, 3, 0, 2).reshape(H // S, S, 4 * S))


def heads_out_in(W_hh: np.ndarray) -> np.ndarray:
    """``(K, 4H/K, H/K)``: head ``k``'s block of ``R`` (gate outputs x inputs), for ``dh_{t-1} = da R``."""
    H, S = W_hh.shape[0] // 4, W_hh.shape[1]
    return np.ascontiguousarray(W_hh.reshape(4, H // S, S, S).transpose(1, 0, 2, 3).reshape(H // S, 4 * S, S))


def _by_head(g: np.ndarray, K: int) -> np.ndarray:
    """``(..., B, 4H)`` gate rows -> ``(K, rows, 4H/K)`` (head-major), a copy."""
    rows = int(np.prod(g.shape[:-1]))
    S = g.shape[-1] // (4 * K)
    return g.reshape(rows, 4, K, S).transpose(2, 0, 1, 3).reshape(K, rows, 4 * S)


def forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    n0: np.ndarray,
    m0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b: np.ndarray | None = None,
    *,
    forget_gate: str = "sigmoid",
    ws: Workspace | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, ...], SLSTMCache]:
    """Run the layer over the whole sequence from the state ``(h0, c0, n0, m0)``.

    Returns ``((y, h_n, c_n, n_n, m_n), cache)``: ``y`` ``(T, B, H)`` and the final states ``(B, H)``, all
    views of the cache (copy them before changing them in place). With a workspace ``ws`` the cache's buffers
    are recycled by ``backward``. ``record`` (see :mod:`bptt.nn.hooks`), when given, is called once with the
    cache at the end.
    """
    T, B, D = x.shape
    H = W_ih.shape[0] // 4
    S = W_hh.shape[1]
    K = H // S
    dt = x.dtype
    owned: list = []
    A = empty(ws, (T, B, 4 * H), dt, owned)
    np.matmul(x.reshape(T * B, D), W_ih.T, out=A.reshape(T * B, 4 * H))
    if b is not None:
        A += b
    Hs, Cs, Ns, Ms = (seq.state_array(ws, T, B, H, dt, owned, s0, False) for s0 in (h0, c0, n0, m0))
    LF, I, F, HT = (empty(ws, (T, B, H), dt, owned) for _ in range(4))
    FW = np.empty((T, B, H), dtype=bool)
    WT = heads_in_out(W_hh)
    rec = np.empty((K, B, 4 * S), dtype=dt)
    lfm = np.empty((B, H), dtype=dt)
    iz = np.empty((B, H), dtype=dt)
    exp_forget = forget_gate == "exp"
    for t in range(T):
        a = A[t]
        np.matmul(Hs[t].reshape(B, K, S).transpose(1, 0, 2), WT, out=rec)  # the block-diagonal h_{t-1} R^T
        a.reshape(B, 4, K, S)[...] += rec.reshape(K, B, 4, S).transpose(1, 2, 0, 3)
        log_i, a_f, z, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        lf = LF[t]
        if exp_forget:
            lf[...] = a_f
        else:  # log sigmoid(a) = -log(1 + exp(-a))
            np.negative(a_f, out=lf)
            np.logaddexp(0, lf, out=lf)
            np.negative(lf, out=lf)
        np.add(lf, Ms[t], out=lfm)  # log f + m_{t-1}
        m = Ms[t + 1]
        np.maximum(lfm, log_i, out=m)
        np.greater_equal(lfm, log_i, out=FW[t])
        np.subtract(log_i, m, out=I[t])
        np.exp(I[t], out=I[t])
        np.subtract(lfm, m, out=F[t])
        np.exp(F[t], out=F[t])
        np.tanh(z, out=z)
        o *= 0.5  # sigmoid(a) = tanh(a/2)/2 + 1/2
        np.tanh(o, out=o)
        o *= 0.5
        o += 0.5
        c, n = Cs[t + 1], Ns[t + 1]
        np.multiply(F[t], Cs[t], out=c)
        np.multiply(I[t], z, out=iz)
        c += iz
        np.multiply(F[t], Ns[t], out=n)
        n += I[t]
        np.divide(c, n, out=HT[t])
        np.multiply(o, HT[t], out=Hs[t + 1])
    cache = SLSTMCache(x, W_ih, W_hh, b is not None, forget_gate, A, LF, I, F, FW, Hs, Cs, Ns, Ms, HT, owned)
    if record is not None:
        record(cache)
    return (Hs[1:], Hs[T], Cs[T], Ns[T], Ms[T]), cache


def backward(
    dout: tuple[np.ndarray | None, ...],
    cache: SLSTMCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> SLSTMGrads:
    """Backpropagate ``dout = (dy, dh_n, dc_n, dn_n, dm_n)`` (any may be ``None`` for zero).

    Returns :class:`SLSTMGrads` ``(dx, dh0, dc0, dn0, dm0, dW_ih, dW_hh, db)``. ``need_dx=False`` skips ``dx``.
    With a workspace the cache's buffers are given back at the end (the cache is consumed) and the weight
    gradients are taken from it. ``record``, when given, is called once before the buffers are recycled with
    the cache and the full-sequence gradient arrays ``DH`` (``dy + dh_next``), ``DC``, ``DN``, ``DM`` (the
    gradients of ``c_t``, ``n_t``, ``m_t`` at each step) and ``dA`` (the gate pre-activations').
    """
    dy, dh_n, dc_n, dn_n, dm_n = dout
    x, W_ih, W_hh, has_bias, forget_gate, A, LF, I, F, FW, Hs, Cs, Ns, Ms, HT, owned = cache
    T, B, D = x.shape
    H, S = W_ih.shape[0] // 4, W_hh.shape[1]
    K = H // S
    dt = x.dtype
    tmp: list = []
    a_f, z, o = A[:, :, H:2 * H], A[:, :, 2 * H:3 * H], A[:, :, 3 * H:]
    # Factors independent of the carried gradients, for the whole sequence.
    K1 = empty(ws, (T, B, H), dt, tmp)
    np.divide(o, Ns[1:], out=K1)  # dh -> dc:  o / n
    K2 = empty(ws, (T, B, H), dt, tmp)
    np.multiply(K1, HT, out=K2)  # dh -> -dn: o h~ / n
    Q = empty(ws, (T, B, H), dt, tmp)
    np.subtract(1.0, o, out=Q)
    Q *= o
    Q *= HT  # dh -> da_o: h~ o (1 - o)
    P = empty(ws, (T, B, H), dt, tmp)
    np.multiply(z, z, out=P)
    np.subtract(1.0, P, out=P)
    P *= I  # dc -> da_z: i' (1 - z^2)
    IZ = empty(ws, (T, B, H), dt, tmp)
    np.multiply(I, z, out=IZ)  # dc -> di' i'
    FC = empty(ws, (T, B, H), dt, tmp)
    np.multiply(F, Cs[:-1], out=FC)  # dc -> df' f'
    FN = empty(ws, (T, B, H), dt, tmp)
    np.multiply(F, Ns[:-1], out=FN)  # dn -> df' f'
    SF = None
    if forget_gate == "sigmoid":  # d log sigmoid(a)/da = 1 - sigmoid(a) = 1/2 - tanh(a/2)/2
        SF = empty(ws, (T, B, H), dt, tmp)
        np.multiply(a_f, 0.5, out=SF)
        np.tanh(SF, out=SF)
        SF *= -0.5
        SF += 0.5

    dA = empty(ws, (T, B, 4 * H), dt, tmp)
    dA4 = dA.reshape(T, B, 4, H)
    DH, DC, DN, DM = (empty(ws, (T, B, H), dt, tmp) for _ in range(4))
    dh_next, dc_next, dn_next, dm_next = (seq.carried_grad(d, B, H, dt) for d in (dh_n, dc_n, dn_n, dm_n))
    dfw = np.empty((B, H), dtype=dt)  # df' f'
    dmf = np.empty((B, H), dtype=dt)  # the share of dm that goes to the forget branch of the max
    scratch = np.empty((B, H), dtype=dt)
    Wk = heads_out_in(W_hh)
    dhk = np.empty((K, B, S), dtype=dt)
    for t in range(T - 1, -1, -1):
        dh, dc, dn, dm = DH[t], DC[t], DN[t], DM[t]
        seq.add_carried(dh, dy, dh_next, None, t)  # dh = dy[t] + dh_next
        np.multiply(dh, K1[t], out=dc)
        dc += dc_next  # dc = dc_next + dh o / n
        np.multiply(dh, K2[t], out=dn)
        np.subtract(dn_next, dn, out=dn)  # dn = dn_next - dh o h~ / n
        dii = dA4[t, :, 0]
        np.multiply(dc, IZ[t], out=dii)
        np.multiply(dn, I[t], out=scratch)
        dii += scratch  # di' i' = (dc z + dn) i'
        np.multiply(dc, FC[t], out=dfw)
        np.multiply(dn, FN[t], out=scratch)
        dfw += scratch  # df' f' = (dc c_{t-1} + dn n_{t-1}) f'
        np.subtract(dm_next, dii, out=dm)
        dm -= dfw  # dm = dm_next - di' i' - df' f'
        np.multiply(dm, FW[t], out=dmf)
        np.subtract(dm, dmf, out=scratch)  # the share of dm that goes to the input branch
        dii += scratch  # da_i = d log i = di' i' + dm where the input branch won
        daf = dA4[t, :, 1]
        np.add(dfw, dmf, out=daf)  # d log f = df' f' + dm where the forget branch won
        if SF is not None:
            daf *= SF[t]
        np.multiply(dc, P[t], out=dA4[t, :, 2])
        np.multiply(dh, Q[t], out=dA4[t, :, 3])
        np.multiply(dc, F[t], out=dc_next)
        np.multiply(dn, F[t], out=dn_next)
        np.add(dfw, dmf, out=dm_next)
        np.matmul(_by_head(dA[t], K), Wk, out=dhk)  # dh_{t-1} = da R, head by head
        dh_next[...] = dhk.transpose(1, 0, 2).reshape(B, H)

    dA2 = dA.reshape(T * B, 4 * H)
    dx = np.matmul(dA2, W_ih).reshape(T, B, D) if need_dx else None
    dW_ih = take(ws, W_ih.shape, dt)
    np.matmul(dA2.T, x.reshape(T * B, D), out=dW_ih)
    H_prev = Hs[:-1].reshape(T * B, K, S).transpose(1, 0, 2)  # (K, T·B, H/K)
    dWk = np.matmul(_by_head(dA2, K).transpose(0, 2, 1), H_prev)  # (K, 4H/K, H/K) = da^T h_{t-1}, per head
    dW_hh = take(ws, W_hh.shape, dt)
    dW_hh.reshape(4, K, S, S)[...] = dWk.reshape(K, 4, S, S).transpose(1, 0, 2, 3)
    db = dA2.sum(axis=0) if has_bias else None
    grads = SLSTMGrads(dx, dh_next, dc_next, dn_next, dm_next, dW_ih, dW_hh, db)
    if record is not None:
        record(cache, {"dout": dout, "DH": DH, "DC": DC, "DN": DN, "DM": DM, "dA": dA, "grads": grads})
    if ws is not None:
        ws.give(*owned, *tmp)
    return grads
