"""``bptt.interop``: weight converters between PyTorch-layout state dicts and TensorFlow / Keras layouts.

The TF / Keras equations are re-implemented here in plain NumPy (independently of the library), run with
the converted weights, and compared with ``bptt.nn`` / ``torch.nn`` modules holding the original weights
(float64, max abs difference <= 1e-12). Round trips must be exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt import interop as I
from bptt import nn
from cases.tf_keras import D, H, close, gru, inputs, keras_gru, keras_lstm, lstm, rand_state, tf_basic_lstm


def run_stack(layers, layout, x, h0, c0, bidirectional, tf_forget_bias=None):
    """A stack of per-layer-direction weights (PyTorch's order), reverse directions on the flipped input."""
    nd = 2 if bidirectional else 1
    inp, hs, cs = x, [], []
    for k in range(len(layers) // nd):
        outs = []
        for r in range(nd):
            j = k * nd + r
            w = layers[j]
            xin = inp[::-1] if r else inp
            if layout == "tf_lstm":
                y, h, c = tf_basic_lstm(xin, w["kernel"], w["bias"], tf_forget_bias, h0[j], c0[j])
            elif layout == "keras_lstm":
                y, h, c = keras_lstm(xin, w["kernel"], w["recurrent_kernel"], w.get("bias"), h0[j], c0[j])
            else:
                (y, h), c = keras_gru(xin, w["kernel"], w["recurrent_kernel"], w.get("bias"), h0[j]), None
            outs.append(y[::-1] if r else y)
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, axis=2)
    return inp, np.stack(hs), (None if cs[0] is None else np.stack(cs))


# ----------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("tf_fb, torch_fb", [(0.0, 0.0), (1.0, 1.0), (0.5, 0.5)])
def test_torch_tf_torch_roundtrip_exact(tf_fb, torch_fb):
    sd = lstm(3).state_dict()
    tf = I.torch_lstm_to_tf(sd, tf_forget_bias=tf_fb, torch_forget_bias=torch_fb)
    assert tf["kernel"].shape == (D + H, 4 * H) and tf["bias"].shape == (4 * H,)
    back = I.tf_lstm_to_torch(tf["kernel"], tf["bias"], tf_forget_bias=tf_fb, torch_forget_bias=torch_fb)
    assert list(back) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert np.array_equal(back["weight_ih_l0"], sd["weight_ih_l0"])
    assert np.array_equal(back["weight_hh_l0"], sd["weight_hh_l0"])
    assert np.array_equal(back["bias_ih_l0"] + back["bias_hh_l0"], sd["bias_ih_l0"] + sd["bias_hh_l0"])
    assert not back["bias_hh_l0"].any()
    again = I.torch_lstm_to_tf(back, tf_forget_bias=tf_fb, torch_forget_bias=torch_fb)
    for key in tf:
        assert np.array_equal(again[key], tf[key])


def test_torch_tf_roundtrip_with_forget_shift():
    """A non-zero shift (kept TF forget_bias=1 for torch.nn.LSTM) round-trips up to one rounding of +-1."""
    sd = lstm(4).state_dict()
    tf = I.torch_lstm_to_tf(sd, tf_forget_bias=1.0)
    s = sd["bias_ih_l0"] + sd["bias_hh_l0"]
    # the arithmetic, block by block: TF columns i, j, f, o = torch blocks i, g, f - 1, o
    blk = np.split(s, 4)
    assert np.array_equal(tf["bias"], np.concatenate([blk[0], blk[2], blk[1] - 1.0, blk[3]]))
    back = I.tf_lstm_to_torch(tf["kernel"], tf["bias"], tf_forget_bias=1.0)
    got = back["bias_ih_l0"] + back["bias_hh_l0"]
    close(got, s, 1e-15)
    assert np.array_equal(np.delete(got, np.s_[H : 2 * H]), np.delete(s, np.s_[H : 2 * H]))


def test_tf_torch_tf_roundtrip_exact():
    rng = np.random.default_rng(5)
    kernel, bias = rng.standard_normal((D + H, 4 * H)), rng.standard_normal(4 * H)
    sd = I.tf_lstm_to_torch(kernel, bias, tf_forget_bias=1.0, torch_forget_bias=1.0)
    tf = I.torch_lstm_to_tf(sd, tf_forget_bias=1.0, torch_forget_bias=1.0)
    assert np.array_equal(tf["kernel"], kernel) and np.array_equal(tf["bias"], bias)


def test_torch_keras_lstm_roundtrips_exact():
    sd = lstm(6).state_dict()
    k = I.torch_lstm_to_keras(sd)
    assert list(k) == ["kernel", "recurrent_kernel", "bias"]
    assert k["kernel"].shape == (D, 4 * H) and k["recurrent_kernel"].shape == (H, 4 * H)
    back = I.keras_lstm_to_torch(*k.values())
    assert np.array_equal(back["weight_ih_l0"], sd["weight_ih_l0"])
    assert np.array_equal(back["weight_hh_l0"], sd["weight_hh_l0"])
    assert np.array_equal(back["bias_ih_l0"] + back["bias_hh_l0"], sd["bias_ih_l0"] + sd["bias_hh_l0"])
    again = I.torch_lstm_to_keras(back)
    for key in k:
        assert np.array_equal(again[key], k[key])


@pytest.mark.parametrize("bias", [True, False])
def test_keras_gru_roundtrips_exact(bias):
    sd = gru(7, bias=bias).state_dict()
    k = I.torch_gru_to_keras(sd)
    assert k["kernel"].shape == (D, 3 * H) and k["recurrent_kernel"].shape == (H, 3 * H)
    assert ("bias" in k) == bias and (not bias or k["bias"].shape == (2, 3 * H))
    back = I.keras_gru_to_torch(*k.values(), reset_after=True)
    assert list(back) == list(sd)
    for key in sd:  # both GRU biases survive separately (b_hn cannot be folded)
        assert np.array_equal(back[key], sd[key]), key
    again = I.torch_gru_to_keras(back)
    for key in k:
        assert np.array_equal(again[key], k[key])


def test_gru_gate_order_is_z_r_h():
    sd = gru(8).state_dict()
    k = I.torch_gru_to_keras(sd)
    r, z, n = np.split(sd["weight_ih_l0"], 3)
    assert np.array_equal(k["kernel"], np.concatenate([z, r, n]).T)
    br, bz, bn = np.split(sd["bias_hh_l0"], 3)
    assert np.array_equal(k["bias"][1], np.concatenate([bz, br, bn]))


# ----------------------------------------------------------------------------------------- equal outputs
@pytest.mark.parametrize("tf_fb, torch_fb", [(1.0, 0.0), (0.0, 0.0), (1.0, 0.7), (0.25, 1.0)])
def test_torch_to_tf_matches_basic_lstm_cell(tf_fb, torch_fb):
    m = lstm(10, forget_bias=torch_fb)
    x, h0, c0 = inputs(11)
    y, (h_n, c_n) = m(x, (h0, c0))
    tf = I.torch_lstm_to_tf(m.state_dict(), tf_forget_bias=tf_fb, torch_forget_bias=torch_fb)
    y_tf, h_tf, c_tf = tf_basic_lstm(x, tf["kernel"], tf["bias"], tf_fb, h0[0], c0[0])
    close(y, y_tf)
    close(h_n[0], h_tf)
    close(c_n[0], c_tf)


def test_forget_bias_mismatch_changes_the_output():
    """Why the argument is required: telling the converter the wrong TF forget_bias gives another model."""
    m = lstm(12)
    x, h0, c0 = inputs(13)
    y, _ = m(x, (h0, c0))
    tf = I.torch_lstm_to_tf(m.state_dict(), tf_forget_bias=0.0)  # folded ...
    y_tf, _, _ = tf_basic_lstm(x, tf["kernel"], tf["bias"], 1.0, h0[0], c0[0])  # ... run with TF's default
    assert np.max(np.abs(y - y_tf)) > 1e-3


def test_keras_lstm_folds_bptt_forget_bias():
    m = lstm(19, forget_bias=0.8)
    x, h0, c0 = inputs(20)
    y, _ = m(x, (h0, c0))
    k = I.torch_lstm_to_keras(m.state_dict(), torch_forget_bias=0.8)
    close(y, keras_lstm(x, k["kernel"], k["recurrent_kernel"], k["bias"], h0[0], c0[0])[0])
    back = I.keras_lstm_to_torch(*k.values(), torch_forget_bias=0.8)
    m2 = nn.LSTM(D, H, forget_bias=0.8, dtype=np.float64)
    m2.load_state_dict(back)
    close(m2(x, (h0, c0))[0], y)


@pytest.mark.parametrize("layout", I.LAYOUTS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_whole_stack_matches(layout, bidirectional):
    L, nd = 2, 1 + bidirectional
    m = (gru if layout == "keras_gru" else lstm)(24, num_layers=L, bidirectional=bidirectional)
    x, h0, c0 = inputs(25, n=L * nd)
    if layout == "keras_gru":
        y, h_n = m(x, h0)
        c_n = None
    else:
        y, (h_n, c_n) = m(x, (h0, c0))
    opts = {"tf_forget_bias": 1.0} if layout == "tf_lstm" else {}
    layers = I.torch_to_layers(m.state_dict(), layout, **opts)
    assert len(layers) == L * nd
    y_ref, h_ref, c_ref = run_stack(layers, layout, x, h0, c0, bidirectional, opts.get("tf_forget_bias"))
    close(y, y_ref)
    close(h_n, h_ref)
    if c_n is not None:
        close(c_n, c_ref)
    # and back: the same state dict, keys in PyTorch's order
    back = I.layers_to_torch(layers, layout, bidirectional=bidirectional, **opts)
    sd = m.state_dict()
    assert list(back) == list(sd)
    cls = nn.GRU if layout == "keras_gru" else nn.LSTM
    m2 = cls(D, H, L, bidirectional=bidirectional, dtype=np.float64)
    m2.load_state_dict(back)
    if layout == "keras_gru":
        close(m2(x, h0)[0], y, 0.0)
    else:
        close(m2(x, (h0, c0))[0], y, 1e-14)


def test_outputs_never_alias_inputs():
    rng = np.random.default_rng(60)
    kernel = np.asfortranarray(rng.standard_normal((D, 4 * H)))  # .T of it is C-contiguous
    rk, bias = np.asfortranarray(rng.standard_normal((H, 4 * H))), rng.standard_normal(4 * H)
    saved = [a.copy() for a in (kernel, rk, bias)]
    for v in I.keras_lstm_to_torch(kernel, rk, bias).values():
        v += 1.0
    sd = {k: np.asfortranarray(v) for k, v in lstm().state_dict().items()}
    ref = {k: v.copy() for k, v in sd.items()}
    for fn in (I.torch_lstm_to_keras, lambda s: I.torch_lstm_to_tf(s, tf_forget_bias=0.0)):
        for v in fn(sd).values():
            v += 1.0
    assert all(np.array_equal(a, b) for a, b in zip((kernel, rk, bias), saved, strict=True))
    assert all(np.array_equal(sd[k], ref[k]) for k in sd)


def test_cells_prefix_and_dtype():
    cell = nn.LSTMCell(D, H, dtype=np.float32, rng=0)
    tf = I.torch_lstm_to_tf(cell.state_dict(), tf_forget_bias=1.0, layer=None)
    assert tf["kernel"].dtype == np.float32 and tf["bias"].dtype == np.float32
    back = I.tf_lstm_to_torch(tf["kernel"], tf["bias"], tf_forget_bias=1.0, layer=None)
    assert set(back) == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
    cell64 = nn.LSTMCell(D, H, dtype=np.float64, rng=1)
    cell64.load_state_dict(rand_state(cell64, 1))
    x, h0, c0 = inputs(26)
    h1, c1 = cell64(x[0], (h0[0], c0[0]))
    tf = I.torch_lstm_to_tf(cell64.state_dict(), tf_forget_bias=1.0, layer=None)
    _, h_tf, c_tf = tf_basic_lstm(x[:1], tf["kernel"], tf["bias"], 1.0, h0[0], c0[0])
    close(h1, h_tf)
    close(c1, c_tf)
    # a model's state dict with a prefix; one reverse direction of layer 1
    m = lstm(27, num_layers=2, bidirectional=True)
    sd = {"encoder.rnn." + k: v for k, v in m.state_dict().items()}
    a = I.torch_lstm_to_keras(sd, layer=1, reverse=True, prefix="encoder.rnn.")
    b = I.torch_lstm_to_keras(m.state_dict(), layer=1, reverse=True)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["kernel"].shape == (2 * H, 4 * H)
    full = I.torch_to_layers(sd, "keras_lstm", prefix="encoder.rnn.")
    assert np.array_equal(full[3]["kernel"], a["kernel"])
    assert set(I.layers_to_torch(full, "keras_lstm", bidirectional=True, prefix="p.")) == {
        "p." + k for k in m.state_dict()
    }


# ----------------------------------------------------------------------------------------- LayerNormLSTM
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("ln_fb, torch_fb", [(1.0, 0.0), (1.0, 1.0), (0.3, 0.9)])
def test_ln_lstm_equals_lstm(bidirectional, ln_fb, torch_fb):
    L, nd = 2, 1 + bidirectional
    m = lstm(30, num_layers=L, bidirectional=bidirectional, forget_bias=torch_fb)
    x, h0, c0 = inputs(31, n=L * nd)
    y, (h_n, c_n) = m(x, (h0, c0))
    ln_sd = I.torch_lstm_to_ln_lstm(m.state_dict(), ln_forget_bias=ln_fb, torch_forget_bias=torch_fb)
    ln = nn.LayerNormLSTM(D, H, L, bidirectional=bidirectional, forget_bias=ln_fb, layer_norm=False,
                          dtype=np.float64)
    assert list(ln_sd) == list(ln.state_dict())
    ln.load_state_dict(ln_sd)
    y2, (h2, c2) = ln(x, (h0, c0))
    close(y2, y)
    close(h2, h_n)
    close(c2, c_n)
    # LayerNormLSTM -> LSTM: random LN weights, another forget bias on the LSTM side
    ln.load_state_dict(rand_state(ln, 32))
    y3, _ = ln(x, (h0, c0))
    sd = I.ln_lstm_to_torch_lstm(ln.state_dict(), ln_forget_bias=ln_fb, torch_forget_bias=0.5)
    m2 = nn.LSTM(D, H, L, bidirectional=bidirectional, forget_bias=0.5, dtype=np.float64)
    m2.load_state_dict(sd)
    close(m2(x, (h0, c0))[0], y3)
    # exact round trip when the forget biases agree
    same = I.ln_lstm_to_torch_lstm(
        I.torch_lstm_to_ln_lstm(m.state_dict(), ln_forget_bias=ln_fb, torch_forget_bias=ln_fb),
        ln_forget_bias=ln_fb, torch_forget_bias=ln_fb,
    )
    for key, v in m.state_dict().items():
        if key.startswith("weight"):
            assert np.array_equal(same[key], v)
    for key in (k for k in same if k.startswith("bias_ih")):
        hh = key.replace("bias_ih", "bias_hh")
        assert np.array_equal(same[key] + same[hh], m.state_dict()[key] + m.state_dict()[hh])


def test_ln_lstm_without_bias():
    m = nn.LSTM(D, H, bias=False, dtype=np.float64, rng=0)
    ln_sd = I.torch_lstm_to_ln_lstm(m.state_dict(), ln_forget_bias=0.0)
    assert set(ln_sd) == {"kernel_l0"}  # bias=False LayerNormLSTM
    ln_sd = I.torch_lstm_to_ln_lstm(m.state_dict(), ln_forget_bias=1.0)
    assert set(ln_sd) == {"kernel_l0", "bias_l0"}  # a forget shift needs a bias
    ln = nn.LayerNormLSTM(D, H, layer_norm=False, bias=False, forget_bias=1.0, dtype=np.float64, rng=0)
    assert set(I.ln_lstm_to_torch_lstm(ln.state_dict(), ln_forget_bias=1.0, torch_forget_bias=1.0)) == {
        "weight_ih_l0", "weight_hh_l0"
    }


# ----------------------------------------------------------------------------------------- errors
def test_reset_after_false_is_refused():
    rng = np.random.default_rng(40)
    kernel, rk = rng.standard_normal((D, 3 * H)), rng.standard_normal((H, 3 * H))
    with pytest.raises(ValueError, match=r"bias of shape \(12,\) means reset_after=False.*different models"):
        I.keras_gru_to_torch(kernel, rk, rng.standard_normal(3 * H))
    with pytest.raises(ValueError, match="reset_after=False is not supported.*different models"):
        I.keras_gru_to_torch(kernel, rk, rng.standard_normal((2, 3 * H)), reset_after=False)
    with pytest.raises(ValueError, match="different models"):
        I.torch_gru_to_keras(gru().state_dict(), reset_after=False)
    with pytest.raises(ValueError, match="reset_after cannot be read from the bias shape"):
        I.keras_gru_to_torch(kernel, rk)
    with pytest.raises(ValueError, match=r"layers_to_torch: layers\[0\]: keras_gru_to_torch: .*different"):
        I.layers_to_torch([[kernel, rk, rng.standard_normal(3 * H)]], "keras_gru")
    with pytest.raises(ValueError, match="different models"):
        I.layers_to_torch([[kernel, rk]], "keras_gru", reset_after=False)


def test_forget_bias_must_be_stated():
    sd = lstm().state_dict()
    with pytest.raises(TypeError, match="tf_forget_bias"):
        I.torch_lstm_to_tf(sd)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="tf_forget_bias"):
        I.tf_lstm_to_torch(np.zeros((D + H, 4 * H)), np.zeros(4 * H))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="tf_forget_bias is required.*BasicLSTMCell"):
        I.torch_lstm_to_tf(sd, tf_forget_bias=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tf_forget_bias is required"):
        I.torch_to_layers(sd, "tf_lstm")
    with pytest.raises(TypeError, match="ln_forget_bias is required.*LayerNormLSTM"):
        I.torch_lstm_to_ln_lstm(sd, ln_forget_bias=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tf_forget_bias must be finite"):
        I.torch_lstm_to_tf(sd, tf_forget_bias=float("nan"))
    with pytest.raises(TypeError, match="torch_forget_bias must be a float"):
        I.torch_lstm_to_keras(sd, torch_forget_bias="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tf_forget_bias applies only to layout 'tf_lstm'"):
        I.torch_to_layers(sd, "keras_lstm", tf_forget_bias=1.0)
    with pytest.raises(ValueError, match="torch_forget_bias applies only to LSTM layouts"):
        I.torch_to_layers(gru().state_dict(), "keras_gru", torch_forget_bias=1.0)
    with pytest.raises(ValueError, match="reset_after applies only to layout 'keras_gru'"):
        I.layers_to_torch([[np.zeros((D, 4 * H)), np.zeros((H, 4 * H))]], "keras_lstm", reset_after=True)


def test_unknown_layout():
    for fn, arg in ((I.torch_to_layers, lstm().state_dict()), (I.layers_to_torch, [])):
        with pytest.raises(ValueError, match="layout must be one of 'tf_lstm', 'keras_lstm', 'keras_gru'"):
            fn(arg, "keras_rnn")
    with pytest.raises(TypeError, match="layout must be a str"):
        I.torch_to_layers(lstm().state_dict(), None)  # type: ignore[arg-type]


def test_missing_keys():
    sd = lstm().state_dict()
    with pytest.raises(ValueError, match=r"no key 'weight_hh_l1' \(its keys: \['weight_ih_l0'"):
        I.torch_lstm_to_tf(sd, tf_forget_bias=1.0, layer=1)
    with pytest.raises(ValueError, match="no key 'weight_hh_l0_reverse'"):
        I.torch_lstm_to_keras(sd, reverse=True)
    pre = {"rnn." + k: v for k, v in sd.items()}
    with pytest.raises(ValueError, match=r"no key 'weight_hh_l0'.*did you mean prefix='rnn\.'\?"):
        I.torch_lstm_to_keras(pre)
    with pytest.raises(ValueError, match=r"no key 'weight_ih_l0'.*did you mean prefix='rnn\.'\?"):
        I.torch_to_layers(pre, "keras_lstm")
    one_bias = {k: v for k, v in sd.items() if k != "bias_hh_l0"}
    with pytest.raises(ValueError, match="has 'bias_ih_l0' but no 'bias_hh_l0'"):
        I.torch_lstm_to_keras(one_bias)
    with pytest.raises(ValueError, match=r"layers\[0\] must have keys \['kernel', 'bias'\] \(optional: \['w_f_diag', "
                                          r"'w_i_diag', 'w_o_diag', 'projection'\]\): missing \['bias"):
        I.layers_to_torch([{"kernel": np.zeros((D + H, 4 * H))}], "tf_lstm", tf_forget_bias=1.0)
    with pytest.raises(ValueError, match=r"unexpected \['recurrent_kernal'\]"):
        I.layers_to_torch([{"kernel": np.zeros((D, 4 * H)), "recurrent_kernal": 0}], "keras_lstm")


def test_wrong_shapes_name_key_and_shapes():
    sd = lstm().state_dict()
    bad = dict(sd, weight_hh_l0=np.zeros((4 * H + 1, H)))
    msg = r"state_dict\['weight_hh_l0'\] must have shape \(4H, H\) = \(16, 4\).*got \(17, 4\)"
    with pytest.raises(ValueError, match=msg):
        I.torch_lstm_to_tf(bad, tf_forget_bias=1.0)
    bad = dict(sd, weight_ih_l0=np.zeros((4 * H, 0)))
    msg = r"'weight_ih_l0'\] must have shape \(4H, input_size\) = \(16, input_size\)"
    with pytest.raises(ValueError, match=msg):
        I.torch_lstm_to_keras(bad)
    bad = dict(sd, bias_hh_l0=np.zeros(4 * H - 1))
    with pytest.raises(ValueError, match=r"state_dict\['bias_hh_l0'\] must have shape \(16,\).*got \(15,\)"):
        I.torch_lstm_to_keras(bad)
    bad = dict(sd, weight_hh_l0=np.zeros(16))
    with pytest.raises(ValueError, match=r"'weight_hh_l0' must be 2-D \(4H, H\), got shape \(16,\)"):
        I.torch_lstm_to_keras(bad)
    with pytest.raises(ValueError, match="3H rows: this looks like a GRU state dict"):
        I.torch_lstm_to_tf(gru().state_dict(), tf_forget_bias=1.0)
    with pytest.raises(ValueError, match="4H rows: this looks like an LSTM state dict"):
        I.torch_gru_to_keras(sd)
    # TF kernel / bias
    with pytest.raises(ValueError, match=r"15 columns is not a positive multiple of 4"):
        I.tf_lstm_to_torch(np.zeros((D + H, 15)), np.zeros(15), tf_forget_bias=1.0)
    with pytest.raises(ValueError, match=r"input_size >= 1 \(H=4 .* more than 4 rows\), got \(4, 16\)"):
        I.tf_lstm_to_torch(np.zeros((H, 4 * H)), np.zeros(4 * H), tf_forget_bias=1.0)
    msg = r"bias must have shape \(16,\) \(4H with H=4 from kernel's columns\), got \(20,\)"
    with pytest.raises(ValueError, match=msg):
        I.tf_lstm_to_torch(np.zeros((D + H, 4 * H)), np.zeros(20), tf_forget_bias=1.0)
    # Keras kernels: inconsistent H
    with pytest.raises(ValueError, match=r"kernel must have shape \(input_size, 4H\) = \(input_size, 16\) "
                                         r"\(H=4 from recurrent_kernel\), got \(3, 20\)"):
        I.keras_lstm_to_torch(np.zeros((D, 20)), np.zeros((H, 4 * H)))
    msg = r"recurrent_kernel must have shape \(H, 4H\) = \(4, 16\).*got \(4, 12\); 3H columns: .* Keras GRU"
    with pytest.raises(ValueError, match=msg):
        I.keras_lstm_to_torch(np.zeros((D, 12)), np.zeros((H, 3 * H)))
    with pytest.raises(ValueError, match=r"bias must have shape \(16,\)"):
        I.keras_lstm_to_torch(np.zeros((D, 16)), np.zeros((H, 16)), np.zeros((2, 16)))
    with pytest.raises(ValueError, match=r"bias must have shape \(2, 12\).*got \(3, 12\)"):
        I.keras_gru_to_torch(np.zeros((D, 12)), np.zeros((H, 12)), np.zeros((3, 12)))
    with pytest.raises(ValueError, match="this looks like a Keras LSTM"):
        I.keras_gru_to_torch(np.zeros((D, 16)), np.zeros((H, 16)), reset_after=True)


def test_inconsistent_stacks():
    rng = np.random.default_rng(50)
    w = [rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)]]
    w2 = [rng.standard_normal(s) for s in [(H, 20), (5, 20), (20,)]]
    with pytest.raises(ValueError, match="inconsistent hidden size: layer 0 has H=4, layer 1 has H=5"):
        I.layers_to_torch([w, w2], "keras_lstm")
    w3 = [rng.standard_normal(s) for s in [(D, 4 * H), (H, 4 * H), (4 * H,)]]
    with pytest.raises(ValueError, match=r"layer 1 must read the previous layer's output of size "
                                         r"num_directions \* H = 1 \* 4 = 4, but its input size is 3"):
        I.layers_to_torch([w, w3], "keras_lstm")
    with pytest.raises(ValueError, match=r"num_layers \* num_directions entries \(num_directions=2 since "
                                         r"bidirectional=True\), got 3"):
        I.layers_to_torch([w, w, w], "keras_lstm", bidirectional=True)
    with pytest.raises(ValueError, match=r"layers\[j\] for j in \[1\] have no bias but the others do"):
        I.layers_to_torch([w, [rng.standard_normal((H, 16)), w[1]]], "keras_lstm")
    with pytest.raises(TypeError, match=r"layers\[0\] must be a dict .* got int"):
        I.layers_to_torch([3], "keras_lstm")
    with pytest.raises(TypeError, match="layers must be a list of per-layer weights, got dict"):
        I.layers_to_torch({"kernel": w[0]}, "keras_lstm")
    sd = lstm(num_layers=3).state_dict()
    gap = {k: v for k, v in sd.items() if "_l1" not in k}
    with pytest.raises(ValueError, match=r"layers must be numbered 0, 1, \.\.\., got layer indices \[0, 2\]"):
        I.torch_to_layers(gap, "keras_lstm")
    bi = lstm(num_layers=2, bidirectional=True).state_dict()
    half = {k: v for k, v in bi.items() if k != "weight_ih_l1_reverse"}
    with pytest.raises(ValueError, match="state_dict has no key 'weight_ih_l1_reverse'"):
        I.torch_to_layers(half, "keras_lstm")
    fwd_only_l1 = {k: v for k, v in bi.items() if not k.endswith("l1_reverse")}
    with pytest.raises(ValueError, match="no weight_ih_l1_reverse .*bidirectional stack has both directions"):
        I.torch_to_layers(fwd_only_l1, "keras_lstm")
    # a hand-edited torch state dict whose layer 1 has another hidden size
    odd = dict(sd)
    odd.update({k.replace("_l0", "_l1"): v for k, v in lstm(H=5, D=H).state_dict().items()})
    with pytest.raises(ValueError, match="inconsistent hidden size: layer 0 has H=4, layer 1 has H=5"):
        I.torch_to_layers(odd, "keras_lstm")


