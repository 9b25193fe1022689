r"""Whole-sequence layer-normalised LSTM: TensorFlow 1's ``tf.contrib.rnn.LayerNormBasicLSTMCell``.

This is the cell seed 000 is built on. Shapes: ``x`` ``(T, B, D)``, ``h0``/``c0`` ``(B, H)``, ``kernel``
``(D + H, 4H)`` in TensorFlow's layout (``[x, h] @ kernel``) with column blocks ``i, j, f, o``; ``bias``
``(4H,)`` only without layer norm; ``gamma`` and ``beta`` ``(5, H)`` with rows
``input, transform, forget, output, state`` (only with layer norm). Per step:

.. math::

    [a^i, a^j, a^f, a^o] &= [x_t, h_{t-1}]\,K \;(+\, b \text{ when not layer-normalised})\\
    \hat a^k &= \mathrm{LN}_k(a^k) = \frac{a^k - \mu(a^k)}{\sqrt{\mathrm{var}(a^k) + 10^{-12}}}\,\gamma_k + \beta_k
        \quad (k \in i, j, f, o;\ \text{moments over the } H \text{ units, population variance})\\
    i &= \sigma(\hat a^i), \quad g = \tanh(\hat a^j) \odot m_t, \quad f = \sigma(\hat a^f + \text{forget\_bias}),
        \quad o = \sigma(\hat a^o)\\
    \tilde c_t &= c_{t-1} \odot f + i \odot g, \qquad c_t = \mathrm{LN}_{state}(\tilde c_t)\\
    h_t &= \tanh(c_t) \odot o

Without layer norm every :math:`\mathrm{LN}` is the identity (then it is TensorFlow's ``BasicLSTMCell``
with ``forget_bias``). :math:`m_t` is the optional recurrent-dropout mask on ``g`` (already scaled by
``1/keep_prob``); ``None`` means no dropout. The epsilon :math:`10^{-12}` is TensorFlow's hard-coded one.

**Backward.** Layer norm :math:`y = \hat x \gamma + \beta` with :math:`\hat x = (x - \mu) r`,
:math:`r = (\mathrm{var} + \epsilon)^{-1/2}` has

.. math::

    d\hat x = dy \odot \gamma, \qquad
    dx = r\,\big(d\hat x - \overline{d\hat x} - \hat x\,\overline{d\hat x \odot \hat x}\big), \qquad
    d\gamma = \textstyle\sum dy \odot \hat x, \quad d\beta = \sum dy

(bars are means over the ``H`` units). Through the cell, with :math:`dh = dy_t + dh_{next}`:

.. math::

    dc &= dc_{next} + dh \odot o \odot (1 - \tanh^2 c_t), \qquad d\tilde c = \mathrm{LN}'_{state}(dc)\\
    d\hat a^o &= dh \odot \tanh(c_t) \odot o(1-o), \quad
    d\hat a^i = d\tilde c \odot g \odot i(1-i), \quad
    d\hat a^f = d\tilde c \odot c_{t-1} \odot f(1-f)\\
    d\hat a^j &= d\tilde c \odot i \odot m_t \odot (1 - \tanh^2 \hat a^j), \qquad
    dc_{next} = d\tilde c \odot f\\
    da &= \mathrm{LN}'_{i,j,f,o}(d\hat a), \qquad dh_{next} = da\,K_h^\top

and after the loop :math:`dK = \sum_t [x_t, h_{t-1}]^\top da_t` (two single products, one for the ``x`` rows
and one for the ``h`` rows), :math:`dx = da\,K_x^\top`.

**As this op computes it.** The forward pass multiplies all inputs by :math:`K_x` in one matrix product
and per step adds :math:`h_{t-1} K_h`; the row moments of the layer norms are matrix-vector products
(``_row_mean``, ``_row_dot``), and the four gate layer norms run as one ``(B, 4, H)`` operation. The sigmoid
never appears: the gates are one in-place ``tanh`` of the halved pre-activations,
:math:`\sigma(a) = \tfrac12 \tanh(a/2) + \tfrac12` (``g`` is kept from a separate ``tanh`` before that).
In the backward pass the seed's ``do``, ``dg``, ``df``, ``di`` are never formed as named arrays: the
factors that do not depend on the carried gradients,

.. math::

    K_t = o (1 - \tanh^2 c_t), \quad Q_t = \tanh(c_t)\, o (1 - o), \quad
    P_t = [\,g\, i (1 - i),\; i\, m_t (1 - \tanh^2 \hat a^j),\; c_{t-1} f (1 - f)\,]

are formed for all steps before the loop, so a step is: ``dc = dh K + dc_next``, the state layer-norm
backward, **one broadcast multiply for the i, j and f gate gradients at once** (``dc~[:, None, :] * P``),
``da^o = dh Q``, ``dc_next = dc~ f``, the gate layer-norm backward and one matrix product for ``dh_next``.
The gains' and shifts' gradients are sums over all steps after the loop. The twin
:mod:`bptt.functional.reference.ln_lstm` writes the same step by step in the seed's order and names (the
layer norm's forward and backward as their own small functions), held equal to this op in float64 by the
tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import sequence as seq
from .workspace import Workspace, empty, take

EPS = 1e-12  # TensorFlow's layers.layer_norm variance_epsilon


class LayerNormStats(NamedTuple):
    """What the layer norms' backward needs (only with layer norm on)."""

    XH: np.ndarray  # (T, B, 4, H) normalised gate pre-activations (before gain and shift)
    RS: np.ndarray  # (T, B, 4, 1) their reciprocal standard deviations
    XHc: np.ndarray  # (T, B, H) normalised cell state (before gain and shift)
    RSc: np.ndarray  # (T, B, 1) its reciprocal standard deviation
    gamma: np.ndarray  # (5, H) gains: input, transform, forget, output, state


