r"""Whole-sequence LSTM layer (one direction), PyTorch's equations and weight layout.

Shapes: ``x`` is time-major ``(T, B, D)``; ``h0``, ``c0`` are ``(B, H)``; ``W_ih`` is ``(4H, D)``, ``W_hh``
is ``(4H, H)``, ``b_ih`` and ``b_hh`` are ``(4H,)``, with the four row blocks in PyTorch's gate order
``i, f, g, o``. For each step ``t`` (``t = 0 .. T-1``, or ``T-1 .. 0`` with ``reverse=True``):

.. math::

    a_t &= x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}
           \quad (+\,\text{forget\_bias on the } f \text{ block})\\
    i_t &= \sigma(a^i_t), \quad f_t = \sigma(a^f_t), \quad g_t = \tanh(a^g_t), \quad o_t = \sigma(a^o_t)\\
    c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
    h_t &= o_t \odot \tanh(c_t) \quad (\text{or } (o_t \odot \tanh c_t)\, W_{hr}^\top
           \text{ with a projection } W_{hr} \text{ of shape } (P, H))

``g`` is seed 000's "Cproj" (the candidate cell state).

**Peepholes** (``W_peep`` of shape ``(3H,)``, blocks ``p_i, p_f, p_o``; TensorFlow 1's
``LSTMCell(use_peepholes=True)`` ``w_i_diag, w_f_diag, w_o_diag`` and ONNX's ``P``): the input and forget gates
also see the previous cell state and the output gate the new one,

.. math::

    i_t = \sigma(a^i_t + p_i \odot c_{t-1}), \quad f_t = \sigma(a^f_t + p_f \odot c_{t-1}), \quad
    o_t = \sigma(a^o_t + p_o \odot c_t)

so ``o`` can only be formed after ``c_t`` (a second ``tanh`` call per step on that path). In the seed's notation
the input to the gates is :math:`z_t = [x_t, h_{t-1}]` ("HX"), here split into its two matrix products.

**How the forward pass is computed.** The input projections of all ``T`` steps are one matrix product
``(T·B, D) @ (D, 4H)``, with both biases and ``forget_bias`` folded into one bias vector. Inside the loop
there is one product ``h_{t-1} W_hh^T`` per step (into a preallocated buffer) and a handful of in-place
ufuncs. The sigmoid never appears: the three sigmoids and the tanh are evaluated with a single ``tanh``
call, using :math:`\sigma(a) = \tfrac12 \tanh(a/2) + \tfrac12`, for which the ``i, f, o`` rows of the
weights and biases are pre-scaled by 1/2 (exact in binary floating point); the gate activations then
overwrite the pre-activations in place (the array ``A``).

**Backward (backpropagation through time), as this op computes it.** The math is seed 000's, but this
code is organised for speed and never forms the seed's ``do``, ``dg``, ``df``, ``di`` as named arrays: read
the twin :mod:`bptt.functional.reference.lstm` for the step-by-step form, one named assignment per seed
quantity (dHt, dOt, dCt, dCprojt, dFt, dIt, dHX, dC_next) in the seed's order, held equal to this op in
float64 by the tests. Here, walking ``t`` backwards with the carried gradients ``dh_next``
:math:`= \partial L/\partial h_t` and ``dc_next``, every gate gradient is a carried gradient times a factor
that does not depend on it:

.. math::

    dh &= dy_t + dh_{next}                                    \qquad \text{(dHt; } dr = dh\,W_{hr}
          \text{ replaces } dh \text{ below with a projection)}\\
    dc &= dc_{next} + dh \odot K_t, \qquad K_t = o_t (1 - \tanh^2 c_t)\\
    da^o &= dh \odot Q_t, \qquad Q_t = \tanh(c_t)\, o_t (1 - o_t)\\
    [da^i, da^f, da^g] &= dc \odot P_t, \qquad
        P_t = [\,g_t\, i_t (1 - i_t),\; c_{t-1} f_t (1 - f_t),\; i_t (1 - g_t^2)\,]\\
    dc_{next} &= dc \odot f_t, \qquad dh_{next} = da_t W_{hh}

The factors ``K``, ``Q`` and ``P`` (``Pf`` in the code) are formed ahead of the per-step work for a block of
steps at a time, into buffers sized to stay in cache (``K`` and ``Q`` about :math:`2^{15}` elements per
block, ``P`` three times that), so a step is:
one add (``dh``), one multiply-add (``dc``), **one broadcast multiply that writes the i, f and g gate
gradients at once** (``dc[:, None, :] * Pf``), one multiply for ``da^o``, one for ``dc_next`` and one
matrix product for ``dh_next``; all gate gradients go into one ``(T, B, 4H)`` array ``dA``. After the loop
the weight gradients are single matrix products over all ``T·B`` rows:

.. math::

    dW_{ih} = \sum_t da_t^\top x_t, \quad dW_{hh} = \sum_t da_t^\top h_{t-1},
    \quad db_{ih} = db_{hh} = \sum_t \sum_b da_t, \quad dx_t = da_t W_{ih}

**Backward with peepholes.** ``o`` peeks at ``c_t``, so ``c_t`` gains a path through ``a^o``, and ``i``, ``f``
peek at ``c_{t-1}``, so the carried cell gradient gains two paths: ``da^o`` is formed first and

.. math::

    dc &= dc_{next} + dh \odot K_t + da^o \odot p_o\\
    dc_{next} &= dc \odot f_t + da^i \odot p_i + da^f \odot p_f\\
    dp_i &= \sum_{t,b} da^i_t \odot c_{t-1}, \quad dp_f = \sum_{t,b} da^f_t \odot c_{t-1},
    \quad dp_o = \sum_{t,b} da^o_t \odot c_t

(the factors ``K``, ``Q``, ``P`` are unchanged: the peephole terms enter only the pre-activations).

``lengths`` (optional, ``(B,)`` ints in ``[1, T]``) gives packed-sequence semantics: at steps ``t ≥
lengths[b]`` sequence ``b`` reads no input, keeps its state, outputs zeros and passes gradients straight
through; the reverse direction therefore starts at each sequence's own last element.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import sequence as seq
from .workspace import Workspace, empty, scaled_transpose, take


class LSTMCache(NamedTuple):
    """What ``backward`` needs: the inputs, the weights and the time-ordered state and gate arrays."""

    x: np.ndarray
    W_ih: np.ndarray
    W_hh: np.ndarray
    has_bias: bool
    Hs: np.ndarray  # (T+1, B, P) hidden states, time order (see bptt.functional.sequence)
    Cs: np.ndarray  # (T+1, B, H) cell states
    TC: np.ndarray  # (T, B, H) tanh(c_t)
    A: np.ndarray  # (T, B, 4H) gate activations [i, f, g, o]
    reverse: bool
    active: np.ndarray | None  # (T, B, 1) mask for lengths
    W_hr: np.ndarray | None
    HR: np.ndarray | None  # (T, B, H) o * tanh(c) before the projection
    W_peep: np.ndarray | None  # (3H,) peephole weights [p_i, p_f, p_o]
    owned: list  # workspace buffers to give back after backward


class LSTMGrads(NamedTuple):
    """Gradients returned by :func:`backward` for a layer without a projection."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dh0: np.ndarray  # (B, H)
    dc0: np.ndarray  # (B, H)
    dW_ih: np.ndarray
    dW_hh: np.ndarray
    db_ih: np.ndarray | None  # None without biases
    db_hh: np.ndarray | None


