"""``bptt.nn`` layers, loss, parameter names, state dicts and float32 against ``torch.nn`` with identical weights.

Every float64 comparison is ``max|ours - torch| <= 1e-10 * max|torch|`` per array, for outputs and the
gradients of the input and every parameter under random upstream gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bptt import nn
from cases.nn_parity import MODES, ours_rnn
from cases.torch_nn_parity import compare_param_grads, load_from_torch, randomize, torch_rnn
from helpers import assert_close, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch


# ------------------------------------------------------------------------------------- feed-forward
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)], ids=["2d", "3d", "1d"])
def test_linear_module_matches_torch(x_shape, bias):
    rng = seeded_rng("Linear", x_shape, bias)
    K = 4
    tlin = torch.nn.Linear(x_shape[-1], K, bias=bias, dtype=torch.float64)
    randomize(tlin, rng)
    lin = nn.Linear(x_shape[-1], K, bias=bias, dtype=np.float64)
    load_from_torch(lin, tlin)
    x = rng.standard_normal(x_shape)
    y = lin(x)
    dy = rng.standard_normal(y.shape)
    dx = lin.backward(dy)
    xt = t64(x)
    yt = tlin(xt)
    (yt * t64(dy, False)).sum().backward()
    assert_close(y, yt, name="y")
    assert_close(dx, xt.grad, name="dx")
    compare_param_grads(lin, tlin)


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_module_matches_torch(padding_idx):
    rng = seeded_rng("Embedding", padding_idx)
    V, D = 7, 4
    temb = torch.nn.Embedding(V, D, padding_idx=padding_idx, dtype=torch.float64)
    with torch.no_grad():
        temb.weight.copy_(torch.from_numpy(rng.standard_normal((V, D))))
    emb = nn.Embedding(V, D, padding_idx=padding_idx, dtype=np.float64)
    load_from_torch(emb, temb)
    ids = rng.integers(0, V, size=(3, 6))
    ids[0, :4] = 2  # repeated
    ids[1, :2] = [0, V - 1]
    ids[2, 5] = 3
    e = emb(ids)
    de = rng.standard_normal(e.shape)
    assert emb.backward(de) is None
    et = temb(torch.from_numpy(ids))
    (et * t64(de, False)).sum().backward()
    assert_close(e, et, name="e")
    compare_param_grads(emb, temb)
    if padding_idx is not None:
        assert np.all(emb.weight.grad[padding_idx % V] == 0)


@pytest.mark.parametrize("padding_idx", [None, 1, -2])
def test_embedding_init_zeroes_padding_row(padding_idx):
    emb = nn.Embedding(5, 3, padding_idx=padding_idx, rng=0)
    temb = torch.nn.Embedding(5, 3, padding_idx=padding_idx)
    for i in range(5):
        is_pad = bool(torch.all(temb.weight[i] == 0))
        assert bool(np.all(emb.weight.data[i] == 0)) == is_pad, i


CE_SHAPES = {
    "2d": ((6, 5), (6,)),
    "kdim": ((3, 5, 4), (3, 4)),
    "k2dim": ((2, 5, 3, 2), (2, 3, 2)),
    "unbatched": ((5,), ()),
}


@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", sorted(CE_SHAPES))
def test_cross_entropy_module_matches_torch(shape, reduction, ignore_index):
    rng = seeded_rng("CE", shape, reduction, ignore_index)
    x_shape, y_shape = CE_SHAPES[shape]
    C = 5
    x = rng.standard_normal(x_shape) * 2
    y = rng.integers(0, C, size=y_shape)
    if y.ndim:
        y[y == ignore_index] = 0
        flat = y.reshape(-1)
        flat[rng.choice(flat.size, size=2, replace=False)] = ignore_index  # some ignored targets
    else:
        y = np.array(3)
    crit = nn.CrossEntropyLoss(ignore_index=ignore_index, reduction=reduction)
    loss = crit(x, y)
    dloss = rng.standard_normal(np.shape(loss))
    dx = crit.backward(dloss if reduction == "none" else float(dloss))
    xt = t64(x)
    lt = torch.nn.CrossEntropyLoss(ignore_index=ignore_index, reduction=reduction)(xt, torch.from_numpy(y))
    (lt * t64(dloss, False)).sum().backward()
    assert_close(loss, lt, name="loss")
    assert_close(dx, xt.grad, name="dx")


def test_cross_entropy_module_default_backward_is_one():
    rng = seeded_rng("CE default")
    x = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 1])
    crit = nn.CrossEntropyLoss()
    crit(x, y)
    dx = crit.backward()
    xt = t64(x)
    torch.nn.functional.cross_entropy(xt, torch.from_numpy(y)).backward()
    assert_close(dx, xt.grad, name="dx")


# ---------------------------------------------------------------------------------- names and state
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_parameter_names_order_and_shapes_equal_torch(mode, num_layers, bidirectional, bias):
    cfg = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    tmod = torch_rnn(mode, 3, 5, **cfg)
    ours = ours_rnn(mode, 3, 5, **cfg, rng=0)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tmod.named_parameters()
    ]
    assert list(ours.state_dict()) == list(tmod.state_dict())
    assert ours.num_parameters() == sum(p.numel() for p in tmod.parameters())


def test_feed_forward_and_cell_parameter_names_equal_torch():
    pairs = [
        (nn.Linear(3, 4), torch.nn.Linear(3, 4)),
        (nn.Linear(3, 4, bias=False), torch.nn.Linear(3, 4, bias=False)),
        (nn.Embedding(6, 2), torch.nn.Embedding(6, 2)),
        (nn.LSTMCell(3, 4), torch.nn.LSTMCell(3, 4)),
        (nn.GRUCell(3, 4), torch.nn.GRUCell(3, 4)),
        (nn.RNNCell(3, 4), torch.nn.RNNCell(3, 4)),
        (nn.LSTMCell(3, 4, bias=False), torch.nn.LSTMCell(3, 4, bias=False)),
        (nn.GRUCell(3, 4, bias=False), torch.nn.GRUCell(3, 4, bias=False)),
    ]
    for ours, tmod in pairs:
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in tmod.named_parameters()
        ], type(ours).__name__
        assert list(ours.state_dict()) == list(tmod.state_dict())


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_round_trip_both_ways(mode):
    rng = seeded_rng("roundtrip", mode)
    T, B, D, H = 4, 2, 3, 5
    ours = ours_rnn(mode, D, H, num_layers=2, bidirectional=True, rng=int(rng.integers(1000)))
    tmod = torch_rnn(mode, D, H, num_layers=2, bidirectional=True)
    # ours -> torch
    tmod.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((T, B, D))
    out, state = ours(x)
    ours.clear_caches()
    with torch.no_grad():
        tout, tstate = tmod(t64(x, False))
    assert_close(out, tout, name="out")
    if mode == "LSTM":
        assert_close(state[0], tstate[0], name="h_n")
        assert_close(state[1], tstate[1], name="c_n")
    else:
        assert_close(state, tstate, name="h_n")
    # torch -> ours (a fresh module): bit-identical parameters, and a snapshot state_dict
    randomize(tmod, rng)
    ours2 = ours_rnn(mode, D, H, num_layers=2, bidirectional=True, rng=1)
    load_from_torch(ours2, tmod)
    sd = ours2.state_dict()
    for k, v in tmod.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy(), err_msg=k)
    next(ours2.parameters()).data[...] += 1.0
    np.testing.assert_array_equal(next(iter(sd.values())), next(iter(tmod.state_dict().values())).numpy())


def test_float32_lstm_close_to_torch_float32():
    """float32 is supported: parity at float32 precision (the float64 checks above are the tight ones)."""
    rng = seeded_rng("f32")
    tmod = torch_rnn("LSTM", 3, 4, num_layers=2, bidirectional=True, dtype=torch.float32)
    randomize(tmod, rng)
    ours = nn.LSTM(3, 4, 2, bidirectional=True, rng=0)
    load_from_torch(ours, tmod)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out, (h, c) = ours(x)
    dx, _ = ours.backward(np.ones_like(out))
    xt = torch.tensor(x, requires_grad=True)
    tout, _ = tmod(xt)
    tout.sum().backward()
    assert out.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_dropout_between_layers_is_inactive_in_eval_mode():
    rng = seeded_rng("rnn-dropout")
    tmod = torch_rnn("LSTM", 3, 4, num_layers=3)
    randomize(tmod, rng)
    ours = nn.LSTM(3, 4, 3, dropout=0.5, dtype=np.float64, rng=0)
    load_from_torch(ours, tmod)
    ours.eval()
    x = rng.standard_normal((4, 2, 3))
    out, _ = ours(x)
    dx, _ = ours.backward(np.ones_like(out))
    xt = t64(x)
    tout, _ = tmod(xt)
    tout.sum().backward()
    assert_close(out, tout, name="out")
    assert_close(dx, xt.grad, name="dx")
    ours.train()
    out_train, _ = ours(x)
    ours.clear_caches()
    assert not np.allclose(out_train, out)
