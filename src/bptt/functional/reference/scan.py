r"""The linear recurrence :math:`h_t = a_t \odot h_{t-1} + b_t` and its backward pass, written the textbook way.

The twin of :mod:`bptt.functional.scan`. minGRU and minLSTM reduce a recurrent layer to this recurrence (their
gates read :math:`x_t` only), so its backward pass is the heart of theirs. Read it next to the derivation:

**Forward, one step** (:func:`step_forward`): :math:`h_t = a_t \odot h_{t-1} + b_t`.

**Backward, one step** (:func:`step_backward`). :math:`h_t` reaches the loss through the layer's output
:math:`y_t = h_t` (gradient :math:`dy_t`) and through the next step, :math:`h_{t+1} = a_{t+1} h_t + b_{t+1}`
(gradient :math:`dh_{next}` carried back from step :math:`t+1`). So, walking :math:`t = T-1, \dots, 0`:

.. math::

    dh &= dy_t + dh_{next}          && \text{the total gradient of } h_t\\
    da &= dh \odot h_{t-1}          && \partial h_t / \partial a_t = h_{t-1}\\
    db &= dh                        && \partial h_t / \partial b_t = 1\\
    dh_{next} &= dh \odot a_t       && \partial h_t / \partial h_{t-1} = a_t \text{, carried to step } t-1

The carried gradient obeys :math:`dh_{next}^{(t-1)} = a_t \odot (dy_t + dh_{next}^{(t)})`: the backward pass of a
linear recurrence is the same linear recurrence run in reverse, a *reverse scan*.

**Parallel mode** (:func:`forward`, Heinsen 2023, the paper's Appendix B). The recurrence unrolls to
:math:`h_t = A_t h_0 + \sum_{s \le t} (A_t / A_s)\, b_s` with :math:`A_t = \prod_{r \le t} a_r`; in logarithms,
with :math:`a^*_t = \sum_{r \le t} \log a_r`,

.. math::

    h_t = e^{a^*_t} h_0 + \exp\Big(a^*_t + \log \sum_{s \le t} e^{\log b_s - a^*_s}\Big),

a cumulative sum and a cumulative log-sum-exp over :math:`t`. :func:`backward` is the reverse scan
above, step by step, followed by the chain rule into the logarithms:
:math:`d\log a_t = da_t \odot a_t`, :math:`d\log b_t = db_t \odot b_t`.

**Sequences** (:func:`forward` / :func:`backward` for the logarithms, parallel mode;
:func:`sequential_forward` / :func:`sequential_backward` for the values, the step loop) take and return what
the fast twin's functions do. With ``lengths``, a padded step (mask :math:`m_t` false) keeps the state and
outputs zero; backward it receives no gradient and passes the carried one straight through (see :mod:`.common`).

**Record protocol.** ``record(cache)`` at the end of a forward pass (``cache.steps[t]`` the :class:`StepCache`
of step ``t``), ``record(cache, steps)`` at the end of a backward pass (``steps[t]`` the :class:`StepGrads`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..scan import LogScanGrads, ScanGrads  # the result types, shared with the fast twin
from .common import packed_mask, processing_order


class StepCache(NamedTuple):
    """One forward step, each ``(B, H)``."""

    a: np.ndarray  # coefficient a_t
    b: np.ndarray  # value b_t
    h_prev: np.ndarray  # h_{t-1}
    h: np.ndarray  # h_t


class StepGrads(NamedTuple):
    """One backward step, each ``(B, H)``; all zero at padded rows."""

    dy: np.ndarray  # gradient from the output y_t = h_t
    dh_next_in: np.ndarray  # carried in from step t+1
    dh: np.ndarray  # total gradient of h_t
    da: np.ndarray  # gradient of a_t
    db: np.ndarray  # gradient of b_t
    dh_next: np.ndarray  # carried out to step t-1


class SequenceCache(NamedTuple):
    """The time-ordered step caches and the options."""

    steps: list[StepCache]
    reverse: bool
    lengths: np.ndarray | None
    mask: np.ndarray  # (T, B, 1) booleans, True inside the sequence
    log_domain: bool  # True for forward (its backward returns the gradients of log a, log b)


def step_forward(a: np.ndarray, b: np.ndarray, h_prev: np.ndarray) -> tuple[np.ndarray, StepCache]:
    """One step of the recurrence."""
    h = a * h_prev + b  # h_t = a_t h_{t-1} + b_t
    return h, StepCache(a, b, h_prev, h)


def step_backward(dy: np.ndarray, dh_next_in: np.ndarray, cache: StepCache) -> StepGrads:
    """One step of the reverse scan (the equations of the module docstring)."""
    a, b, h_prev, h = cache
    dh = dy + dh_next_in  # total gradient of h_t: from the output and from step t+1
    da = dh * h_prev  # dh_t/da_t = h_{t-1}
    db = dh  # dh_t/db_t = 1
    dh_next = dh * a  # dh_t/dh_{t-1} = a_t: the reverse scan, carried to step t-1
    return StepGrads(dy, dh_next_in, dh, da, db, dh_next)


def _run(a: np.ndarray, b: np.ndarray, h0: np.ndarray, reverse: bool, lengths: np.ndarray | None,
         log_domain: bool) -> tuple[tuple[np.ndarray, np.ndarray], SequenceCache]:
    """The step loop shared by both forward passes (``a``, ``b`` are values here)."""
    T, B, H = a.shape
    mask = packed_mask(lengths, T, B)
    y = np.zeros((T, B, H), dtype=a.dtype)
    steps: list = [None] * T
    h = h0
    for t in processing_order(T, reverse):
        m = mask[t]
        h_new, steps[t] = step_forward(a[t], b[t], h)
        h = np.where(m, h_new, h)  # padded rows keep their state ...
        y[t] = np.where(m, h_new, 0)  # ... and output zeros
    return (y, h), SequenceCache(steps, reverse, lengths, mask, log_domain)


def sequential_forward(a: np.ndarray, b: np.ndarray, h0: np.ndarray, *, reverse: bool = False,
            lengths: np.ndarray | None = None, record: Callable | None = None
            ) -> tuple[tuple[np.ndarray, np.ndarray], SequenceCache]:
    """Sequential mode: the step loop on the values ``a``, ``b`` ``(T, B, H)``; returns ``((y, h_n), cache)``
    like :func:`bptt.functional.scan.sequential_forward`."""
    out, cache = _run(a, b, h0, reverse, lengths, False)
    if record is not None:
        record(cache)
    return out, cache


def forward(log_a: np.ndarray, log_b: np.ndarray, h0: np.ndarray, *, reverse: bool = False,
                     lengths: np.ndarray | None = None, record: Callable | None = None
                     ) -> tuple[tuple[np.ndarray, np.ndarray], SequenceCache]:
    """Parallel mode: Heinsen's closed form on the logarithms (module docstring), all steps at once; returns
    ``((y, h_n), cache)`` like :func:`bptt.functional.scan.forward`."""
    T = log_a.shape[0]
    mask = packed_mask(lengths, T, log_a.shape[1])
    order = processing_order(T, reverse)
    log_a_seq = np.where(mask, log_a, 0.0)[order]  # processing order; a padded step is the identity: a = 1 ...
    log_b_seq = np.where(mask, log_b, -np.inf)[order]  # ... and b = 0
    a_star = np.cumsum(log_a_seq, axis=0)  # a*_t = sum_{r <= t} log a_r
    log_b_star = np.logaddexp.accumulate(log_b_seq - a_star, axis=0)  # log sum_{s <= t} exp(log b_s - a*_s)
    h_seq = np.exp(a_star) * h0 + np.exp(a_star + log_b_star)  # h_t = A_t h_0 + sum_s (A_t / A_s) b_s
    h_seq_prev = np.concatenate([h0[None], h_seq[:-1]])
    back = np.argsort(order)  # processing order -> time order
    steps = [StepCache(np.exp(log_a[t]), np.exp(log_b[t]), h_seq_prev[back[t]], h_seq[back[t]]) for t in range(T)]
    y = np.where(mask, h_seq[back], 0)
    h_n = h_seq[-1] if T else h0
    cache = SequenceCache(steps, reverse, lengths, mask, True)
    if record is not None:
        record(cache)
    return (y, h_n), cache


def _reverse_scan(dout: tuple[np.ndarray | None, np.ndarray | None], cache: SequenceCache) -> tuple[list, np.ndarray]:
    """The backward step loop: every step's :class:`StepGrads` (time order) and the gradient of ``h0``."""
    dy, dh_n = dout
    steps, reverse, _, mask, _ = cache
    T = len(steps)
    B, H = mask.shape[1], steps[0].h.shape[1]
    dt = steps[0].h.dtype
    dh_carry = np.zeros((B, H), dtype=dt) if dh_n is None else np.asarray(dh_n, dtype=dt)
    grads: list = [None] * T
    for t in processing_order(T, not reverse):  # backwards in time
        m = mask[t]
        dy_t = np.zeros((B, H), dtype=dt) if dy is None else np.asarray(dy[t], dtype=dt)
        grads[t] = step_backward(np.where(m, dy_t, 0), np.where(m, dh_carry, 0), steps[t])
        dh_carry = np.where(m, grads[t].dh_next, dh_carry)  # padded rows pass the carried gradient through
    return grads, dh_carry