class LNLSTMCache(NamedTuple):
    """What ``backward`` needs: the inputs, the kernel and the time-ordered state and gate arrays."""

    x: np.ndarray
    kernel: np.ndarray
    has_bias: bool
    Hs: np.ndarray  # (T+1, B, H) hidden states, time order (see bptt.functional.sequence)
    Cs: np.ndarray  # (T+1, B, H) cell states
    TC: np.ndarray  # (T, B, H) tanh(c_t)
    G: np.ndarray  # (T, B, H) tanh(a^j) before the dropout mask
    A: np.ndarray  # (T, B, 4H) gate activations [i, g (after the mask), f, o]
    g_mask: np.ndarray | None  # (T, B, H) recurrent-dropout mask on g (scaled by 1/keep_prob)
    ln: LayerNormStats | None  # None without layer norm
    reverse: bool
    active: np.ndarray | None  # (T, B, 1) mask for lengths
    owned: list  # workspace buffers to give back after backward


class LNLSTMGrads(NamedTuple):
    """Gradients returned by :func:`backward`."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dh0: np.ndarray  # (B, H)
    dc0: np.ndarray  # (B, H)
    dkernel: np.ndarray  # (D + H, 4H)
    dbias: np.ndarray | None  # None without a bias
    dgamma: np.ndarray | None  # (5, H); None without layer norm
    dbeta: np.ndarray | None


def _row_mean(v: np.ndarray) -> np.ndarray:
    """Mean over the last axis as a matrix-vector product (4x faster than ``ndarray.mean`` here)."""
    H = v.shape[-1]
    return np.matmul(v, np.full((H, 1), 1.0 / H, dtype=v.dtype))


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b)`` over the last axis, keeping it as a size-1 axis, as a batched matrix product."""
    return np.matmul(a[..., None, :], b[..., :, None])[..., 0]


def ln_forward_rows(v: np.ndarray, gamma: np.ndarray, beta: np.ndarray, xhat: np.ndarray,
                     rstd: np.ndarray) -> None:
    """Layer norm over the last axis, in place: ``v`` ``(..., H)`` -> ``LN(v) = xhat * gamma + beta``; writes
    ``xhat`` (the normalised values) and ``rstd`` ``(..., 1)`` (the reciprocal standard deviations)."""
    H = v.shape[-1]
    np.subtract(v, _row_mean(v), out=xhat)
    var = _row_dot(xhat, xhat)
    var *= 1.0 / H
    var += EPS
    np.sqrt(var, out=rstd)
    np.reciprocal(rstd, out=rstd)
    xhat *= rstd
    np.multiply(xhat, gamma, out=v)
    v += beta


