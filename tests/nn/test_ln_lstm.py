"""``nn.LayerNormLSTM`` without PyTorch: parameter names, finite differences, recurrent dropout, and the
belling-the-cat losses. The parity with the torch-autograd TensorFlow cell lives in test_ln_lstm_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import bptt
from bptt import nn
from bptt.examples import belling_the_cat as btc
from cases.ln_lstm import module
from helpers import seeded_rng

SCOPES = ("input", "transform", "forget", "output", "state")


# ----------------------------------------------------------------------------------------- helpers
def _expected_names(num_layers, bidirectional, layer_norm, bias=True):
    names = []
    for k in range(num_layers):
        for sfx in ("", "_reverse")[: 2 if bidirectional else 1]:
            names.append(f"kernel_l{k}{sfx}")
            if bias and not layer_norm:
                names.append(f"bias_l{k}{sfx}")
            if layer_norm:
                for s in SCOPES:
                    names += [f"{s}_gamma_l{k}{sfx}", f"{s}_beta_l{k}{sfx}"]
    return names


# ----------------------------------------------------------------------------------------- names / init
@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_parameter_names_and_shapes(bidirectional, num_layers, layer_norm):
    D, H = 3, 4
    nd = 2 if bidirectional else 1
    m = nn.LayerNormLSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, layer_norm=layer_norm,
                         norm_gain=0.7, norm_shift=0.2, dtype=np.float64, rng=0)
    params = dict(m.named_parameters())
    assert list(params) == _expected_names(num_layers, bidirectional, layer_norm)
    for name, p in params.items():
        k = int(name.split("_l")[1].split("_")[0])
        in_size = D if k == 0 else nd * H
        if name.startswith("kernel"):
            assert p.shape == (in_size + H, 4 * H)
            limit = np.sqrt(6.0 / (in_size + H + 4 * H))
            assert np.abs(p.data).max() <= limit and np.abs(p.data).max() > 0
        elif name.startswith("bias"):
            assert p.shape == (4 * H,)
        elif "_gamma" in name:
            assert p.shape == (H,) and np.all(p.data == 0.7)
        else:
            assert p.shape == (H,) and np.all(p.data == 0.2)
    m_nb = nn.LayerNormLSTM(D, H, num_layers=num_layers, bias=False, layer_norm=False, dtype=np.float64)
    assert list(dict(m_nb.named_parameters())) == _expected_names(num_layers, False, False, bias=False)


def test_bad_keep_prob_raises():
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="dropout_keep_prob"):
            nn.LayerNormLSTM(3, 4, dropout_keep_prob=bad)


# ----------------------------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_check_module_finite_differences(layer_norm, with_lengths):
    rng = seeded_rng("lnlstm-fd", layer_norm, with_lengths)
    T, B, D, H = 4, 2, 2, 3
    m = module(D, H, 2, True, layer_norm, 1.0, rng)
    x = rng.standard_normal((T, B, D))
    hx = (rng.standard_normal((4, B, H)), rng.standard_normal((4, B, H)))
    args = (x, hx) + ((np.array([2, 4]),) if with_lengths else ())
    report = bptt.check_module(m, *args, max_elements=30, raise_on_failure=False)
    assert report.ok, str(report)


@pytest.mark.parametrize("layer_norm", [True, False], ids=["ln", "plain"])
def test_recurrent_dropout_train_only_and_seeded(layer_norm):
    rng = seeded_rng("lnlstm-drop", layer_norm)
    T, B, D, H = 5, 3, 3, 4
    a = nn.LayerNormLSTM(D, H, num_layers=2, bidirectional=True, layer_norm=layer_norm, dropout_keep_prob=0.6,
                         dtype=np.float64, rng=11)
    b = nn.LayerNormLSTM(D, H, num_layers=2, bidirectional=True, layer_norm=layer_norm, dropout_keep_prob=0.6,
                         dtype=np.float64, rng=11)
    ref = nn.LayerNormLSTM(D, H, num_layers=2, bidirectional=True, layer_norm=layer_norm, dtype=np.float64,
                           rng=0)
    ref.load_state_dict(a.state_dict())
    x = rng.standard_normal((T, B, D))
    dout = rng.standard_normal((T, B, 2 * H))

    def run(m):
        m.zero_grad()
        out, (h_n, c_n) = m(x)
        dx, (dh0, dc0) = m.backward(dout)
        return [out, h_n, c_n, dx, dh0, dc0] + [p.grad.copy() for p in m.parameters()]

    ra, rb, rr = run(a), run(b), run(ref)
    for u, v in zip(ra, rb, strict=True):
        assert np.array_equal(u, v), "same seed must give bit-identical results"
    assert not np.allclose(ra[0], rr[0]), "train(): recurrent dropout must change the output"
    assert not np.array_equal(run(a)[0], ra[0]), "each call must draw fresh masks"
    a.eval()
    ref.eval()
    for u, v in zip(run(a), run(ref), strict=True):
        assert np.array_equal(u, v), "eval(): no recurrent dropout"


def test_recurrent_dropout_mask_statistics():
    keep = 0.7
    m = nn.LayerNormLSTM(2, 8, num_layers=2, bidirectional=True, dropout_keep_prob=keep, dtype=np.float64,
                         rng=3)
    masks = m._dropout_masks(100, 100)
    assert len(masks) == 4
    for mask in masks:
        assert mask.shape == (100, 100, 8) and mask.dtype == np.float64
        assert set(np.unique(mask).tolist()) <= {0.0, 1.0 / keep}
        rate = (mask != 0).mean()
        assert abs(rate - keep) <= 0.01 * keep, rate
    assert not np.array_equal(masks[0], masks[1])


# ----------------------------------------------------------------------------------------- seed 000
def test_reproduces_belling_the_cat_uni_losses():
    """TF's cell (ONE bias, 0.1 everywhere) + the example's head and SGD reproduces ``run("uni", 50)``."""
    steps = 50
    tokens = btc.tokenize(btc.DEFAULT_TEXT)
    vocab = sorted(set(tokens))
    codes = [vocab.index(w) for w in tokens]
    V = len(vocab)
    cell = nn.LayerNormLSTM(V, 5, layer_norm=False, forget_bias=1.0, dtype=np.float64)
    assert [k for k, _ in cell.named_parameters()] == ["kernel_l0", "bias_l0"]
    for p in cell.parameters():
        p.data[...] = 0.1
    dense = nn.Linear(5, V, dtype=np.float64, rng=0)
    w, b = btc.head_init(V, 1)
    dense.weight.data[...] = w
    dense.bias.data[...] = b
    criterion = nn.CrossEntropyLoss()
    params = list(cell.parameters()) + list(dense.parameters())
    losses = []
    for offset in btc.offset_schedule(len(tokens), steps):
        x = btc.one_hot_window(codes[offset : offset + btc.N_INPUT], V)
        target = np.array([codes[offset + btc.N_INPUT]])
        out, _ = cell(x)
        loss = float(criterion(dense(out[-1]), target))
        for p in params:
            p.zero_grad()
        dfeat = dense.backward(criterion.backward())
        dout = np.zeros_like(out)
        dout[-1] = dfeat
        cell.backward(dout)
        for p in params:
            p.data -= btc.LEARNING_RATE * p.grad
        losses.append(loss)
    expected = btc.run("uni", steps)
    assert abs(losses[0] - 1.6343186800) <= 1e-8
    np.testing.assert_allclose(losses, expected, rtol=0, atol=1e-10)