def sequential_backward(dout: tuple[np.ndarray | None, np.ndarray | None], cache: SequenceCache, *,
             record: Callable | None = None) -> ScanGrads:
    """Backpropagate ``dout = (dy, dh_n)`` through :func:`sequential_forward`: :class:`~bptt.functional.scan.ScanGrads`
    ``(da, db, dh0)``."""
    grads, dh0 = _reverse_scan(dout, cache)
    da = np.stack([g.da for g in grads])
    db = np.stack([g.db for g in grads])
    if record is not None:
        record(cache, grads)
    return ScanGrads(da, db, dh0)


def backward(dout: tuple[np.ndarray | None, np.ndarray | None], cache: SequenceCache, *,
                      record: Callable | None = None) -> LogScanGrads:
    """Backpropagate through :func:`forward`: the same reverse scan, then the chain rule into the
    logarithms; :class:`~bptt.functional.scan.LogScanGrads` ``(dlog_a, dlog_b, dh0)``."""
    grads, dh0 = _reverse_scan(dout, cache)
    dlog_a = np.stack([g.da * s.a for g, s in zip(grads, cache.steps)])  # d log a = da * a
    dlog_b = np.stack([g.db * s.b for g, s in zip(grads, cache.steps)])  # d log b = db * b
    if record is not None:
        record(cache, grads)
    return LogScanGrads(dlog_a, dlog_b, dh0)