def ln_backward_rows(dy: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, gamma: np.ndarray,
                      out: np.ndarray | None = None) -> np.ndarray:
    """``dx`` of ``y = LN(x)`` given ``dy``, from the ``xhat`` and ``rstd`` of :func:`ln_forward_rows`
    (rows over the last axis), written into ``out`` when given."""
    H = dy.shape[-1]
    dxhat = np.multiply(dy, gamma, out=out)
    m1 = _row_mean(dxhat)
    m2 = _row_dot(dxhat, xhat)
    m2 *= 1.0 / H
    dxhat -= m1
    dxhat -= xhat * m2
    dxhat *= rstd
    return dxhat


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
    ws: Workspace | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], LNLSTMCache]:
    """Run the layer; ``gamma``/``beta`` given means layer norm on. Returns ``((y, h_n, c_n), cache)``.

    ``y``, ``h_n`` and ``c_n`` are views of the cache; with a workspace ``ws`` the cache is recycled by
    ``backward``.
    """
    T, B, D = x.shape
    H = kernel.shape[1] // 4
    dt = x.dtype
    ln = gamma is not None
    owned: list = []
    K_x, K_h = kernel[:D], kernel[D:]
    A = empty(ws, (T, B, 4 * H), dt, owned)
    np.matmul(x.reshape(T * B, D), K_x, out=A.reshape(T * B, 4 * H))
    if bias is not None:
        A += bias
    Hs = seq.state_array(ws, T, B, H, dt, owned, h0, reverse)
    Cs = seq.state_array(ws, T, B, H, dt, owned, c0, reverse)
    TC = empty(ws, (T, B, H), dt, owned)
    G = empty(ws, (T, B, H), dt, owned)  # tanh(a^j) before the dropout mask
    XH = RS = XHc = RSc = None
    if ln:
        XH = empty(ws, (T, B, 4, H), dt, owned)  # normalised gate pre-activations
        RS = empty(ws, (T, B, 4, 1), dt, owned)
        XHc = empty(ws, (T, B, H), dt, owned)  # normalised cell state (before gain/shift)
        RSc = empty(ws, (T, B, 1), dt, owned)
        gamma4, beta4 = gamma[:4], beta[:4]
    order, d = seq.step_order(T, reverse)
    rec = np.empty((B, 4 * H), dtype=dt)
    tmp = np.empty((B, H), dtype=dt)
    active = seq.active_mask(lengths, T)
    for t in order:
        p, q = t + d, t + 1 - d
        a = A[t]
        np.matmul(Hs[p], K_h, out=rec)
        a += rec
        a4 = a.reshape(B, 4, H)
        if ln:
            ln_forward_rows(a4, gamma4, beta4, XH[t], RS[t])
        # gates: i, j(-> g), f, o; sigma via tanh
        i, j, f, o = a4[:, 0], a4[:, 1], a4[:, 2], a4[:, 3]
        if forget_bias:
            f += forget_bias
        np.tanh(j, out=G[t])
        a *= 0.5
        np.tanh(a, out=a)  # j block is overwritten below with g
        a *= 0.5
        a += 0.5
        if g_mask is not None:
            np.multiply(G[t], g_mask[t], out=j)
        else:
            j[...] = G[t]
        c = Cs[q]
        np.multiply(Cs[p], f, out=c)
        np.multiply(i, j, out=tmp)
        c += tmp
        if ln:
            ln_forward_rows(c, gamma[4], beta[4], XHc[t], RSc[t])
        np.tanh(c, out=TC[t])
        np.multiply(TC[t], o, out=Hs[q])
        if active is not None:
            inactive = ~active[t]
            np.copyto(Hs[q], Hs[p], where=inactive)
            np.copyto(c, Cs[p], where=inactive)
    stats = LayerNormStats(XH, RS, XHc, RSc, gamma) if ln else None
    cache = LNLSTMCache(x, kernel, bias is not None, Hs, Cs, TC, G, A, g_mask, stats, reverse, active, owned)
    if record is not None:
        record(cache)
    return (seq.outputs(Hs, reverse, active), seq.final(Hs, reverse), seq.final(Cs, reverse)), cache


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    cache: LNLSTMCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> LNLSTMGrads:
    """Backpropagate ``(dy, dh_n, dc_n)``; returns :class:`LNLSTMGrads`
    ``(dx, dh0, dc0, dkernel, dbias, dgamma, dbeta)``.

    ``need_dx=False`` skips ``dx`` (``None``); with a workspace the cache is consumed. ``record``: see
    :func:`bptt.functional.lstm.backward`.
    """
    dy, dh_n, dc_n = dout
    x, kernel, has_bias, Hs, Cs, TC, G, A, g_mask, ln_cache, reverse, active, owned = cache
    tmp: list = []
    T, B, D = x.shape
    H = kernel.shape[1] // 4
    dt = x.dtype
    K_h = kernel[D:]
    order, d = seq.step_order(T, reverse)
    order = order[::-1]
    C_prev = seq.before(Cs, reverse)
    H_prev = seq.before(Hs, reverse)
    A4 = A.reshape(T, B, 4, H)
    i, gm, f, o = A4[:, :, 0], A4[:, :, 1], A4[:, :, 2], A4[:, :, 3]  # gm = g after the mask
    ln = ln_cache is not None
    if ln:
        XH, RS, XHc, RSc, gamma = ln_cache
    # Step-independent factors.
    K = np.multiply(TC, TC, out=empty(ws, (T, B, H), dt, tmp))
    np.subtract(1.0, K, out=K)
    K *= o  # dh -> dc
    Q = np.subtract(1.0, o, out=empty(ws, (T, B, H), dt, tmp))
    Q *= o
    Q *= TC  # dh -> da^o
    P = empty(ws, (T, B, 3, H), dt, tmp)  # dc~ -> [da^i, da^j, da^f]
    np.subtract(1.0, i, out=P[:, :, 0])
    P[:, :, 0] *= i
    P[:, :, 0] *= gm
    np.multiply(G, G, out=P[:, :, 1])
    np.subtract(1.0, P[:, :, 1], out=P[:, :, 1])
    P[:, :, 1] *= i
    if g_mask is not None:
        P[:, :, 1] *= g_mask
    np.subtract(1.0, f, out=P[:, :, 2])
    P[:, :, 2] *= f
    P[:, :, 2] *= C_prev

    dAhat = empty(ws, (T, B, 4, H), dt, tmp)  # gradients of the (normalised) gate pre-activations
    dA = empty(ws, (T, B, 4 * H), dt, tmp) if ln else dAhat.reshape(T, B, 4 * H)
    DH = empty(ws, (T, B, H), dt, tmp)
    DC = empty(ws, (T, B, H), dt, tmp)
    dh_next = seq.carried_grad(dh_n, B, H, dt)
    dc_next = seq.carried_grad(dc_n, B, H, dt)
    K_hT = np.ascontiguousarray(K_h.T)
    dc_prev = np.empty((B, H), dtype=dt)
    dct_buf = np.empty((B, H), dtype=dt)
    for t in order:
        dh = DH[t]
        seq.add_carried(dh, dy, dh_next, active, t)  # dHt: dh = dy[t] + dh_next
        dc = DC[t]
        np.multiply(dh, K[t], out=dc)
        dc += dc_next
        dct = ln_backward_rows(dc, XHc[t], RSc[t], gamma[4], out=dct_buf) if ln else dc  # d c~
        np.multiply(dct[:, None, :], P[t], out=dAhat[t, :, 0:3])
        np.multiply(dh, Q[t], out=dAhat[t, :, 3])
        np.multiply(dct, f[t], out=dc_prev)
        if ln:
            ln_backward_rows(dAhat[t], XH[t], RS[t], gamma[:4], out=dA[t].reshape(B, 4, H))
        if active is not None:
            inactive = ~active[t]
            np.copyto(dc_prev, dc_next, where=inactive)
            np.copyto(dA[t], 0.0, where=inactive)
            np.copyto(dAhat[t], 0.0, where=inactive[:, :, None])
        dc_next, dc_prev = dc_prev, dc_next
        np.matmul(dA[t], K_hT, out=dh_next)
        if active is not None:
            np.copyto(dh_next, dh, where=inactive)

    dA2 = dA.reshape(T * B, 4 * H)
    dx = np.matmul(dA2, kernel[:D].T).reshape(T, B, D) if need_dx else None
    dkernel = take(ws, kernel.shape, dt)
    np.matmul(x.reshape(T * B, D).T, dA2, out=dkernel[:D])
    np.matmul(H_prev.reshape(T * B, H).T, dA2, out=dkernel[D:])
    dbias = dA2.sum(axis=0) if has_bias else None
    if ln:
        dgamma = np.empty((5, H), dtype=dt)
        dbeta = np.empty((5, H), dtype=dt)
        dgamma[:4] = np.einsum("tbkh,tbkh->kh", dAhat, XH)
        dbeta[:4] = dAhat.sum(axis=(0, 1))
        # the state LN's upstream gradient is dc (before its LN backward): recompute per step is avoided by
        # keeping DC, the gradient w.r.t. the normalised state.
        dgamma[4] = np.einsum("tbh,tbh->h", DC * (active if active is not None else 1), XHc)
        dbeta[4] = (DC * (active if active is not None else 1)).sum(axis=(0, 1))
    else:
        dgamma = dbeta = None
    grads = LNLSTMGrads(dx, dh_next, dc_next, dkernel, dbias, dgamma, dbeta)
    if record is not None:
        record(cache, {"dout": dout, "DH": DH, "DC": DC, "dAhat": dAhat, "dA": dA, "grads": grads})
    if ws is not None:
        ws.give(*owned, *tmp)
    return grads


def forward_intermediates(cache: LNLSTMCache) -> dict[str, np.ndarray]:
    """Named forward intermediates of a cached forward pass (time-ordered views)."""
    T, B, _ = cache.x.shape
    A4 = cache.A.reshape(T, B, 4, -1)
    gates = {"i": A4[:, :, 0], "g": A4[:, :, 1], "f": A4[:, :, 2], "o": A4[:, :, 3]}
    return seq.named_states(cache.x, cache.Hs, cache.reverse, gates, cache.Cs, cache.TC)