class LSTMProjectionGrads(NamedTuple):
    """Gradients returned by :func:`backward` for a layer with a projection ``W_hr`` (one more entry)."""

    dx: np.ndarray | None
    dh0: np.ndarray  # (B, P)
    dc0: np.ndarray  # (B, H)
    dW_ih: np.ndarray
    dW_hh: np.ndarray
    db_ih: np.ndarray | None
    db_hh: np.ndarray | None
    dW_hr: np.ndarray


class LSTMPeepholeGrads(NamedTuple):
    """Gradients returned by :func:`backward` for a layer with peepholes ``W_peep`` (with or without a
    projection: ``dW_hr`` is ``None`` without one), so that the gradients stay in the order of the inputs."""

    dx: np.ndarray | None
    dh0: np.ndarray  # (B, P)
    dc0: np.ndarray  # (B, H)
    dW_ih: np.ndarray
    dW_hh: np.ndarray
    db_ih: np.ndarray | None
    db_hh: np.ndarray | None
    dW_hr: np.ndarray | None
    dW_peep: np.ndarray  # (3H,) [dp_i, dp_f, dp_o]


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
    ws: Workspace | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], LSTMCache]:
    """Run the layer over the whole sequence.

    Returns ``((y, h_n, c_n), cache)`` with ``y`` of shape ``(T, B, H)`` (``(T, B, P)`` with a projection;
    time order, also for ``reverse``), ``h_n`` of shape ``(B, H)`` (or ``(B, P)``) and ``c_n`` ``(B, H)``.
    ``y`` (unless ``lengths`` is given), ``h_n`` and ``c_n`` are views of the cache: copy them before
    changing them in place. With a workspace ``ws`` the cache's buffers are recycled by ``backward``.
    ``W_peep`` ``(3H,)`` adds peepholes (module docstring).
    ``record`` (see :mod:`bptt.nn.hooks`), when given, is called once with the cache at the end.
    """
    T, B, D = x.shape
    H = W_hh.shape[0] // 4
    P = H if W_hr is None else W_hr.shape[0]
    dt = x.dtype
    owned: list = []
    # Scale the sigmoid rows (i, f and o) by 1/2 so one tanh gives all four gates.
    scale = seq.gate_scale(H, 4, (2,), dt)
    W_ih_s = W_ih * scale[:, None]
    W_hh_sT = scaled_transpose(W_hh, scale, empty(ws, (P, 4 * H), dt, owned))  # C order: faster GEMM
    b_s = np.zeros(4 * H, dtype=dt)
    if b_ih is not None:
        b_s += b_ih
        b_s += b_hh
    if forget_bias:
        b_s[H : 2 * H] += forget_bias
    b_s *= scale

    # A: pre-activations, then (in place) activations [i, f, g, o] for all steps.
    A = empty(ws, (T, B, 4 * H), dt, owned)
    np.matmul(x.reshape(T * B, D), W_ih_s.T, out=A.reshape(T * B, 4 * H))
    A += b_s
    Hs = seq.state_array(ws, T, B, P, dt, owned, h0, reverse)
    Cs = seq.state_array(ws, T, B, H, dt, owned, c0, reverse)
    TC = empty(ws, (T, B, H), dt, owned)  # tanh(c_t)
    HR = None if W_hr is None else empty(ws, (T, B, H), dt, owned)  # o * tanh(c) before the projection
    W_hrT = None if W_hr is None else np.ascontiguousarray(W_hr.T)
    order, d = seq.step_order(T, reverse)
    rec = empty(ws, (B, 4 * H), dt, owned)
    ig = empty(ws, (B, H), dt, owned)
    active = seq.active_mask(lengths, T)
    if W_peep is not None:  # peepholes, pre-scaled by 1/2 like the sigmoid rows they feed
        A4 = A.reshape(T, B, 4, H)
        peep_if = (0.5 * W_peep[: 2 * H]).reshape(2, H).astype(dt)
        peep_o = (0.5 * W_peep[2 * H :]).astype(dt)
        pc = np.empty((B, 2, H), dtype=dt)
    for t in order:
        p, q = t + d, t + 1 - d
        a = A[t]
        np.matmul(Hs[p], W_hh_sT, out=rec)
        a += rec
        if W_peep is None:
            np.tanh(a, out=a)
        else:  # i and f peek at c_{t-1}; o waits for c_t
            np.multiply(Cs[p][:, None, :], peep_if, out=pc)
            A4[t, :, :2] += pc
            np.tanh(a[:, : 3 * H], out=a[:, : 3 * H])
        sig_if = a[:, : 2 * H]
        sig_if *= 0.5
        sig_if += 0.5
        c = Cs[q]
        np.multiply(a[:, H : 2 * H], Cs[p], out=c)
        np.multiply(a[:, :H], a[:, 2 * H : 3 * H], out=ig)
        c += ig
        o = a[:, 3 * H :]
        if W_peep is not None:  # o peeks at c_t
            np.multiply(c, peep_o, out=ig)
            o += ig
            np.tanh(o, out=o)
        o *= 0.5
        o += 0.5
        np.tanh(c, out=TC[t])
        if HR is None:
            np.multiply(o, TC[t], out=Hs[q])
        else:
            np.multiply(o, TC[t], out=HR[t])
            np.matmul(HR[t], W_hrT, out=Hs[q])  # h_t = (o * tanh c) W_hr^T
        if active is not None:
            inactive = ~active[t]
            np.copyto(Hs[q], Hs[p], where=inactive)
            np.copyto(c, Cs[p], where=inactive)
    cache = LSTMCache(x, W_ih, W_hh, b_ih is not None, Hs, Cs, TC, A, reverse, active, W_hr, HR, W_peep, owned)
    if record is not None:
        record(cache)
    return (seq.outputs(Hs, reverse, active), seq.final(Hs, reverse), seq.final(Cs, reverse)), cache


