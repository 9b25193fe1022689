r"""The sLSTM layer of xLSTM (Beck et al., NeurIPS 2024) written the textbook way: one step at a time, one
equation per line, next to the LSTM it grew from (:mod:`bptt.functional.reference.lstm`).

This is the twin of :mod:`bptt.functional.slstm` (same arguments, same results, held equal in float64 by the
tests). Weights: ``W_ih`` ``(4H, D)``, the recurrent ``W_hh`` ``(4H, H/K)`` holding the ``K`` diagonal blocks
of the block-diagonal recurrent matrix ``R`` (one ``(H/K, H/K)`` block per head and gate, see
:func:`block_diagonal`), one bias ``b`` ``(4H,)``; row blocks in the paper's gate order ``i, f, z, o`` (the
positions of PyTorch's ``i, f, g, o``); head ``k`` owns units ``k·H/K .. (k+1)·H/K - 1`` of every block.

**Forward, one step** (:func:`step_forward`). The paper's equations (8)-(17) with ``i_t = exp(ĩ_t)``, so
``log i_t = ĩ_t``; the forget gate is ``σ(f̃_t)`` (``forget_gate="sigmoid"``) or ``exp(f̃_t)``
(``"exp"``), kept in log space:

.. math::

    a_t &= x_t W_{ih}^\top + h_{t-1} R^\top + b = [\tilde\imath, \tilde f, \tilde z, \tilde o]
        && \text{(11)-(14), } R \text{ block-diagonal}\\
    \log i_t &= \tilde\imath_t, \qquad \log f_t = \log\sigma(\tilde f_t) \;\text{or}\; \tilde f_t
        && \text{(12), (13)}\\
    m_t &= \max(\log f_t + m_{t-1},\; \log i_t)                        && \text{(15), stabiliser}\\
    i'_t &= \exp(\log i_t - m_t), \qquad f'_t = \exp(\log f_t + m_{t-1} - m_t)   && \text{(16), (17)}\\
    z_t &= \tanh(\tilde z_t), \qquad o_t = \sigma(\tilde o_t)          && \text{(11), (14)}\\
    c_t &= f'_t \odot c_{t-1} + i'_t \odot z_t                        && \text{(8), cell}\\
    n_t &= f'_t \odot n_{t-1} + i'_t                                  && \text{(9), normaliser}\\
    \tilde h_t &= c_t / n_t, \qquad h_t = o_t \odot \tilde h_t           && \text{(10)}

**Why m does not change h.** Write :math:`\bar c_t = e^{m_t} c_t` and :math:`\bar n_t = e^{m_t} n_t`; then
:math:`\bar c_t = f_t \bar c_{t-1} + i_t z_t` and :math:`\bar n_t = f_t \bar n_{t-1} + i_t` are the
unstabilised states, whatever the sequence :math:`m_t`, and :math:`\tilde h_t = c_t / n_t = \bar c_t /
\bar n_t`: the stabiliser cancels in the ratio. It only keeps :math:`i', f' \le 1` so that nothing overflows.

**Backward, one step** (:func:`step_backward`), given :math:`dy_t` and the gradients :math:`dh_{next}`,
:math:`dc_{next}`, :math:`dn_{next}`, :math:`dm_{next}` of :math:`h_t, c_t, n_t, m_t` carried back from step
:math:`t+1`:

.. math::

    dh &= dy_t + dh_{next}, \qquad do = dh \odot \tilde h_t, \qquad da^o = do \odot o_t (1 - o_t)\\
    d\tilde h &= dh \odot o_t\\
    dc &= dc_{next} + d\tilde h / n_t, \qquad dn = dn_{next} - d\tilde h \odot \tilde h_t / n_t\\
    dz &= dc \odot i'_t, \qquad da^z = dz \odot (1 - z_t^2)\\
    di' &= dc \odot z_t + dn, \qquad df' = dc \odot c_{t-1} + dn \odot n_{t-1}\\
    dm &= dm_{next} - di' \odot i'_t - df' \odot f'_t     && (m_t \text{ enters } i', f' \text{ with a minus})\\
    d\log i &= di' \odot i'_t + [\text{input wins}]\, dm, \qquad
        d\log f = df' \odot f'_t + [\text{forget wins}]\, dm\\
    da^i &= d\log i, \qquad da^f = d\log f \odot (1 - \sigma(\tilde f_t)) \;\text{(sigmoid) or } d\log f
        \;\text{(exp)}\\
    dx_t &= da\, W_{ih}, \qquad dh_{next} = da\, R\\
    dc_{next} &= dc \odot f'_t, \quad dn_{next} = dn \odot f'_t, \quad
        dm_{next} = df' \odot f'_t + [\text{forget wins}]\, dm

where "forget wins" means :math:`\log f_t + m_{t-1} \ge \log i_t` (ties go to the forget branch), and the
step's shares of the weight gradients are :math:`dW_{ih} = da^\top x_t`, the diagonal blocks of
:math:`da^\top h_{t-1}` for :math:`W_{hh}`, :math:`db = \sum_b da`.

**How the stabiliser's max enters the gradient.** It is differentiated as written (the gradient of the max
goes to the argument that won), which is what torch autograd of these equations does and what the authors'
vanilla PyTorch backend does (``xlstm``'s ``slstm_forward_pointwise`` differentiates through ``torch.max``).
Substituting the lines above, :math:`di' \odot i' + df' \odot f' = dc \odot c_t + dn \odot n_t` and the
:math:`d\tilde h` terms cancel, so

.. math::  dm_t = dm_{next} - c_t \odot dc_{next} - n_t \odot dn_{next}

and the same quantity is handed on as :math:`dm_{next}` to step :math:`t-1`: the gradient through the
stabiliser is *carried back unchanged*, whichever branch of the max won. When the loss depends on the outputs
:math:`h` only (the final states' gradients are zero, or more generally
:math:`dm_n = c_n \odot dc_n + n_n \odot dn_n`), it is exactly zero at every step, so treating :math:`m` as a
constant (a stop-gradient, as the authors' CUDA kernel does: it never forms a gradient for ``m``) gives the
same parameter gradients; in floating point ``dm`` is rounding noise. It is non-zero only when the loss
depends on the scale of the stabilised states themselves (e.g. :math:`dc_n \ne 0` with :math:`dm_n = 0`);
then this derivative is the one of the computation as written.

**A sequence** (:func:`forward`, :func:`backward`) is a loop over the steps ``t = 0 .. T-1``. ``record``,
when given, is called as ``record(cache)`` at the end of :func:`forward` (``cache.steps[t]`` is the
:class:`StepCache` of step ``t``) and as ``record(cache, steps)`` at the end of :func:`backward` (``steps[t]``
the :class:`StepGrads` of step ``t``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..slstm import SLSTMGrads  # the result type, shared with the fast twin
from .common import log_sigmoid, sigmoid


class StepCache(NamedTuple):
    """Everything one forward step computed, each ``(B, ·)``."""

    x: np.ndarray  # x_t, (B, D)
    h_prev: np.ndarray  # h_{t-1}, (B, H)
    c_prev: np.ndarray  # c_{t-1} (stabilised)
    n_prev: np.ndarray  # n_{t-1} (stabilised)
    m_prev: np.ndarray  # m_{t-1}
    a: np.ndarray  # gate pre-activations [i~, f~, z~, o~], (B, 4H)
    log_i: np.ndarray  # log i_t = i~
    log_f: np.ndarray  # log f_t = log sigmoid(f~) or f~
    m: np.ndarray  # stabiliser m_t
    i: np.ndarray  # stabilised input gate i'_t
    f: np.ndarray  # stabilised forget gate f'_t
    z: np.ndarray  # cell input
    o: np.ndarray  # output gate
    c: np.ndarray  # cell state c_t
    n: np.ndarray  # normaliser state n_t
    h_tilde: np.ndarray  # c_t / n_t
    h: np.ndarray  # hidden state h_t


class StepGrads(NamedTuple):
    """Every gradient of one backward step, each ``(B, ·)``, then the step's shares of the weight gradients."""

    dy: np.ndarray  # gradient from the output y_t
    dh_next_in: np.ndarray  # carried in from step t+1
    dc_next_in: np.ndarray
    dn_next_in: np.ndarray
    dm_next_in: np.ndarray
    dh: np.ndarray  # dy + dh_next_in
    do: np.ndarray
    da_o: np.ndarray
    dh_tilde: np.ndarray
    dc: np.ndarray
    dn: np.ndarray
    dz: np.ndarray
    da_z: np.ndarray
    di: np.ndarray  # gradient of i'_t
    df: np.ndarray  # gradient of f'_t
    dm: np.ndarray  # gradient of m_t (zero up to rounding when only outputs feed the loss)
    dlog_i: np.ndarray
    dlog_f: np.ndarray
    da_i: np.ndarray
    da_f: np.ndarray
    da: np.ndarray  # [da_i, da_f, da_z, da_o], (B, 4H)
    dx: np.ndarray
    dh_next: np.ndarray  # carried out to step t-1
    dc_next: np.ndarray
    dn_next: np.ndarray
    dm_next: np.ndarray
    dW_ih: np.ndarray  # da^T x_t, (4H, D)
    dW_hh: np.ndarray  # the diagonal blocks of da^T h_{t-1}, (4H, H/K)
    db: np.ndarray  # sum of da over the batch, (4H,)


