"""The interop gaps of issue 13, NumPy only: TF1 ``LSTMCell(num_proj=P, use_peepholes=True)`` both ways, gradient
converters (``kind="grad"``) checked by finite differences of the TF / Keras equations, Keras configs with other
activations refused, and Keras ``Bidirectional.get_weights()`` flat lists accepted.

The TF / Keras equations are the NumPy re-implementations of tests/cases/tf_keras.py (independent of the
library); the same paths against the real frameworks are in test_interop_tensorflow.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import interop as I
from bptt import nn
from cases.tf_keras import (
    B,
    D,
    H,
    T,
    close,
    gru,
    inputs,
    keras_gru,
    keras_lstm,
    lstm,
    numeric_grads,
    rand_state,
    tf_lstm_cell,
)

P = 2  # projection size


def peephole_lstm(seed: int, proj: bool = True, **kw) -> nn.LSTM:
    m = nn.LSTM(D, H, proj_size=P if proj else 0, peepholes=True, dtype=np.float64, rng=seed, **kw)
    m.load_state_dict(rand_state(m, seed))
    return m


# ------------------------------------------------------------------------ TF1 LSTMCell: projection, peepholes
@pytest.mark.parametrize("proj", [True, False])
@pytest.mark.parametrize("tf_forget_bias", [1.0, 0.0])
def test_torch_to_tf_cell_with_peepholes_and_projection(proj, tf_forget_bias):
    m = peephole_lstm(31, proj)
    x, h0, c0 = inputs(32, H=H)
    h0 = h0[:, :, :P] if proj else h0
    y, (h_n, c_n) = m(x, (h0, c0))
    w = I.torch_lstm_to_tf(m.state_dict(), tf_forget_bias=tf_forget_bias)
    assert list(w) == ["kernel", "bias", "w_f_diag", "w_i_diag", "w_o_diag"] + (["projection"] if proj else [])
    assert w["kernel"].shape == (D + (P if proj else H), 4 * H)
    y_tf, h_tf, c_tf = tf_lstm_cell(x, w["kernel"], w["bias"], tf_forget_bias, h0[0], c0[0], w["w_i_diag"],
                                    w["w_f_diag"], w["w_o_diag"], w.get("projection"))
    close(y, y_tf)
    close(h_n[0], h_tf)
    close(c_n[0], c_tf)


def test_tf_cell_with_peepholes_and_projection_to_bptt():
    rng = np.random.default_rng(33)
    w = {"kernel": 0.5 * rng.standard_normal((D + P, 4 * H)), "bias": 0.5 * rng.standard_normal(4 * H),
         "w_f_diag": rng.standard_normal(H), "w_i_diag": rng.standard_normal(H), "w_o_diag": rng.standard_normal(H),
         "projection": 0.5 * rng.standard_normal((H, P))}
    x, h0, c0 = inputs(34)
    y_tf, h_tf, c_tf = tf_lstm_cell(x, w["kernel"], w["bias"], 1.0, h0[0, :, :P], c0[0], w["w_i_diag"],
                                    w["w_f_diag"], w["w_o_diag"], w["projection"])
    m = nn.LSTM(D, H, proj_size=P, peepholes=True, forget_bias=1.0, dtype=np.float64)
    sd = I.tf_lstm_to_torch(**w, tf_forget_bias=1.0, torch_forget_bias=1.0)
    assert list(sd) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0", "weight_peep_l0"]
    m.load_state_dict(sd)
    y, (h_n, c_n) = m(x, (h0[:, :, :P], c0))
    close(y, y_tf)
    close(h_n[0], h_tf)
    close(c_n[0], c_tf)
    # a cell.get_weights() list in a stack, and back: exact
    stack = I.layers_to_torch([list(w.values())], "tf_lstm", tf_forget_bias=1.0, torch_forget_bias=1.0)
    for key, v in sd.items():
        assert np.array_equal(stack[key], v), key
    again = I.torch_to_layers(stack, "tf_lstm", tf_forget_bias=1.0, torch_forget_bias=1.0)[0]
    for key in ("kernel", "w_f_diag", "w_i_diag", "w_o_diag", "projection"):
        assert np.array_equal(again[key], w[key]), key


def test_tf_cell_extras_errors():
    K, b = np.zeros((D + P, 4 * H)), np.zeros(4 * H)
    with pytest.raises(ValueError, match=r"peepholes need all of w_i_diag, w_f_diag and w_o_diag, got \['w_o_diag'\]"):
        I.tf_lstm_to_torch(K, b, w_i_diag=np.zeros(H), w_f_diag=np.zeros(H), tf_forget_bias=1.0)
    with pytest.raises(ValueError, match=r"w_f_diag must have shape \(4,\) \(H=4 from kernel's columns\)"):
        I.tf_lstm_to_torch(K, b, w_i_diag=np.zeros(H), w_f_diag=np.zeros(3), w_o_diag=np.zeros(H),
                           tf_forget_bias=1.0)
    with pytest.raises(ValueError, match=r"projection must have shape \(H, num_proj\) = \(4, num_proj\) with "
                                         r"0 < num_proj < H"):
        I.tf_lstm_to_torch(np.zeros((D + 4, 4 * H)), b, projection=np.zeros((H, 4)), tf_forget_bias=1.0)
    with pytest.raises(ValueError, match=r"'weight_peep_l0': LSTMs with peepholes have no equivalent here: Keras' "
                                         r"LSTM has no peepholes \(TF1's LSTMCell\(use_peepholes=True\)"):
        I.torch_lstm_to_keras(peephole_lstm(1, proj=False).state_dict())
    with pytest.raises(ValueError, match=r"'weight_hr_l0': .*\(TF1's LSTMCell\(num_proj=\.\.\.\) has one: use "
                                         r"torch_lstm_to_tf"):
        I.torch_lstm_to_keras(lstm(1, proj_size=2).state_dict())


# ------------------------------------------------------------------------------------- gradient converters
def _loss_weights(rng: np.random.Generator, x: np.ndarray, Hout: int) -> np.ndarray:
    return rng.standard_normal((x.shape[0], x.shape[1], Hout))


def _bptt_grads(m: nn.Module, x, hx, U) -> dict[str, np.ndarray]:
    m.zero_grad()
    y, _ = m(x, hx)
    m.backward(U)
    return {n: p.grad.copy() for n, p in m.named_parameters()}


def test_lstm_gradients_to_keras_and_back():
    """bptt's gradients converted with kind='grad' are the finite-difference gradients of the Keras LSTM with
    the converted weights; kind='weights' would double the bias gradient (the trap)."""
    m = lstm(41)
    x, h0, c0 = inputs(42)
    U = _loss_weights(np.random.default_rng(43), x, H)
    g = _bptt_grads(m, x, (h0, c0), U)
    w = I.torch_lstm_to_keras(m.state_dict())
    fd = numeric_grads(lambda kernel, recurrent_kernel, bias: float(
        (keras_lstm(x, kernel, recurrent_kernel, bias, h0[0], c0[0])[0] * U).sum()), dict(w))
    kg = I.torch_lstm_to_keras(g, kind="grad")
    for key in ("kernel", "recurrent_kernel", "bias"):
        close(kg[key], fd[key], 1e-7)
    wrong = I.torch_lstm_to_keras(g)  # the weight converter sums bias_ih and bias_hh: twice the gradient
    close(wrong["bias"], 2 * fd["bias"], 1e-7)
    back = I.keras_lstm_to_torch(*fd.values(), kind="grad")
    for key, v in g.items():
        close(back[key], v, 1e-7)
    with pytest.raises(ValueError, match=r"torch_lstm_to_keras: kind='grad' needs the gradients of one layer, "
                                         r"whose 'bias_ih_l0' and 'bias_hh_l0' are equal .* are these weights\?"):
        I.torch_lstm_to_keras(m.state_dict(), kind="grad")


@pytest.mark.parametrize("proj", [False, True])
def test_lstm_gradients_to_tf_cell_and_back(proj):
    """With a kept forget bias of 1, peepholes and a projection: the shift does not enter the gradients."""
    m = peephole_lstm(44, proj, forget_bias=0.5)
    x, h0, c0 = inputs(45)
    h0 = h0[:, :, :P] if proj else h0
    U = _loss_weights(np.random.default_rng(46), x, P if proj else H)
    g = _bptt_grads(m, x, (h0, c0), U)
    w = I.torch_lstm_to_tf(m.state_dict(), tf_forget_bias=1.0, torch_forget_bias=0.5)
    fd = numeric_grads(lambda **a: float((tf_lstm_cell(
        x, a["kernel"], a["bias"], 1.0, h0[0], c0[0], a["w_i_diag"], a["w_f_diag"], a["w_o_diag"],
        a.get("projection"))[0] * U).sum()), dict(w))
    tg = I.torch_lstm_to_tf(g, kind="grad")
    assert list(tg) == list(w)
    for key in w:
        close(tg[key], fd[key], 1e-7)
    back = I.tf_lstm_to_torch(**fd, kind="grad")
    for key, v in g.items():
        close(back[key], v, 1e-7)
    assert np.array_equal(back["bias_ih_l0"], back["bias_hh_l0"])


def test_gru_and_stack_gradients():
    """GRU: both kinds are the same rearrangement; whole stacks convert with kind='grad' too."""
    m = gru(47)
    x, h0, _ = inputs(48)
    U = _loss_weights(np.random.default_rng(49), x, H)
    g = _bptt_grads(m, x, h0, U)
    w = I.torch_gru_to_keras(m.state_dict())
    fd = numeric_grads(lambda kernel, recurrent_kernel, bias: float(
        (keras_gru(x, kernel, recurrent_kernel, bias, h0[0])[0] * U).sum()), dict(w))
    for key, v in I.torch_gru_to_keras(g, kind="grad").items():
        close(v, fd[key], 1e-7)
    stack = lstm(50, num_layers=2, bidirectional=True)
    x, h0, c0 = inputs(51, n=4)
    g = _bptt_grads(stack, x, (h0, c0), _loss_weights(np.random.default_rng(52), x, 2 * H))
    layers = I.torch_to_layers(g, "keras_lstm", kind="grad")
    assert [set(d) for d in layers] == [{"kernel", "recurrent_kernel", "bias"}] * 4
    back = I.layers_to_torch(layers, "keras_lstm", bidirectional=True, kind="grad")
    for key, v in g.items():
        assert np.array_equal(back[key], v), key
    tf_layers = I.torch_to_layers(g, "tf_lstm", kind="grad")  # no forget bias needed for gradients
    back = I.layers_to_torch(tf_layers, "tf_lstm", bidirectional=True, kind="grad")
    for key, v in g.items():
        close(back[key], v, 1e-15)


def test_kind_is_checked():
    with pytest.raises(ValueError, match=r"torch_lstm_to_keras: kind must be one of 'weights', 'grad', got "
                                         r"'gradient'"):
        I.torch_lstm_to_keras(lstm().state_dict(), kind="gradient")
    with pytest.raises(TypeError, match="tf_forget_bias is required"):  # still required for weights
        I.torch_lstm_to_tf(lstm().state_dict())


# ----------------------------------------------------------------------------------------------- Keras config
def keras_config(**over) -> dict:
    conf = {"name": "lstm", "units": H, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
            "return_sequences": True}
    conf.update(over)
    return conf


@pytest.mark.parametrize("key,value", [("recurrent_activation", "hard_sigmoid"), ("activation", "relu"),
                                       ("recurrent_activation", {"module": "keras.activations",
                                                                 "class_name": "function", "config": "hard_sigmoid"})])
def test_keras_layers_with_other_activations_are_refused(key, value):
    """The silent 6e-2 error of a hard_sigmoid layer: the NumPy Keras equations with hard_sigmoid differ."""
    rng = np.random.default_rng(53)
    kw = [0.5 * rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)]]
    name = value if isinstance(value, str) else value["config"]
    with pytest.raises(ValueError, match=rf"keras_lstm_to_torch: config has {key}={name!r}, but bptt and PyTorch "
                                         r"LSTMs use .* compute another function"):
        I.keras_lstm_to_torch(*kw, config=keras_config(**{key: value}))
    with pytest.raises(ValueError, match=rf"layers_to_torch: .*config has {key}={name!r}"):
        I.layers_to_torch([kw], "keras_lstm", config=keras_config(**{key: value}))
    with pytest.raises(ValueError, match=rf"torch_lstm_to_keras: config has {key}={name!r}"):
        I.torch_lstm_to_keras(lstm().state_dict(), config=keras_config(**{key: value}))
    I.keras_lstm_to_torch(*kw, config=keras_config())  # the defaults convert


def test_keras_config_other_checks():
    rng = np.random.default_rng(54)
    kw = [0.5 * rng.standard_normal(s) for s in [(D, 3 * H), (H, 3 * H), (2, 3 * H)]]
    with pytest.raises(ValueError, match=r"config has reset_after=False: only Keras GRU\(reset_after=True\)"):
        I.keras_gru_to_torch(*kw, config=keras_config(reset_after=False))
    with pytest.raises(ValueError, match=r"config has units=5, but the weights have H=4"):
        I.keras_gru_to_torch(*kw, config=keras_config(units=5))
    with pytest.raises(ValueError, match=r"config has use_bias=False, but the weights have bias"):
        I.keras_gru_to_torch(*kw, config=keras_config(use_bias=False))
    assert "bias_hh_l0" not in I.keras_gru_to_torch(*kw[:2], config=keras_config(use_bias=False))
    with pytest.raises(TypeError, match="config must be the Keras layer's get_config\\(\\) dict, got list"):
        I.keras_gru_to_torch(*kw, config=[1])
    bi = {"name": "bidirectional", "merge_mode": "concat", "layer": {"class_name": "GRU", "config": keras_config()},
          "backward_layer": {"class_name": "GRU", "config": keras_config(activation="sigmoid")}}
    with pytest.raises(ValueError, match=r"config has activation='sigmoid'"):
        I.keras_gru_to_torch(*kw, config=bi)
    with pytest.raises(ValueError, match=r"config wraps a Keras GRU layer, expected a LSTM"):
        I.torch_to_layers(lstm().state_dict(), "keras_lstm", config=bi)
    with pytest.raises(ValueError, match=r"config .* applies only to the Keras layouts"):
        I.torch_to_layers(lstm().state_dict(), "tf_lstm", tf_forget_bias=1.0, config=keras_config())


# ------------------------------------------------------------------------------------ Bidirectional flat lists
@pytest.mark.parametrize("bias", [True, False])
def test_bidirectional_get_weights_flat_list(bias):
    """A Keras Bidirectional layer's get_weights() is one flat list (forward arrays, then backward arrays)."""
    sd = lstm(55, num_layers=2, bidirectional=True, bias=bias).state_dict()
    per_direction = I.torch_to_layers(sd, "keras_lstm")
    names = ["kernel", "recurrent_kernel"] + (["bias"] if bias else [])
    flat = [[d[n] for n in names] + [e[n] for n in names] for d, e in zip(per_direction[::2], per_direction[1::2])]
    assert len(flat[0]) == (6 if bias else 4)
    one = I.layers_to_torch(flat[0], "keras_lstm", bidirectional=True)  # one Bidirectional layer's list
    two = I.layers_to_torch(flat, "keras_lstm", bidirectional=True)  # a list of two of them
    for key, v in sd.items():
        if key.startswith("bias"):  # Keras has one bias: b_ih + b_hh, all in bias_ih
            v = sd[key.replace("_hh", "_ih")] + sd[key.replace("_ih", "_hh")] if "_ih" in key else 0 * v
        assert np.array_equal(two[key], v), key
        if key.endswith(("l0", "l0_reverse")):
            assert np.array_equal(one[key], v), key
    x, h0, c0 = inputs(56, n=4)
    m = nn.LSTM(D, H, 2, bidirectional=True, bias=bias, dtype=np.float64)
    m.load_state_dict(two)
    ref = nn.LSTM(D, H, 2, bidirectional=True, bias=bias, dtype=np.float64)
    ref.load_state_dict(sd)
    close(m(x, (h0, c0))[0], ref(x, (h0, c0))[0], 0.0)
    with pytest.raises(ValueError, match=r"layers\[0\] holds 6 arrays, a Keras Bidirectional layer's get_weights\(\) "
                                         r".*pass bidirectional=True") if bias else pytest.raises(ValueError):
        I.layers_to_torch(flat[0], "keras_lstm")


