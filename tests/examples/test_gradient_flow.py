"""The gradient-flow runs (bptt.examples.gradient_flow): what the pictures of ``bptt explain --flow`` show."""

from __future__ import annotations

import numpy as np

from bptt.examples import gradient_flow as GF


def test_gradient_flow_data():
    res = GF.gradient_flow(T=30, hidden_size=16)
    for kind in ("rnn", "gru", "lstm"):
        v = res["dh"][kind]
        assert v.shape == (30,) and np.all(np.isfinite(v)) and v[-1] > 0
    assert set(res["dc"]) == {"lstm"}
    decay = {k: res["dh"][k][0] / res["dh"][k][-1] for k in res["dh"]}
    assert decay["rnn"] < decay["lstm"], "the RNN's gradient must vanish faster than the LSTM's"
    g = GF.gate_norms_over_training(steps=4, T=5, hidden_size=6, batch=4)
    assert set(g["gates"]["lstm"]) == {"da_i", "da_f", "da_g", "da_o"}
    assert set(g["gates"]["gru"]) == {"da_r", "da_z", "da_n"}
    assert all(v.shape == (4,) and np.all(np.isfinite(v)) for v in g["gates"]["lstm"].values())
    assert g["loss"]["lstm"].shape == (4,)
