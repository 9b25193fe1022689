"""bptt.nn.MinGRU / MinLSTM stacks against torch autograd of the paper's equations (float64, <= 1e-10): every
option (layers, directions, projection, bias, batch_first, lengths, initial state), every parameter gradient."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from bptt.nn import MinGRU, MinLSTM
from helpers import assert_close, seeded_rng
from torch_helpers import t64
from torch_min_rnn import paper_loop

pytestmark = pytest.mark.torch

OPTIONS = list(itertools.product([MinGRU, MinLSTM], ["parallel", "sequential"], [1, 2], [False, True], [0, 2],
                                 [True, False], [False, True]))


def torch_stack(m, x: torch.Tensor, h0: torch.Tensor, lengths, params: dict) -> tuple:
    """The stack written from the paper: per layer and direction paper_loop, then the projection."""
    cell = "min_gru" if isinstance(m, MinGRU) else "min_lstm"
    nd = m.num_directions
    inp, h_n = x, []
    for layer in range(m.num_layers):
        outs = []
        for d in range(nd):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            k = inp @ params["weight_ih" + sfx].T
            if m.bias:
                k = k + params["bias_ih" + sfx]
            y, hn = paper_loop(cell, k, h0[layer * nd + d], d == 1, lengths)
            if m.proj_size:
                y = y @ params["weight_out" + sfx].T
            outs.append(y)
            h_n.append(hn)
        inp = torch.cat(outs, dim=2)
    return inp, torch.stack(h_n)


@pytest.mark.parametrize("cls,mode,num_layers,bidirectional,proj_size,bias,lengths", OPTIONS)
def test_stack_equals_torch_autograd(cls, mode, num_layers, bidirectional, proj_size, bias, lengths):
    rng = seeded_rng("nn-min-torch", cls.__name__, mode, num_layers, bidirectional, proj_size, bias, lengths)
    T, B, D, H = 6, 3, 4, 5
    m = cls(D, H, num_layers, bias, False, 0.0, bidirectional, proj_size, mode=mode, dtype=np.float64, rng=rng)
    for p in m.parameters():  # non-zero, distinct biases (the init's are already distinct)
        p.data[...] = rng.uniform(-0.9, 0.9, p.data.shape)
    nd = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, D))
    h0 = rng.uniform(-1, 1, (num_layers * nd, B, H))
    lens = np.array([6, 2, 4]) if lengths else None
    out, hn = m(x, h0, lengths=lens)
    dout, dhn = rng.standard_normal(out.shape), rng.standard_normal(hn.shape)
    dx, dh0 = m.backward(dout, dhn)

    params = {n: t64(p.data) for n, p in m.named_parameters()}
    xt, h0t = t64(x), t64(h0)
    out_t, hn_t = torch_stack(m, xt, h0t, lens, params)
    ((out_t * t64(dout, False)).sum() + (hn_t * t64(dhn, False)).sum()).backward()
    assert_close(out, out_t, 1e-10, name="out")
    assert_close(hn, hn_t, 1e-10, name="h_n")
    assert_close(dx, xt.grad, 1e-10, name="dx")
    assert_close(dh0, h0t.grad, 1e-10, name="dh0")
    for name, p in m.named_parameters():
        assert_close(p.grad, params[name].grad, 1e-10, name=name)
