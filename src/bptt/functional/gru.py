r"""Whole-sequence GRU layer (one direction), PyTorch's equations and weight layout.

Shapes: ``x`` is ``(T, B, D)``, ``h0`` is ``(B, H)``, ``W_ih`` ``(3H, D)``, ``W_hh`` ``(3H, H)``, biases ``(3H,)``,
row blocks in PyTorch's gate order ``r, z, n``. Per step:

.. math::

    r_t &= \sigma(x_t W_{ir}^\top + b_{ir} + h_{t-1} W_{hr}^\top + b_{hr})\\
    z_t &= \sigma(x_t W_{iz}^\top + b_{iz} + h_{t-1} W_{hz}^\top + b_{hz})\\
    n_t &= \tanh\big(x_t W_{in}^\top + b_{in} + r_t \odot (h_{t-1} W_{hn}^\top + b_{hn})\big)\\
    h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

Note the reset gate multiplies the *recurrent projection including its bias* :math:`b_{hn}` (PyTorch and
Keras ``reset_after=True``), so ``b_hn`` cannot be folded into ``b_in``.

**How the forward pass is computed.** The input projections of all steps are one matrix product, with
``b_hh``'s ``r`` and ``z`` blocks folded into ``b_ih`` (``b_hn`` cannot be, see above). The sigmoid never
appears: the ``r`` and ``z`` rows of the weights and biases are pre-scaled by 1/2 so that
:math:`\sigma(a) = \tfrac12 \tanh(a/2) + \tfrac12` is one ``tanh`` call on both gates, and the step writes the
gates into the input-projection array ``GX`` in place; :math:`h_t` is formed as
:math:`n_t + z_t \odot (h_{t-1} - n_t)`.

**Backward, the math** (read the twin :mod:`bptt.functional.reference.gru` for it step by step, one named
assignment per line, held equal to this op in float64 by the tests). With :math:`dh = dy_t + dh_{next}`
(the seed's dHt) and :math:`gh^n_t = h_{t-1} W_{hn}^\top + b_{hn}`:

.. math::

    dn &= dh \odot (1 - z_t), & da^n &= dn \odot (1 - n_t^2)\\
    dz &= dh \odot (h_{t-1} - n_t), & da^z &= dz \odot z_t (1 - z_t)\\
    dr &= da^n \odot gh^n_t, & da^r &= dr \odot r_t (1 - r_t)\\
    dgh &= [da^r, da^z, da^n \odot r_t], & dgx &= [da^r, da^z, da^n]\\
    dh_{next} &= dh \odot z_t + dgh\, W_{hh}

**Backward, as this op computes it.** ``dn``, ``dz`` and ``dr`` are never formed: every gate gradient is
``dh`` times a factor that does not depend on the carried gradient, and these factors are formed for all
steps before the loop,

.. math::

    P^n_t = (1 - z_t)(1 - n_t^2), \qquad
    Q_t = [\,P^n_t\, gh^n_t\, r_t (1 - r_t),\; (h_{t-1} - n_t)\, z_t (1 - z_t),\; P^n_t\, r_t\,]

so a step is one add (``dh``), **one broadcast multiply that writes the three blocks of** :math:`dgh`
**at once** (``dh[:, None, :] * Q``), one multiply-add and one matrix product for ``dh_next``. After the
loop :math:`dgx` is :math:`dgh` with its ``n`` block replaced by :math:`dh \odot P^n`, and the weight
gradients are single products over all steps:
:math:`dW_{ih} = \sum_t dgx_t^\top x_t`, :math:`dW_{hh} = \sum_t dgh_t^\top h_{t-1}`,
:math:`db_{ih} = \sum dgx`, :math:`db_{hh} = \sum dgh`, :math:`dx_t = dgx_t W_{ih}`.

``lengths`` (packed sequences) works as in :mod:`bptt.functional.lstm`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import sequence as seq
from .workspace import Workspace, empty, scaled_transpose, take


class GRUCache(NamedTuple):
    """What ``backward`` needs: the inputs, the weights and the time-ordered state and gate arrays."""

    x: np.ndarray
    W_ih: np.ndarray
    W_hh: np.ndarray
    has_bias: bool
    Hs: np.ndarray  # (T+1, B, H) hidden states, time order (see bptt.functional.sequence)
    GX: np.ndarray  # (T, B, 3H) gate activations [r, z, n] (the input projections, overwritten in place)
    GH: np.ndarray  # (T, B, 3H) recurrent projections h_{t-1} W_hh^T; the n block is gh_n (with b_hn)
    reverse: bool
    active: np.ndarray | None  # (T, B, 1) mask for lengths
    owned: list  # workspace buffers to give back after backward


def forward(
    x: np.ndarray,
    h0: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b_ih: np.ndarray | None = None,
    b_hh: np.ndarray | None = None,
    *,
    reverse: bool = False,
    lengths: np.ndarray | None = None,
    ws: Workspace | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], GRUCache]:
    """Run the layer; returns ``((y, h_n), cache)`` with ``y`` of shape ``(T, B, H)`` in time order.

    ``y`` and ``h_n`` are views of the cache; with a workspace ``ws`` the cache is recycled by ``backward``.
    """
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    owned: list = []
    # r and z rows pre-scaled by 1/2: sigma(a) = tanh(a/2)/2 + 1/2.
    scale = seq.gate_scale(H, 3, (2,), dt)
    W_hh_sT = scaled_transpose(W_hh, scale, empty(ws, (H, 3 * H), dt, owned))
    GX = empty(ws, (T, B, 3 * H), dt, owned)
    np.matmul(x.reshape(T * B, D), (W_ih * scale[:, None]).T, out=GX.reshape(T * B, 3 * H))
    b_hn = None
    if b_ih is not None:
        b_x = b_ih.astype(dt, copy=True)
        b_x[: 2 * H] += b_hh[: 2 * H]
        b_x *= scale
        GX += b_x
        b_hn = b_hh[2 * H :]
    GH = empty(ws, (T, B, 3 * H), dt, owned)  # h_{t-1} W_hh^T (+ b_hn on the n block), scaled r, z blocks
    Hs = seq.state_array(ws, T, B, H, dt, owned, h0, reverse)
    order, d = seq.step_order(T, reverse)
    tmp = empty(ws, (B, H), dt, owned)
    active = seq.active_mask(lengths, T)
    for t in order:
        p, q = t + d, t + 1 - d
        gh = GH[t]
        np.matmul(Hs[p], W_hh_sT, out=gh)
        gx = GX[t]
        rz = gx[:, : 2 * H]
        rz += gh[:, : 2 * H]
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        ghn = gh[:, 2 * H :]
        if b_hn is not None:
            ghn += b_hn
        n = gx[:, 2 * H :]
        np.multiply(gx[:, :H], ghn, out=tmp)
        n += tmp
        np.tanh(n, out=n)
        # h = n + z (h_prev - n)
        np.subtract(Hs[p], n, out=tmp)
        tmp *= gx[:, H : 2 * H]
        np.add(n, tmp, out=Hs[q])
        if active is not None:
            np.copyto(Hs[q], Hs[p], where=~active[t])
    cache = GRUCache(x, W_ih, W_hh, b_ih is not None, Hs, GX, GH, reverse, active, owned)
    if record is not None:
        record(cache)
    return (seq.outputs(Hs, reverse, active), seq.final(Hs, reverse)), cache


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None],
    cache: GRUCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> seq.HiddenGrads:
    """Backpropagate ``dout = (dy, dh_n)``; returns :class:`~bptt.functional.sequence.HiddenGrads`
    ``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)``.

    ``need_dx=False`` skips ``dx`` (``None``); with a workspace the cache is consumed (see
    :func:`bptt.functional.lstm.backward`, also for ``record``).
    """
    dy, dh_n = dout
    x, W_ih, W_hh, has_bias, Hs, GX, GH, reverse, active, owned = cache
    tmp: list = []
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    order, d = seq.step_order(T, reverse)
    order = order[::-1]
    H_prev = seq.before(Hs, reverse)
    r, z, n = GX[:, :, :H], GX[:, :, H : 2 * H], GX[:, :, 2 * H :]
    ghn = GH[:, :, 2 * H :]

    # Factors multiplying dh:  Q = [Pr, Pz, Pn r]  (for dgh),  Pn  (for the n block of dgx).
    Pn = np.multiply(n, n, out=empty(ws, (T, B, H), dt, tmp))
    np.subtract(1.0, Pn, out=Pn)
    Pn *= 1.0 - z  # (1 - z)(1 - n^2)
    Q = empty(ws, (T, B, 3, H), dt, tmp)
    np.subtract(1.0, r, out=Q[:, :, 0])
    Q[:, :, 0] *= r
    Q[:, :, 0] *= ghn
    Q[:, :, 0] *= Pn  # Pr = Pn gh_n r (1 - r)
    np.subtract(H_prev, n, out=Q[:, :, 1])
    Q[:, :, 1] *= z
    Q[:, :, 1] *= 1.0 - z  # Pz = (h_prev - n) z (1 - z)
    np.multiply(Pn, r, out=Q[:, :, 2])

    DGH = empty(ws, (T, B, 3 * H), dt, tmp)
    DGH3 = DGH.reshape(T, B, 3, H)
    DH = empty(ws, (T, B, H), dt, tmp)
    dh_next = seq.carried_grad(dh_n, B, H, dt)
    rec = np.empty((B, H), dtype=dt)
    for t in order:
        dh = DH[t]
        seq.add_carried(dh, dy, dh_next, active, t)  # dHt: dh = dy[t] + dh_next
        np.multiply(dh[:, None, :], Q[t], out=DGH3[t])
        if active is not None:
            inactive = ~active[t]
            np.copyto(DGH[t], 0.0, where=inactive)
        np.matmul(DGH[t], W_hh, out=rec)
        np.multiply(dh, z[t], out=dh_next)
        dh_next += rec
        if active is not None:
            np.copyto(dh_next, dh, where=inactive)

    DGX = empty(ws, (T, B, 3 * H), dt, tmp)
    DGX[:, :, : 2 * H] = DGH[:, :, : 2 * H]
    np.multiply(DH, Pn, out=DGX[:, :, 2 * H :])
    if active is not None:
        DGX[:, :, 2 * H :] *= active
    dgx2 = DGX.reshape(T * B, 3 * H)
    dgh2 = DGH.reshape(T * B, 3 * H)
    dx = np.matmul(dgx2, W_ih).reshape(T, B, D) if need_dx else None
    dW_ih = np.matmul(dgx2.T, x.reshape(T * B, D), out=take(ws, (3 * H, D), dt))
    dW_hh = np.matmul(dgh2.T, H_prev.reshape(T * B, H), out=take(ws, (3 * H, H), dt))
    if has_bias:
        db_ih = dgx2.sum(axis=0)
        db_hh = dgh2.sum(axis=0)
    else:
        db_ih = db_hh = None
    grads = seq.HiddenGrads(dx, dh_next, dW_ih, dW_hh, db_ih, db_hh)
    if record is not None:
        record(cache, {"dout": dout, "DH": DH, "DGH": DGH, "DGX": DGX, "grads": grads})
    if ws is not None:
        ws.give(*owned, *tmp)
    return grads


def forward_intermediates(cache: GRUCache) -> dict[str, np.ndarray]:
    """Named forward intermediates of a cached forward pass (time-ordered views)."""
    H = cache.W_hh.shape[1]
    GX = cache.GX
    gates = {"r": GX[:, :, :H], "z": GX[:, :, H : 2 * H], "n": GX[:, :, 2 * H :], "gh_n": cache.GH[:, :, 2 * H :]}
    return seq.named_states(cache.x, cache.Hs, cache.reverse, gates)
