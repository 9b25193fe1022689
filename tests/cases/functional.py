"""Cases shared by tests/functional/test_functional_ops*.py: recurrent op inputs, our side of each comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt.functional import (
    gru,
    lstm,
    rnn,
)
from helpers import distinct_uniform, seeded_rng

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def activation_input(name: str, rng: np.random.Generator) -> np.ndarray:
    """A (3, 7) input for an activation; away from the ReLU kink for finite differences."""
    x = rng.standard_normal((3, 7)) * 2
    if name == "relu":  # keep finite differences away from the kink
        x = np.where(np.abs(x) < 0.05, 0.3, x)
    return x


def recurrent_inputs(
    kind: str, rng: np.random.Generator, bias: bool, T: int, B: int, D: int, H: int
) -> dict:
    G = GATES[kind] * H
    inp = {
        "x": rng.standard_normal((T, B, D)),
        "h0": 0.5 * rng.standard_normal((B, H)),
        "W_ih": distinct_uniform(rng, (G, D)),
        "W_hh": distinct_uniform(rng, (G, H)),
        "b_ih": distinct_uniform(rng, (G,)) if bias else None,
        "b_hh": distinct_uniform(rng, (G,)) if bias else None,
    }
    if kind == "lstm":
        inp["c0"] = 0.5 * rng.standard_normal((B, H))
    if bias:
        assert not np.any(inp["b_ih"] == inp["b_hh"])
    return inp


def ours_recurrent(kind: str, inp: dict, *, forget_bias: float = 0.0, reverse: bool = False, **kw):
    args = (
        [inp["x"], inp["h0"]]
        + ([inp["c0"]] if kind == "lstm" else [])
        + [inp["W_ih"], inp["W_hh"], inp["b_ih"], inp["b_hh"]]
    )
    if kind == "lstm":
        return lstm.forward(*args, forget_bias=forget_bias, reverse=reverse, **kw)
    if kind == "gru":
        return gru.forward(*args, reverse=reverse, **kw)
    return rnn.forward(*args, nonlinearity=kind[4:], reverse=reverse, **kw)


def backward_ours(kind: str, dout, cache):
    return {"lstm": lstm, "gru": gru}.get(kind, rnn).backward(dout, cache)


def grad_names(kind: str) -> list[str]:
    return ["x", "h0"] + (["c0"] if kind == "lstm" else []) + ["W_ih", "W_hh", "b_ih", "b_hh"]


# ---------------------------------------------------------------------------------------- embedding
def embedding_case(padding_idx, seed_key):
    rng = seeded_rng("embedding", padding_idx, seed_key)
    V, D = 6, 3
    E = rng.standard_normal((V, D))
    ids = rng.integers(0, V, size=(4, 5))
    ids[0, :3] = 2  # repeated ids accumulate
    ids[1, 1] = ids[2, 2] = 0
    ids[3, 4] = V - 1
    return rng, E, ids


# ------------------------------------------------------------------------------------ cross-entropy
def ce_case(key, ignore_index: int, n_ignored: int, scale: float = 2.0):
    rng = seeded_rng("ce", key, ignore_index, n_ignored, scale)
    N, C = 7, 5
    x = rng.standard_normal((N, C)) * scale
    y = rng.integers(0, C, size=N)
    if ignore_index >= 0:
        y[y == ignore_index] = (ignore_index + 1) % C  # only the rows chosen below are ignored
    y[rng.choice(N, size=n_ignored, replace=False)] = ignore_index
    return rng, x, y


# --------------------------------------------------------------------------------- recurrent layers
RECURRENT_CASES = [
    pytest.param(
        "lstm", fb, rev, bias, id=f"lstm-fb{fb}-{'rev' if rev else 'fwd'}-{'bias' if bias else 'nobias'}"
    )
    for fb in (0.0, 1.3)
    for rev in (False, True)
    for bias in (True, False)
] + [
    pytest.param(kind, 0.0, rev, bias, id=f"{kind}-{'rev' if rev else 'fwd'}-{'bias' if bias else 'nobias'}")
    for kind in ("gru", "rnn_tanh", "rnn_relu")
    for rev in (False, True)
    for bias in (True, False)
]
