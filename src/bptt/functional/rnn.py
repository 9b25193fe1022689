r"""Whole-sequence Elman RNN layer (one direction), ``tanh`` or ``relu``, PyTorch's layout.

Shapes: ``x`` ``(T, B, D)``, ``h0`` ``(B, H)``, ``W_ih`` ``(H, D)``, ``W_hh`` ``(H, H)``, biases ``(H,)``. Per step:

.. math::

    a_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}, \qquad h_t = \phi(a_t)

with :math:`\phi = \tanh` (:math:`\phi' = 1 - h_t^2`) or ReLU (:math:`\phi' = [h_t > 0]`).

**Forward, as computed.** The input projections of all steps (both biases folded in) are one matrix
product; a step is one product ``h_{t-1} W_hh^T`` into the output buffer and one in-place ``tanh`` or
``maximum``.

**Backward.** :math:`dh = dy_t + dh_{next}` (the seed's dHt), :math:`da_t = dh \odot \phi'`,
:math:`dh_{next} = da_t W_{hh}`; then :math:`dW_{ih} = \sum_t da_t^\top x_t`,
:math:`dW_{hh} = \sum_t da_t^\top h_{t-1}`, :math:`db_{ih} = db_{hh} = \sum da`. This product of
Jacobians :math:`\prod_t \mathrm{diag}(\phi'_t) W_{hh}` is where gradients vanish or explode. As computed:
:math:`\phi'` is formed for all steps before the loop (from the stored outputs :math:`h_t`, zeroed at padded
steps), a step is one multiply and one matrix product, and the weight gradients are single matrix products
over all ``T·B`` rows after the loop. The twin :mod:`bptt.functional.reference.rnn` writes the same step by
step (with the seed's :math:`z_t = [x_t, h_{t-1}]`, "HX"), held equal to this op in float64 by the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import sequence as seq
from .workspace import Workspace, empty, take


class RNNCache(NamedTuple):
    """What ``backward`` needs: the inputs, the weights and the time-ordered states."""

    x: np.ndarray
    W_ih: np.ndarray
    W_hh: np.ndarray
    has_bias: bool
    Hs: np.ndarray  # (T+1, B, H) hidden states, time order (see bptt.functional.sequence)
    relu: bool  # the nonlinearity: ReLU (True) or tanh
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
    nonlinearity: str = "tanh",
    reverse: bool = False,
    lengths: np.ndarray | None = None,
    ws: Workspace | None = None,
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], RNNCache]:
    """Run the layer; returns ``((y, h_n), cache)`` with ``y`` of shape ``(T, B, H)`` in time order.

    ``y`` and ``h_n`` are views of the cache; with a workspace ``ws`` the cache is recycled by ``backward``.
    """
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    owned: list = []
    W_hhT = np.ascontiguousarray(W_hh.T)
    XW = empty(ws, (T, B, H), dt, owned)
    np.matmul(x.reshape(T * B, D), W_ih.T, out=XW.reshape(T * B, H))
    if b_ih is not None:
        XW += b_ih + b_hh
    Hs = seq.state_array(ws, T, B, H, dt, owned, h0, reverse)
    order, d = seq.step_order(T, reverse)
    rec = empty(ws, (B, H), dt, owned)
    relu = nonlinearity == "relu"
    active = seq.active_mask(lengths, T)
    for t in order:
        p, q = t + d, t + 1 - d
        h = Hs[q]
        np.matmul(Hs[p], W_hhT, out=rec)
        np.add(XW[t], rec, out=h)
        if relu:
            np.maximum(h, 0.0, out=h)
        else:
            np.tanh(h, out=h)
        if active is not None:
            np.copyto(h, Hs[p], where=~active[t])
    cache = RNNCache(x, W_ih, W_hh, b_ih is not None, Hs, relu, reverse, active, owned)
    if record is not None:
        record(cache)
    return (seq.outputs(Hs, reverse, active), seq.final(Hs, reverse)), cache


def backward(
    dout: tuple[np.ndarray | None, np.ndarray | None],
    cache: RNNCache,
    *,
    ws: Workspace | None = None,
    need_dx: bool = True,
    record: Callable | None = None,
) -> seq.HiddenGrads:
    """Backpropagate ``dout = (dy, dh_n)``; returns :class:`~bptt.functional.sequence.HiddenGrads`
    ``(dx, dh0, dW_ih, dW_hh, db_ih, db_hh)``.

    ``need_dx=False`` skips ``dx`` (``None``); with a workspace the cache is consumed. ``record``: see
    :func:`bptt.functional.lstm.backward`.
    """
    dy, dh_n = dout
    x, W_ih, W_hh, has_bias, Hs, relu, reverse, active, owned = cache
    tmp: list = []
    T, B, D = x.shape
    H = W_hh.shape[1]
    dt = x.dtype
    order, d = seq.step_order(T, reverse)
    order = order[::-1]
    H_cur = seq.after(Hs, reverse)
    H_prev = seq.before(Hs, reverse)
    dphi = empty(ws, (T, B, H), dt, tmp)
    if relu:
        np.greater(H_cur, 0, out=dphi, casting="unsafe")
    else:
        np.multiply(H_cur, H_cur, out=dphi)
        np.subtract(1.0, dphi, out=dphi)
    if active is not None:
        dphi *= active  # padded steps: no gradient into the pre-activation
    dA = empty(ws, (T, B, H), dt, tmp)
    DH = empty(ws, (T, B, H), dt, tmp)
    dh_next = seq.carried_grad(dh_n, B, H, dt)
    for t in order:
        dh = DH[t]
        seq.add_carried(dh, dy, dh_next, active, t)  # dHt: dh = dy[t] + dh_next
        np.multiply(dh, dphi[t], out=dA[t])
        np.matmul(dA[t], W_hh, out=dh_next)
        if active is not None:
            np.copyto(dh_next, dh, where=~active[t])
    dA2 = dA.reshape(T * B, H)
    dx = np.matmul(dA2, W_ih).reshape(T, B, D) if need_dx else None
    dW_ih = np.matmul(dA2.T, x.reshape(T * B, D), out=take(ws, (H, D), dt))
    dW_hh = np.matmul(dA2.T, H_prev.reshape(T * B, H), out=take(ws, (H, H), dt))
    if has_bias:
        db_ih = dA2.sum(axis=0)
        db_hh = db_ih.copy()
    else:
        db_ih = db_hh = None
    grads = seq.HiddenGrads(dx, dh_next, dW_ih, dW_hh, db_ih, db_hh)
    if record is not None:
        record(cache, {"dout": dout, "DH": DH, "dA": dA, "grads": grads})
    if ws is not None:
        ws.give(*owned, *tmp)
    return grads


def forward_intermediates(cache: RNNCache) -> dict[str, np.ndarray]:
    """Named forward intermediates of a cached forward pass (time-ordered views)."""
    return seq.named_states(cache.x, cache.Hs, cache.reverse, {})
