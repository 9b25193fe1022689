r"""What every whole-sequence recurrent op (:mod:`~bptt.functional.lstm`, :mod:`~bptt.functional.gru`,
:mod:`~bptt.functional.rnn`, :mod:`~bptt.functional.ln_lstm`) shares: step order, state arrays, the
``lengths`` mask, the carried gradient and the gradient tuple of the ``h``-only layers.

**State arrays.** A layer's states live in ``(T+1, B, size)`` arrays in *time* order. Forward
(``reverse=False``), ``S[t]`` is the state before step ``t`` and ``S[t+1]`` the state after it; reverse,
``S[t+1]`` is before and ``S[t]`` after. With ``d = 1`` for reverse (else 0) step ``t`` reads
``S[prev] = S[t + d]`` and writes ``S[cur] = S[t + 1 - d]``, so every per-step array stays time-ordered:

.. math::  \text{before}(S) = S[d : T + d], \qquad \text{after}(S) = S[1 - d : T + 1 - d]

**Lengths.** ``lengths`` (``(B,)`` ints in ``[1, T]``) gives packed-sequence semantics through the mask
:math:`m_{t,b} = [t < \ell_b]`: at padded steps a sequence reads no input, keeps its state, outputs zeros
and passes gradients straight through.

**Carried gradient.** Backward, step ``t`` receives :math:`dh = dy_t\,m_t + dh_{next}` (the seed's dHt):
the output's gradient plus the gradient carried back from step ``t + 1``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .workspace import Workspace, empty


class HiddenGrads(NamedTuple):
    """Gradients returned by the backward pass of a layer whose state is ``h`` alone (GRU, Elman RNN)."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dh0: np.ndarray  # (B, H)
    dW_ih: np.ndarray
    dW_hh: np.ndarray
    db_ih: np.ndarray | None  # None without biases
    db_hh: np.ndarray | None


def step_order(T: int, reverse: bool) -> tuple[range, int]:
    """The forward pass's steps in processing order and ``d`` (1 for reverse, else 0): step ``t`` reads the
    state ``S[t + d]`` and writes ``S[t + 1 - d]``. Backward walks ``order[::-1]``."""
    order = range(T - 1, -1, -1) if reverse else range(T)
    return order, (1 if reverse else 0)


def state_array(ws: Workspace | None, T: int, B: int, size: int, dtype: np.dtype, owned: list,
                initial: np.ndarray, reverse: bool) -> np.ndarray:
    """A ``(T+1, B, size)`` state array (through the workspace) holding ``initial`` where the first step
    reads it: ``S[0]`` forward, ``S[T]`` reverse."""
    S = empty(ws, (T + 1, B, size), dtype, owned)
    S[T if reverse else 0] = initial
    return S


def before(S: np.ndarray, reverse: bool) -> np.ndarray:
    """``(T, B, size)`` view: the state each step reads (``h_{t-1}``), time-ordered."""
    return S[1:] if reverse else S[:-1]


def after(S: np.ndarray, reverse: bool) -> np.ndarray:
    """``(T, B, size)`` view: the state each step writes (``h_t``), time-ordered."""
    return S[:-1] if reverse else S[1:]


def final(S: np.ndarray, reverse: bool) -> np.ndarray:
    """``(B, size)`` view: the state after the last processed step (``S[T]`` forward, ``S[0]`` reverse)."""
    return S[0] if reverse else S[-1]


def outputs(Hs: np.ndarray, reverse: bool, active: np.ndarray | None) -> np.ndarray:
    """The layer's output ``y`` ``(T, B, H)``: the states after each step (a view of ``Hs``), zero at padded
    steps (a fresh array when there is a mask)."""
    y = after(Hs, reverse)
    return y if active is None else y * active


def named_states(x: np.ndarray, Hs: np.ndarray, reverse: bool, gates: dict[str, np.ndarray],
                 Cs: np.ndarray | None = None, TC: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The named forward intermediates of a cached forward pass (time-ordered views), in the order ``x``,
    ``h_prev`` (, ``c_prev``), the op's ``gates``, (``c``, ``tanh_c``,) ``h``; ``Cs`` and ``TC`` (``tanh(c_t)``)
    for the LSTMs."""
    named = {"x": x, "h_prev": before(Hs, reverse)}
    if Cs is not None:
        named["c_prev"] = before(Cs, reverse)
    named.update(gates)
    if Cs is not None:
        named["c"] = after(Cs, reverse)
        named["tanh_c"] = TC
    named["h"] = after(Hs, reverse)
    return named


def active_mask(lengths: np.ndarray | None, T: int) -> np.ndarray | None:
    """``(T, B, 1)`` boolean mask, True where step ``t`` is inside sequence ``b`` (``None`` without lengths)."""
    if lengths is None:
        return None
    return (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[:, :, None]


def gate_scale(H: int, gates: int, tanh_blocks: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    r"""``(gates * H,)``: 1/2 for the sigmoid row blocks, 1 for the ``tanh_blocks``, so that one ``tanh`` of
    the scaled pre-activations gives every gate, :math:`\sigma(a) = \tfrac12 \tanh(a/2) + \tfrac12`."""
    scale = np.full(gates * H, 0.5, dtype=dtype)
    for k in tanh_blocks:
        scale[k * H : (k + 1) * H] = 1.0
    return scale


def carried_grad(d_final: np.ndarray | None, B: int, size: int, dtype: np.dtype) -> np.ndarray:
    """The gradient carried into the last processed step: a copy of ``d_final`` (``dh_n`` or ``dc_n``), or
    zeros for ``None``."""
    return np.zeros((B, size), dtype=dtype) if d_final is None else np.array(d_final, dtype=dtype)


def add_carried(dh: np.ndarray, dy: np.ndarray | None, dh_next: np.ndarray, active: np.ndarray | None,
                t: int) -> None:
    """``dh = dy[t] + dh_next`` (the seed's dHt): the output's gradient at step ``t`` (none at padded steps,
    ``None`` meaning zero) plus the gradient carried back from step ``t + 1``."""
    if dy is None:
        dh[...] = dh_next
    elif active is None:
        np.add(dy[t], dh_next, out=dh)
    else:
        np.multiply(dy[t], active[t], out=dh)
        dh += dh_next