class SequenceCache(NamedTuple):
    """What :func:`backward` needs: the time-ordered step caches, the weights and the options."""

    steps: list[StepCache]  # steps[t] is time step t
    W_ih: np.ndarray
    W_hh: np.ndarray
    has_bias: bool
    forget_gate: str  # "sigmoid" or "exp"


def block_diagonal(W_hh: np.ndarray) -> np.ndarray:
    """The full recurrent matrix ``R`` ``(4H, H)`` from its diagonal blocks ``W_hh`` ``(4H, H/K)``: row
    ``g·H + k·H/K + j`` (gate ``g``, head ``k``, unit ``j``) reads only head ``k``'s hidden units."""
    H, head_size = W_hh.shape[0] // 4, W_hh.shape[1]
    R = np.zeros((4 * H, H), dtype=W_hh.dtype)
    for gate in range(4):
        for k in range(H // head_size):
            rows = slice(gate * H + k * head_size, gate * H + (k + 1) * head_size)
            R[rows, k * head_size:(k + 1) * head_size] = W_hh[rows]
    return R


def diagonal_blocks(dR: np.ndarray, head_size: int) -> np.ndarray:
    """The inverse of :func:`block_diagonal`: the ``(4H, H/K)`` diagonal blocks of a ``(4H, H)`` matrix (the
    gradient of ``W_hh`` is the gradient of ``R`` restricted to the entries ``R`` is made of)."""
    H = dR.shape[1]
    blocks = np.zeros((4 * H, head_size), dtype=dR.dtype)
    for gate in range(4):
        for k in range(H // head_size):
            rows = slice(gate * H + k * head_size, gate * H + (k + 1) * head_size)
            blocks[rows] = dR[rows, k * head_size:(k + 1) * head_size]
    return blocks


def step_forward(
    x: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    n_prev: np.ndarray,
    m_prev: np.ndarray,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    b: np.ndarray | None = None,
    *,
    forget_gate: str = "sigmoid",
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], StepCache]:
    """One sLSTM step (the forward equations of the module docstring); returns ``((h, c, n, m), cache)``."""
    R = block_diagonal(W_hh)  # memory mixing inside each head only
    a = x @ W_ih.T + h_prev @ R.T  # the four gates' pre-activations, blocks [i~, f~, z~, o~]
    if b is not None:
        a = a + b
    a_i, a_f, a_z, a_o = np.split(a, 4, axis=1)
    log_i = a_i  # exponential input gate: log i = i~  (eq 12)
    log_f = log_sigmoid(a_f) if forget_gate == "sigmoid" else a_f  # sigmoid or exponential forget gate (eq 13)
    m = np.maximum(log_f + m_prev, log_i)  # stabiliser (eq 15)
    i = np.exp(log_i - m)  # stabilised input gate i' (eq 16)
    f = np.exp(log_f + m_prev - m)  # stabilised forget gate f' (eq 17)
    z = np.tanh(a_z)  # cell input (eq 11)
    o = sigmoid(a_o)  # output gate (eq 14)
    c = f * c_prev + i * z  # cell state (eq 8)
    n = f * n_prev + i  # normaliser state (eq 9)
    h_tilde = c / n  # normalised cell state (eq 10)
    h = o * h_tilde  # hidden state (eq 10)
    return (h, c, n, m), StepCache(x, h_prev, c_prev, n_prev, m_prev, a, log_i, log_f, m, i, f, z, o, c, n,
                                   h_tilde, h)


def step_backward(
    dy: np.ndarray,
    dh_next_in: np.ndarray,
    dc_next_in: np.ndarray,
    dn_next_in: np.ndarray,
    dm_next_in: np.ndarray,
    cache: StepCache,
    W_ih: np.ndarray,
    W_hh: np.ndarray,
    *,
    forget_gate: str = "sigmoid",
) -> StepGrads:
    """One sLSTM backward step (the backward equations of the module docstring). ``dy`` is the gradient of
    the step's output from above, ``d*_next_in`` those of ``h_t, c_t, n_t, m_t`` carried back from step
    ``t + 1``."""
    x, h_prev, c_prev, n_prev, m_prev, a, log_i, log_f, m, i, f, z, o, c, n, h_tilde, h = cache
    R = block_diagonal(W_hh)
    dh = dy + dh_next_in  # from the output and from step t+1
    do = dh * h_tilde  # through h = o * h~
    da_o = do * o * (1 - o)  # through o = sigmoid(o~)
    dh_tilde = dh * o
    dc = dc_next_in + dh_tilde / n  # through h~ = c / n
    dn = dn_next_in - dh_tilde * h_tilde / n  # d(c/n)/dn = -c/n^2 = -h~/n
    dz = dc * i  # through c = f' c_{t-1} + i' z
    da_z = dz * (1 - z**2)  # through z = tanh(z~)
    di = dc * z + dn  # i' enters c and n
    df = dc * c_prev + dn * n_prev  # f' enters c and n
    dm = dm_next_in - di * i - df * f  # m enters i' = exp(log i - m) and f' = exp(log f + m_prev - m)
    forget_wins = log_f + m_prev >= log_i  # which argument the max of eq 15 took
    dlog_i = di * i + np.where(forget_wins, 0, dm)  # through i' and, when it won, through the max
    dlog_f = df * f + np.where(forget_wins, dm, 0)  # through f' and, when it won, through the max
    da_i = dlog_i  # log i = i~
    a_f = np.split(a, 4, axis=1)[1]  # the forget gate's pre-activation f~
    da_f = dlog_f * (1 - sigmoid(a_f)) if forget_gate == "sigmoid" else dlog_f  # d log sigmoid(a)/da = 1 - sigmoid(a)
    da = np.concatenate([da_i, da_f, da_z, da_o], axis=1)  # all four gates, in the order i, f, z, o
    dx = da @ W_ih  # back through a = x W_ih^T + ...
    dh_next = da @ R  # back through a = ... + h_{t-1} R^T, carried to step t-1
    dc_next = dc * f  # through c = f' c_{t-1} + ..., carried to step t-1
    dn_next = dn * f  # through n = f' n_{t-1} + ...
    dm_next = df * f + np.where(forget_wins, dm, 0)  # through f' and, when the forget branch won, the max
    dW_ih = da.T @ x  # this step's share of dW_ih
    dW_hh = diagonal_blocks(da.T @ h_prev, W_hh.shape[1])  # this step's share of dW_hh (R's blocks only)
    db = da.sum(axis=0)  # this step's share of db
    return StepGrads(dy, dh_next_in, dc_next_in, dn_next_in, dm_next_in, dh, do, da_o, dh_tilde, dc, dn, dz,
                     da_z, di, df, dm, dlog_i, dlog_f, da_i, da_f, da, dx, dh_next, dc_next, dn_next, dm_next,
                     dW_ih, dW_hh, db)


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
    record: Callable | None = None,
) -> tuple[tuple[np.ndarray, ...], SequenceCache]:
    """Run the layer over ``x`` ``(T, B, D)`` from the state ``(h0, c0, n0, m0)`` (each ``(B, H)``); returns
    ``((y, h_n, c_n, n_n, m_n), cache)`` like :func:`bptt.functional.slstm.forward`."""
    T, B, _ = x.shape
    y = np.zeros((T, B, h0.shape[1]), dtype=x.dtype)
    steps: list = [None] * T
    h, c, n, m = h0, c0, n0, m0
    for t in range(T):
        (h, c, n, m), steps[t] = step_forward(x[t], h, c, n, m, W_ih, W_hh, b, forget_gate=forget_gate)
        y[t] = h
    cache = SequenceCache(steps, W_ih, W_hh, b is not None, forget_gate)
    if record is not None:
        record(cache)
    return (y, h, c, n, m), cache


