"""The gradient-flow runs (bptt.examples.gradient_flow): what the pictures of ``bptt explain --flow`` show."""

from __future__ import annotations

import numpy as np

from bptt.examples import gradient_flow as GF


def test_gradient_flow_data():
    res = GF.gradient_flow(T=30, hidden_size=16)
    assert set(res["dh"]) == set(GF.KINDS) >= {"rnn", "gru", "lstm", "mingru", "minlstm", "slstm"}
    for kind in GF.KINDS:
        v = res["dh"][kind]
        assert v.shape == (30,) and np.all(np.isfinite(v)) and v[-1] > 0
    assert set(res["dc"]) == {"lstm", "slstm"}
    decay = {k: res["dh"][k][0] / res["dh"][k][-1] for k in res["dh"]}
    assert decay["rnn"] < decay["lstm"], "the RNN's gradient must vanish faster than the LSTM's"
    # minGRU: the carried gradient is dh_{t-1} = (1 - z_t) dh_t exactly (no recurrent weights): the traced norms
    # are those of the reverse scan run by hand on the same cell
    m = GF.BUILDERS["mingru"](8, 16, 0)
    rng = np.random.default_rng(0)  # the draws of gradient_flow(seed=0): x, then g
    x = rng.standard_normal((30, 8, 8))
    g = rng.standard_normal((8, 16))
    z = 1 / (1 + np.exp(-(x @ m.weight_ih_l0.data[:16].T + m.bias_ih_l0.data[:16])))
    dh = [g]
    for t in range(29, 0, -1):
        dh.append(dh[-1] * (1 - z[t]))
    np.testing.assert_allclose(res["dh"]["mingru"], np.linalg.norm(np.array(dh[::-1]), axis=(1, 2)), rtol=1e-12)
    g = GF.gate_norms_over_training(steps=4, T=5, hidden_size=6, batch=4)
    assert set(g["gates"]["lstm"]) == {"da_i", "da_f", "da_g", "da_o"}
    assert set(g["gates"]["gru"]) == {"da_r", "da_z", "da_n"}
    assert all(v.shape == (4,) and np.all(np.isfinite(v)) for v in g["gates"]["lstm"].values())
    assert g["loss"]["lstm"].shape == (4,)
