"""Cases for minGRU, minLSTM and the scan (tests/functional/test_min_rnn*.py, tests/nn): NumPy only.

A :class:`MinCase` holds the positional inputs of ``forward`` (fast and reference take the same ones), the
keywords, the upstream gradients and the input names. Weights and biases are random, non-zero and distinct;
the pre-activations land on both sides of 0, so both branches of the paper's ``g`` are exercised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bptt.functional import min_gru, min_lstm
from bptt.functional import reference as ref
from helpers import distinct_uniform

#: cell -> (fast module, reference module, gate row blocks)
CELLS = {"min_gru": (min_gru, ref.min_gru, 2), "min_lstm": (min_lstm, ref.min_lstm, 3)}
MODES = ("parallel", "sequential")


@dataclass
class MinCase:
    cell: str
    args: list
    kwargs: dict = field(default_factory=dict)
    dout: tuple = ()
    names: tuple = ()


def draw_lengths(rng: np.random.Generator, T: int, B: int) -> np.ndarray:
    """Unsorted lengths in ``[1, T]`` containing 1 and T when the batch has room for both."""
    lengths = rng.integers(1, T + 1, size=B)
    if B >= 2:
        lengths[rng.permutation(B)[:2]] = [1, T]
    return lengths


def min_case(cell: str, rng: np.random.Generator, *, T: int = 5, B: int = 3, D: int = 4, H: int = 5,
             mode: str = "parallel", bias: bool = True, proj_size: int = 0, reverse: bool = False,
             lengths: bool = False, dout: str = "all", scale: float = 1.0) -> MinCase:
    """Random inputs of ``cell`` (``"min_gru"`` or ``"min_lstm"``); ``dout`` is ``"all"``, ``"y"`` or
    ``"final"`` (which upstream gradients are given, the others ``None``)."""
    G = CELLS[cell][2]
    P = proj_size or H
    args = [rng.standard_normal((T, B, D)), distinct_uniform(rng, (B, H), -1.5, 1.5),
            scale * distinct_uniform(rng, (G * H, D), -1.0, 1.0),
            distinct_uniform(rng, (G * H,), -0.8, 0.8) if bias else None,
            distinct_uniform(rng, (proj_size, H), -0.8, 0.8) if proj_size else None]
    kwargs = {"mode": mode, "reverse": reverse, "lengths": draw_lengths(rng, T, B) if lengths else None}
    given = {"all": (True, True), "y": (True, False), "final": (False, True)}[dout]
    upstream = tuple(rng.standard_normal(s) if g else None for s, g in zip([(T, B, P), (B, H)], given))
    return MinCase(cell, args, kwargs, upstream, ("x", "h0", "W_ih", "b_ih", "W_out"))


def run(module: Any, case: MinCase, **extra: Any) -> tuple[tuple, tuple, Any]:
    """``forward`` then ``backward`` of ``module`` on ``case``: ``(outputs, gradients, cache)`` (copies)."""
    (y, h_n), cache = module.forward(*case.args, **case.kwargs, **extra.get("fwd", {}))
    y, h_n = y.copy(), h_n.copy()
    grads = module.backward(case.dout, cache, **extra.get("bwd", {}))
    return (y, h_n), tuple(None if g is None else np.copy(g) for g in grads), cache
