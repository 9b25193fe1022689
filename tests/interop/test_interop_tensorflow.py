"""``bptt.interop`` against the real TensorFlow and Keras (skipped, with the reason, when TensorFlow is not
installed; no PyTorch needed): TF1's ``LSTMCell(use_peepholes=True, num_proj=P)`` both ways, outputs and
gradients; Keras gradients; a Keras ``Bidirectional`` from its flat ``get_weights()``; ``hard_sigmoid`` layers
refused; and the padded-steps difference (Keras masking repeats the previous output, bptt writes zeros).

Run with TensorFlow and tf-keras installed (``pip install tensorflow tf-keras``); TF1's cells live in tf-keras,
selected with ``TF_USE_LEGACY_KERAS=1`` (set here before TensorFlow is imported). Float64 throughout.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.compat.v1.nn.rnn_cell.LSTMCell is tf-keras' legacy cell
tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed: these tests check bptt.interop against "
                                              "the real TensorFlow/Keras (pip install tensorflow tf-keras)")
keras = pytest.importorskip("keras", reason="Keras is not installed (it comes with TensorFlow)")

from bptt import interop as I  # noqa: E402
from bptt import nn  # noqa: E402
from cases.tf_keras import rand_state  # noqa: E402
from helpers import assert_close  # noqa: E402

T, B, D, H, P = 5, 3, 4, 6, 3
RTOL = 1e-12


def _data(seed: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, D)), rng.standard_normal((T, B, out))


def _bptt(m: nn.Module, x: np.ndarray, U: np.ndarray, **kw) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    m.zero_grad()
    y, _ = m(x, **kw)
    m.backward(U)
    return y, {n: p.grad.copy() for n, p in m.named_parameters()}


# ----------------------------------------------------------------------------- TF1 LSTMCell with extras
def _tf1_cell(forget_bias: float, proj: bool):
    pytest.importorskip("tf_keras", reason="tf-keras is not installed: TF1's LSTMCell needs it (pip install tf-keras)")
    cell = tf.compat.v1.nn.rnn_cell.LSTMCell(H, use_peepholes=True, num_proj=P if proj else None,
                                             forget_bias=forget_bias, dtype=tf.float64)
    cell.build(tf.TensorShape([None, D]))
    return cell


def _run_tf1(cell, x: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    with tf.GradientTape() as tape:
        state = cell.get_initial_state(batch_size=B, dtype=tf.float64)
        ys = []
        for t in range(T):
            y, state = cell(tf.constant(x[t]), state)
            ys.append(y)
        y = tf.stack(ys)
        loss = tf.reduce_sum(y * U)
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, cell.weights)]


@pytest.mark.parametrize("proj", [True, False])
def test_tf1_lstm_cell_with_peepholes_and_projection(proj):
    """bptt -> TF cell and TF cell -> bptt, outputs and (kind='grad') gradients, with TF's kept forget bias."""
    cell = _tf1_cell(1.0, proj)
    names = [w.name.split("/", 1)[1].split(":")[0] for w in cell.weights]
    assert names == ["kernel", "bias", "w_f_diag", "w_i_diag", "w_o_diag"] + (["projection/kernel"] if proj else [])
    m = nn.LSTM(D, H, proj_size=P if proj else 0, peepholes=True, dtype=np.float64, rng=0)
    m.load_state_dict(rand_state(m, 61))
    x, U = _data(62, P if proj else H)
    y, g = _bptt(m, x, U)
    cell.set_weights(list(I.torch_lstm_to_tf(m.state_dict(), tf_forget_bias=1.0).values()))
    y_tf, g_tf = _run_tf1(cell, x, U)
    assert_close(y, y_tf, RTOL, name="y")
    for (key, ours), theirs in zip(I.torch_lstm_to_tf(g, kind="grad").items(), g_tf):
        assert_close(ours, theirs, RTOL, name=f"d{key}")
    # TF's own random weights (and a non-zero bias) into bptt
    rng = np.random.default_rng(63)
    cell.set_weights([w + 0.3 * rng.standard_normal(w.shape) for w in cell.get_weights()])
    y_tf, g_tf = _run_tf1(cell, x, U)
    weights = dict(zip(I.TF_CELL_WEIGHTS[:5] + (("projection",) if proj else ()), cell.get_weights()))
    m.load_state_dict(I.tf_lstm_to_torch(**weights, tf_forget_bias=1.0))
    y, g = _bptt(m, x, U)
    assert_close(y, y_tf, RTOL, name="y (TF weights)")
    grads = dict(zip(weights, g_tf))
    for key, ours in I.tf_lstm_to_torch(**grads, kind="grad").items():
        assert_close(g[key], ours, RTOL, name=f"d{key} (TF weights)")