_FACTOR_ELEMENTS = 2**15  # B*H elements per step x steps: the size of one block of backward factors


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    cache: LSTMCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> LSTMGrads | LSTMProjectionGrads | LSTMPeepholeGrads:
    r"""Backpropagate ``dout = (dy, dh_n, dc_n)`` (any of them may be ``None`` for zero).

    Returns :class:`LSTMGrads` ``(dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh)`` (the bias gradients are ``None``
    without biases) or, when the forward pass had a projection, :class:`LSTMProjectionGrads`, the same
    followed by ``dW_hr``; with peepholes :class:`LSTMPeepholeGrads`, the same followed by ``dW_hr`` (``None``
    without a projection) and ``dW_peep`` (the peephole terms of the module docstring). With a projection
    :math:`h_t = r_t W_{hr}^\top`, :math:`r_t = o_t \odot \tanh c_t`, each step first maps the carried gradient
    back, :math:`dr = dh\, W_{hr}`, and :math:`dW_{hr} = \sum_t dh_t^\top r_t`.
    ``need_dx=False`` skips the input gradient (``dx`` is ``None``), e.g. for one-hot inputs. With a
    workspace, the cache's buffers are given back to it at the end (the cache is consumed) and the weight
    gradients are taken from it (the caller may give them back once accumulated). ``record`` (see
    :mod:`bptt.nn.hooks`), when given, is called once, before the buffers are recycled, with the cache
    and the full-sequence gradient arrays (``DH``, ``DC``, ``dA``, ...): the per-step values are slices of them.
    """
    dy, dh_n, dc_n = dout
    x, W_ih, W_hh, has_bias, Hs, Cs, TC, A, reverse, active, W_hr, HR, W_peep, owned = cache
    tmp: list = []
    T, B, D = x.shape
    H = W_hh.shape[0] // 4
    P = Hs.shape[2]
    dt = x.dtype
    order, d = seq.step_order(T, reverse)
    order = order[::-1]
    C_prev = seq.before(Cs, reverse)
    H_prev = seq.before(Hs, reverse)
    A4 = A.reshape(T, B, 4, H)
    f = A4[:, :, 1]

    # Step-independent factors, formed for a block of S steps at a time (in the buffers below, so that the
    # per-step loop reads them while they are still in cache):
    # Pf[., 0] = g i (1-i),  Pf[., 1] = c_prev f (1-f),  Pf[., 2] = i (1-g^2)   (multiply dc)
    # Q = tanh(c) o (1-o)  (multiplies dh to give da^o);  K = o (1 - tanh^2 c)  (dh -> dc)
    S = min(T, max(4, _FACTOR_ELEMENTS // (B * H)))  # small blocks stay in cache; tiny layers: one block
    Pf_b = empty(ws, (S, B, 3, H), dt, tmp)
    K_b = empty(ws, (S, B, H), dt, tmp)
    Q_b = empty(ws, (S, B, H), dt, tmp)

    def factors(lo: int, hi: int) -> None:
        n = hi - lo
        Pf, K, Q, a4 = Pf_b[:n], K_b[:n], Q_b[:n], A4[lo:hi]
        i, g, o, tc = a4[:, :, 0], a4[:, :, 2], a4[:, :, 3], TC[lo:hi]
        np.subtract(1.0, a4[:, :, 0:2], out=Pf[:, :, 0:2])  # [1 - i, 1 - f]
        Pf[:, :, 0:2] *= a4[:, :, 0:2]  # [i (1 - i), f (1 - f)]
        Pf[:, :, 0] *= g
        Pf[:, :, 1] *= C_prev[lo:hi]
        np.multiply(g, g, out=Pf[:, :, 2])
        np.subtract(1.0, Pf[:, :, 2], out=Pf[:, :, 2])
        Pf[:, :, 2] *= i
        np.multiply(tc, tc, out=K)
        np.subtract(1.0, K, out=K)
        K *= o
        np.subtract(1.0, o, out=Q)
        Q *= o
        Q *= tc

    dA = empty(ws, (T, B, 4 * H), dt, tmp)
    dA4 = dA.reshape(T, B, 4, H)
    DH = empty(ws, (T, B, P), dt, tmp)
    DC = empty(ws, (T, B, H), dt, tmp)
    dr = None if W_hr is None else np.empty((B, H), dtype=dt)
    dh_next = seq.carried_grad(dh_n, B, P, dt)
    dc_next = seq.carried_grad(dc_n, B, H, dt)
    dc_prev = np.empty((B, H), dtype=dt)
    W_hh_T = W_hh  # dh_next = da @ W_hh
    if W_peep is not None:
        p_i, p_f, p_o = W_peep[:H], W_peep[H : 2 * H], W_peep[2 * H :]
        peep_tmp = np.empty((B, H), dtype=dt)
    lo = hi = 0  # the block [lo, hi) whose factors are in Pf_b, K_b, Q_b
    for t in order:
        if not lo <= t < hi:
            lo, hi = (max(0, t + 1 - S), t + 1) if d == 0 else (t, min(T, t + S))
            factors(lo, hi)
        k = t - lo
        dh = DH[t]
        seq.add_carried(dh, dy, dh_next, active, t)  # dHt: dh = dy[t] + dh_next
        if dr is None:
            dho = dh
        else:
            dho = dr
            np.matmul(dh, W_hr, out=dr)
        dc = DC[t]
        if W_peep is None:
            np.multiply(dho, K_b[k], out=dc)
            dc += dc_next
            np.multiply(dc[:, None, :], Pf_b[k], out=dA4[t, :, 0:3])
            np.multiply(dho, Q_b[k], out=dA4[t, :, 3])
            np.multiply(dc, f[t], out=dc_prev)
        else:  # da^o first: through o's peephole it feeds dc; i's and f's peepholes feed dc_prev
            da_o = dA4[t, :, 3]
            np.multiply(dho, Q_b[k], out=da_o)
            np.multiply(dho, K_b[k], out=dc)
            dc += dc_next
            np.multiply(da_o, p_o, out=peep_tmp)
            dc += peep_tmp
            np.multiply(dc[:, None, :], Pf_b[k], out=dA4[t, :, 0:3])
            np.multiply(dc, f[t], out=dc_prev)
            np.multiply(dA4[t, :, 0], p_i, out=peep_tmp)
            dc_prev += peep_tmp
            np.multiply(dA4[t, :, 1], p_f, out=peep_tmp)
            dc_prev += peep_tmp
        if active is not None:
            inactive = ~active[t]
            np.copyto(dc_prev, dc_next, where=inactive)
            np.copyto(dA[t], 0.0, where=inactive)
        dc_next, dc_prev = dc_prev, dc_next
        np.matmul(dA[t], W_hh_T, out=dh_next)
        if active is not None:
            np.copyto(dh_next, dh, where=inactive)

    dA2 = dA.reshape(T * B, 4 * H)
    dx = np.matmul(dA2, W_ih).reshape(T, B, D) if need_dx else None
    dW_ih = take(ws, (4 * H, D), dt)
    np.matmul(dA2.T, x.reshape(T * B, D), out=dW_ih)
    dW_hh = take(ws, (4 * H, P), dt)
    np.matmul(dA2.T, H_prev.reshape(T * B, P), out=dW_hh)
    if has_bias:
        db_ih = dA2.sum(axis=0)
        db_hh = db_ih.copy()
    else:
        db_ih = db_hh = None
    dW_hr = None
    if W_hr is not None:
        DHm = DH if active is None else DH * active
        dW_hr = np.matmul(DHm.reshape(T * B, P).T, HR.reshape(T * B, H))
    if W_peep is not None:
        dW_peep = np.concatenate([np.einsum("tbh,tbh->h", dA4[:, :, 0], C_prev),
                                  np.einsum("tbh,tbh->h", dA4[:, :, 1], C_prev),
                                  np.einsum("tbh,tbh->h", dA4[:, :, 3], seq.after(Cs, reverse))])
        grads = LSTMPeepholeGrads(dx, dh_next, dc_next, dW_ih, dW_hh, db_ih, db_hh, dW_hr, dW_peep)
    elif W_hr is None:
        grads = LSTMGrads(dx, dh_next, dc_next, dW_ih, dW_hh, db_ih, db_hh)
    else:
        grads = LSTMProjectionGrads(dx, dh_next, dc_next, dW_ih, dW_hh, db_ih, db_hh, dW_hr)
    if record is not None:
        record(cache, {"dout": dout, "DH": DH, "DC": DC, "dA": dA, "grads": grads})
    if ws is not None:
        ws.give(*owned, *tmp)
    return grads


def forward_intermediates(cache: LSTMCache) -> dict[str, np.ndarray]:
    """Named forward intermediates of a cached forward pass (views, time-ordered), for inspection."""
    T, B, _ = cache.x.shape
    A4 = cache.A.reshape(T, B, 4, -1)
    gates = {"i": A4[:, :, 0], "f": A4[:, :, 1], "g": A4[:, :, 2], "o": A4[:, :, 3]}
    named = seq.named_states(cache.x, cache.Hs, cache.reverse, gates, cache.Cs, cache.TC)
    return named if cache.HR is None else {**named, "r": cache.HR}