def backward(
    dout: tuple[np.ndarray | None, ...],
    cache: SequenceCache,
    *,
    need_dx: bool = True,
    record: Callable | None = None,
) -> SLSTMGrads:
    """Backpropagate ``dout = (dy, dh_n, dc_n, dn_n, dm_n)`` (``None`` for zero) through time; returns
    :class:`~bptt.functional.slstm.SLSTMGrads` ``(dx, dh0, dc0, dn0, dm0, dW_ih, dW_hh, db)`` like the fast
    twin (``db`` ``None`` without a bias, ``dx`` ``None`` with ``need_dx=False``)."""
    steps, W_ih, W_hh, has_bias, forget_gate = cache
    T = len(steps)
    B, D = steps[0].x.shape
    H = W_ih.shape[0] // 4
    dt = steps[0].x.dtype
    dy, *dstate = dout
    dh_carry, dc_carry, dn_carry, dm_carry = (np.zeros((B, H), dtype=dt) if d is None else np.asarray(d, dtype=dt)
                                              for d in dstate)
    dx = np.zeros((T, B, D), dtype=dt)
    grads: list = [None] * T
    for t in range(T - 1, -1, -1):  # backwards in time
        dy_t = np.zeros((B, H), dtype=dt) if dy is None else np.asarray(dy[t], dtype=dt)
        grads[t] = step_backward(dy_t, dh_carry, dc_carry, dn_carry, dm_carry, steps[t], W_ih, W_hh,
                                 forget_gate=forget_gate)
        dh_carry, dc_carry, dn_carry, dm_carry = grads[t].dh_next, grads[t].dc_next, grads[t].dn_next, \
            grads[t].dm_next
        dx[t] = grads[t].dx
    dW_ih = sum((g.dW_ih for g in grads), np.zeros(W_ih.shape, dtype=dt))
    dW_hh = sum((g.dW_hh for g in grads), np.zeros(W_hh.shape, dtype=dt))
    db = sum((g.db for g in grads), np.zeros(4 * H, dtype=dt)) if has_bias else None
    if record is not None:
        record(cache, grads)
    return SLSTMGrads(dx if need_dx else None, dh_carry, dc_carry, dn_carry, dm_carry, dW_ih, dW_hh, db)