def test_unsupported_models_and_bad_types():
    p = nn.LSTM(D, H, proj_size=2, dtype=np.float64, rng=0).state_dict()
    with pytest.raises(ValueError, match=r"'weight_hr_l0': LSTMs with proj_size have no"):
        I.torch_lstm_to_keras(p)
    ln = nn.LayerNormLSTM(D, H, layer_norm=True, dtype=np.float64, rng=0).state_dict()
    with pytest.raises(ValueError, match="layer_norm=True has no plain LSTM equivalent"):
        I.ln_lstm_to_torch_lstm(ln, ln_forget_bias=1.0)
    with pytest.raises(ValueError, match="no key 'kernel_l0'"):
        I.ln_lstm_to_torch_lstm(lstm().state_dict(), ln_forget_bias=1.0)
    with pytest.raises(TypeError, match="state_dict must be a mapping of name -> array, got list"):
        I.torch_lstm_to_tf([1, 2], tf_forget_bias=1.0)  # type: ignore[arg-type]
    sd = lstm().state_dict()
    with pytest.raises(TypeError, match=r"state_dict\['weight_ih_l0'\] must be a floating-point array, got "
                                        r"dtype int64"):
        I.torch_lstm_to_keras(dict(sd, weight_ih_l0=np.zeros((16, D), dtype=np.int64)))
    with pytest.raises(TypeError, match="kernel must be a float array, got None"):
        I.keras_lstm_to_torch(None, np.zeros((H, 16)))
    with pytest.raises(TypeError, match="bias must be a float array, got None"):
        I.tf_lstm_to_torch(np.zeros((D + H, 16)), None, tf_forget_bias=1.0)
    with pytest.raises(ValueError, match="reverse=True needs a layer index"):
        I.torch_lstm_to_keras(sd, layer=None, reverse=True)
    with pytest.raises(ValueError, match="layer must be >= 0"):
        I.torch_lstm_to_keras(sd, layer=-1)
    with pytest.raises(TypeError, match="prefix must be a str"):
        I.torch_lstm_to_keras(sd, prefix=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reset_after must be a bool"):
        I.keras_gru_to_torch(np.zeros((D, 12)), np.zeros((H, 12)), reset_after="yes")  # type: ignore[arg-type]
