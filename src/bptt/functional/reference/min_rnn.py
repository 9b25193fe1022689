"""The sequence loop shared by the reference minGRU and minLSTM: the two cells differ only in their step.

:func:`run_layer` (named as its fast twin in :mod:`bptt.functional.min_rnn`) walks the steps in
processing order (the parallel mode has computed every step cache at once beforehand, the sequential mode
calls the cell's ``step_forward`` here); padded steps keep the state and output zeros.
:func:`differentiate_layer` walks them backwards, calling the cell's ``step_backward`` and carrying ``dh``
through padded steps unchanged; the weight gradients are the sums of the steps' shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..min_rnn import MinRNNGrads, MinRNNProjectionGrads  # the result types, shared with the fast twin
from .common import packed_mask, processing_order

__all__ = ["SequenceCache", "differentiate_layer", "run_layer"]


class SequenceCache(NamedTuple):
    """What the backward pass needs: the time-ordered step caches, the weights and the options."""

    steps: list[Any]  # the cell's StepCache per step
    W_ih: np.ndarray
    W_out: np.ndarray | None
    has_bias: bool
    mode: str
    reverse: bool
    lengths: np.ndarray | None
    mask: np.ndarray  # (T, B, 1), True inside the sequence


def run_layer(x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, b_ih: np.ndarray | None, W_out: np.ndarray | None,
                *, gates: int, step_forward: Callable, parallel_steps: Callable, mode: str, reverse: bool,
                lengths: np.ndarray | None, record: Callable | None
                ) -> tuple[tuple[np.ndarray, np.ndarray], SequenceCache]:
    """``((y, h_n), cache)`` of a min cell whose ``W_ih`` has ``gates`` row blocks."""
    if mode not in ("parallel", "sequential"):
        raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}")
    T, B, _ = x.shape
    mask = packed_mask(lengths, T, B)
    P = W_ih.shape[0] // gates if W_out is None else W_out.shape[0]
    y = np.zeros((T, B, P), dtype=x.dtype)
    if mode == "parallel":
        steps = parallel_steps(x, h0, W_ih, b_ih, W_out, reverse, lengths)
    else:
        steps = [None] * T
    h = h0
    for t in processing_order(T, reverse):
        m = mask[t]
        if mode == "sequential":
            _, steps[t] = step_forward(x[t], h, W_ih, b_ih, W_out)
        h = np.where(m, steps[t].h, h)  # padded rows keep their state ...
        y[t] = np.where(m, steps[t].y, 0)  # ... and output zeros
    cache = SequenceCache(steps, W_ih, W_out, b_ih is not None, mode, reverse, lengths, mask)
    if record is not None:
        record(cache)
    return (y, h), cache


def differentiate_layer(dout: tuple[np.ndarray | None, np.ndarray | None], cache: SequenceCache, *, gates: int,
                 step_backward: Callable, need_dx: bool, record: Callable | None
                 ) -> MinRNNGrads | MinRNNProjectionGrads:
    """``(dx, dh0, dW_ih, db_ih[, dW_out])`` of a min cell whose ``W_ih`` has ``gates`` row blocks."""
    dy, dh_n = dout
    steps, W_ih, W_out, has_bias, _, reverse, _, mask = cache
    T = len(steps)
    B, D = mask.shape[1], W_ih.shape[1]
    H = W_ih.shape[0] // gates
    P = H if W_out is None else W_out.shape[0]
    dt = W_ih.dtype
    dh_carry = np.zeros((B, H), dtype=dt) if dh_n is None else np.asarray(dh_n, dtype=dt)
    dx = np.zeros((T, B, D), dtype=dt)
    grads: list = [None] * T
    for t in processing_order(T, not reverse):  # backwards in time
        m = mask[t]
        dy_t = np.zeros((B, P), dtype=dt) if dy is None else np.asarray(dy[t], dtype=dt)
        grads[t] = step_backward(np.where(m, dy_t, 0), np.where(m, dh_carry, 0), steps[t], W_ih, W_out)
        dh_carry = np.where(m, grads[t].dh_next, dh_carry)  # padded rows pass the carried gradient through
        dx[t] = grads[t].dx
    dW_ih = sum((s.dW_ih for s in grads), np.zeros(W_ih.shape, dtype=dt))
    db_ih = sum((s.db_ih for s in grads), np.zeros(gates * H, dtype=dt)) if has_bias else None
    if record is not None:
        record(cache, grads)
    if W_out is None:
        return MinRNNGrads(dx if need_dx else None, dh_carry, dW_ih, db_ih)
    dW_out = sum((s.dW_out for s in grads), np.zeros(W_out.shape, dtype=dt))
    return MinRNNProjectionGrads(dx if need_dx else None, dh_carry, dW_ih, db_ih, dW_out)
