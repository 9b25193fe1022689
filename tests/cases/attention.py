"""Cases shared by tests/nn/test_attention*.py: mechanisms, wrappers and memory lengths.
"""

from __future__ import annotations

import numpy as np

from bptt import nn
from bptt.nn.attention import (
    AttentionWrapper,
    BahdanauAttention,
    LuongAttention,
)

LENGTHS = np.array([6, 2, 5, 1])  # B = 4, S = 6: full, short, middle, single
B, S = 4, 6

MECHS = {
    "luong": dict(cls="luong", score="general", scale=False),
    "dot": dict(cls="luong", score="dot", scale=False),
    "scaled_luong": dict(cls="luong", score="general", scale=True),
    "bahdanau": dict(cls="bahdanau", normalize=False),
    "normed_bahdanau": dict(cls="bahdanau", normalize=True),
}


def make_mech(name: str, U: int, Dm: int, Hq: int, rng):
    spec = MECHS[name]
    if spec["cls"] == "luong":
        return LuongAttention(U, Dm, score=spec["score"], scale=spec["scale"], dtype=np.float64, rng=rng)
    return BahdanauAttention(U, Dm, Hq, normalize=spec["normalize"], dtype=np.float64, rng=rng)


# ---------------------------------------------------------------------------------------------- the wrapper
def make_wrapper(cell: str, mech: str, L: int, E: int, H: int, Dm: int, rng, *, layer=True, tanh=False,
                 output_attention=True):
    A = H if layer else Dm
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "lnlstm": nn.LayerNormLSTM}[cell]
    cell_mod = cls(E + A, H, L, dtype=np.float64, rng=rng)
    m = make_mech(mech, H, Dm, H, rng)
    return AttentionWrapper(cell_mod, m, H if layer else None, attention_tanh=tanh,
                            output_attention=output_attention, rng=rng)