# -------------------------------------------------------------------------------------------------- Keras
def _keras_run(layer, x_bf: np.ndarray, U_bf: np.ndarray, **call) -> tuple[np.ndarray, list[np.ndarray]]:
    with tf.GradientTape() as tape:
        y = layer(tf.constant(x_bf), **call)
        loss = tf.reduce_sum(y * U_bf)
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_keras_bidirectional_from_its_flat_get_weights(cell):
    """A stack of two Keras Bidirectional layers, converted from their flat get_weights() lists (with their
    configs checked), equals bptt's bidirectional stack; gradients convert with kind='grad'."""
    cls = getattr(keras.layers, cell)
    layers = [keras.layers.Bidirectional(cls(H, return_sequences=True, dtype="float64"), dtype="float64")
              for _ in range(2)]
    model = keras.Sequential([keras.Input((T, D), dtype="float64"), *layers])
    rng = np.random.default_rng(64)
    for layer in layers:
        layer.set_weights([w + 0.3 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    x, U = _data(65, 2 * H)
    x_bf, U_bf = x.transpose(1, 0, 2), U.transpose(1, 0, 2)
    y_k, g_k = _keras_run(model, x_bf, U_bf)
    layout = "keras_lstm" if cell == "LSTM" else "keras_gru"
    flat = [layer.get_weights() for layer in layers]
    assert len(flat[0]) == 6
    sd = I.layers_to_torch(flat, layout, bidirectional=True, config=layers[0].get_config())
    m = getattr(nn, cell)(D, H, 2, bidirectional=True, batch_first=True, dtype=np.float64)
    m.load_state_dict(sd)
    y, g = _bptt(m, x_bf, U_bf)
    assert_close(y, y_k, RTOL, name="y")
    per_layer = [g_k[:6], g_k[6:]]
    g_sd = I.layers_to_torch(per_layer, layout, bidirectional=True, kind="grad")
    for key, v in g.items():
        assert_close(v, g_sd[key], 1e-11, name=f"d{key}")


def test_keras_hard_sigmoid_layers_are_refused():
    """Converted silently, a hard_sigmoid layer is ~1e-1 off; with its config the converter refuses it."""
    layer = keras.layers.LSTM(H, recurrent_activation="hard_sigmoid", return_sequences=True, dtype="float64")
    x, _ = _data(66, H)
    y_k = layer(tf.constant(x.transpose(1, 0, 2))).numpy()
    m = nn.LSTM(D, H, batch_first=True, dtype=np.float64)
    m.load_state_dict(I.keras_lstm_to_torch(*layer.get_weights()))  # no config: Keras defaults assumed
    err = np.abs(m(x.transpose(1, 0, 2))[0] - y_k).max()
    assert err > 1e-2, err
    with pytest.raises(ValueError, match=r"config has recurrent_activation='hard_sigmoid', but bptt and PyTorch "
                                         r"LSTMs use recurrent_activation='sigmoid'"):
        I.keras_lstm_to_torch(*layer.get_weights(), config=layer.get_config())
    relu = keras.layers.GRU(H, activation="relu", dtype="float64")
    relu.build((None, T, D))
    with pytest.raises(ValueError, match=r"config has activation='relu'"):
        I.keras_gru_to_torch(*relu.get_weights(), config=relu.get_config())


def test_keras_lstm_gradients():
    layer = keras.layers.LSTM(H, return_sequences=True, dtype="float64")
    layer.build((None, T, D))
    rng = np.random.default_rng(67)
    layer.set_weights([w + 0.3 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    x, U = _data(68, H)
    y_k, g_k = _keras_run(layer, x.transpose(1, 0, 2), U.transpose(1, 0, 2))
    m = nn.LSTM(D, H, dtype=np.float64)
    m.load_state_dict(I.keras_lstm_to_torch(*layer.get_weights(), config=layer.get_config()))
    y, g = _bptt(m, x, U)
    assert_close(y, y_k.transpose(1, 0, 2), RTOL, name="y")
    for key, v in I.keras_lstm_to_torch(*g_k, kind="grad").items():
        assert_close(g[key], v, RTOL, name=f"d{key}")
    for key, v in zip(["kernel", "recurrent_kernel", "bias"], g_k):
        assert_close(I.torch_lstm_to_keras(g, kind="grad")[key], v, RTOL, name=f"d{key} (to Keras)")


def test_padded_steps_keras_masking_repeats_bptt_writes_zeros():
    """The documented difference: on padded steps a plain Keras LSTM with masking outputs the previous step's
    output again; bptt (like PyTorch's packed sequences) outputs zeros. The valid steps agree."""
    lstm = keras.layers.LSTM(H, return_sequences=True, dtype="float64")
    model = keras.Sequential([keras.Input((T, D), dtype="float64"), keras.layers.Masking(0.0, dtype="float64"), lstm])
    x, _ = _data(69, H)
    x_bf = x.transpose(1, 0, 2).copy()
    lengths = np.array([T, 2, 3])
    for b, n in enumerate(lengths):
        x_bf[b, n:] = 0.0
    y_k = model(tf.constant(x_bf)).numpy()
    m = nn.LSTM(D, H, batch_first=True, dtype=np.float64)
    m.load_state_dict(I.keras_lstm_to_torch(*lstm.get_weights(), config=lstm.get_config()))
    y, _ = m(x_bf, lengths=lengths)
    for b, n in enumerate(lengths):
        assert_close(y[b, :n], y_k[b, :n], RTOL, name=f"valid steps of sequence {b}")
        assert not y[b, n:].any()
        assert np.array_equal(y_k[b, n:], np.repeat(y_k[b, n - 1 : n], T - n, axis=0))


def test_the_documented_keras_bidirectional_example(tmp_path, capsys):
    """docs/interop.md's TensorFlow example, run as written."""
    from cases.docs import examples, run_example

    (code,) = examples("interop.md", "tensorflow")
    run_example(code, tmp_path)
    assert "config has recurrent_activation='hard_sigmoid'" in capsys.readouterr().out