def test_one_keras_layer_flat_list_and_the_split_hint():
    rng = np.random.default_rng(57)
    kw = [0.5 * rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)]]
    assert np.array_equal(I.layers_to_torch(kw, "keras_lstm")["weight_ih_l0"], kw[0].T)
    with pytest.raises(TypeError, match=r"get_weights\(\) is one flat list of both directions' arrays: pass it as "
                                        r"it is with bidirectional=True"):
        I.layers_to_torch([[kw], [kw]], "keras_lstm", bidirectional=True)


def test_masked_steps_differ_from_keras_by_design():
    """bptt (like PyTorch's packed sequences) writes zeros at padded steps; a plain Keras LSTM with masking
    repeats the previous output there (the Keras behaviour is checked against Keras itself in
    test_interop_tensorflow.py). The valid steps agree."""
    m = lstm(58)
    x, h0, c0 = inputs(59)
    lengths = np.array([T, 2])
    y, _ = m(x, (h0, c0), lengths=lengths)
    assert not y[2:, 1].any()
    k = I.torch_lstm_to_keras(m.state_dict())
    y_k, _, _ = keras_lstm(x[:2, 1:], k["kernel"], k["recurrent_kernel"], k["bias"], h0[0, 1:], c0[0, 1:])
    close(y[:2, 1:], y_k)
    assert B == 2
