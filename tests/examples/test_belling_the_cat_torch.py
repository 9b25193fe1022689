"""Seed 000's belling-the-cat experiment (``bptt.examples.belling_the_cat``) vs an independent torch run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bptt.examples import belling_the_cat as btc

pytestmark = pytest.mark.torch


# ---------------------------------------------------------------------------------------------- reference
def _torch_lstm(V: int, num_layers: int, bidirectional: bool):
    """torch.nn.LSTM, float64: weights 0.1, bias_ih 0.1 (+1.0 on the forget block: forget_bias), bias_hh 0."""
    m = torch.nn.LSTM(V, 5, num_layers=num_layers, bidirectional=bidirectional, dtype=torch.float64)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith("weight"):
                p.fill_(0.1)
            elif name.startswith("bias_ih"):
                p.fill_(0.1)
                p[5:10] += 1.0  # torch gate order i, f, g, o: rows 5..9 are the forget gate
            else:
                p.zero_()
    return m


def torch_losses(variant: str, steps: int) -> list[float]:
    """The experiment re-implemented with torch autograd (offset schedule included), independent of bptt."""
    tokens = btc.DEFAULT_TEXT.lower().split()
    vocab = sorted(set(tokens))
    codes = [vocab.index(w) for w in tokens]
    V = len(vocab)
    assert V == 10
    nd = 2 if variant in ("bi", "bimulti") else 1
    if variant == "bimulti":
        lstms = [_torch_lstm(V, 2, False), _torch_lstm(V, 2, False)]  # TF: two independent 2-layer stacks
    else:
        lstms = [_torch_lstm(V, 2 if variant == "multi" else 1, variant == "bi")]
    dense = torch.nn.Linear(5 * nd, V, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(torch.tensor(np.vstack([btc.KERNEL] * nd).T))
        dense.bias.copy_(torch.tensor(btc.BIAS))
    # TensorFlow's cell has one bias: bias_ih is it, bias_hh stays a constant 0 (not trained)
    params = [p for m in [*lstms, dense] for n, p in m.named_parameters() if not n.startswith("bias_hh")]
    fill = 1.0 if variant == "initstate" else 0.0

    def state(m):
        shape = (m.num_layers * (2 if m.bidirectional else 1), 1, 5)
        return (torch.full(shape, fill, dtype=torch.float64), torch.full(shape, fill, dtype=torch.float64))

    rs = np.random.RandomState(42)
    offset = 2
    losses = []
    for _ in range(steps):
        if offset > len(tokens) - 4:
            offset = rs.randint(0, 4)
        x = torch.zeros(3, 1, V, dtype=torch.float64)
        for t in range(3):
            x[t, 0, codes[offset + t]] = 1.0
        target = torch.tensor([codes[offset + 3]])
        out, _ = lstms[0](x, state(lstms[0]))
        if variant == "bimulti":
            out_bw, _ = lstms[1](x.flip(0), state(lstms[1]))
            feature = torch.cat([out[-1], out_bw.flip(0)[-1]], dim=-1)
        else:
            feature = out[-1]
        loss = torch.nn.functional.cross_entropy(dense(feature), target)
        for m in [*lstms, dense]:
            m.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= 0.001 * p.grad
        losses.append(loss.item())
        offset += 4
    return losses


@pytest.mark.parametrize("variant", btc.VARIANTS)
def test_first_losses_match_torch(variant: str) -> None:
    ours = btc.run(variant, steps=5)
    ref = torch_losses(variant, 5)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_bimulti_is_not_pytorch_interleaved_stacking() -> None:
    """PyTorch's LSTM(num_layers=2, bidirectional=True) is a different network from TF's bimulti."""
    tokens = btc.DEFAULT_TEXT.split()
    vocab = sorted(set(tokens))
    x = torch.zeros(3, 1, len(vocab), dtype=torch.float64)
    for t, w in enumerate(tokens[2:5]):
        x[t, 0, vocab.index(w)] = 1.0
    interleaved, _ = _torch_lstm(len(vocab), 2, True)(x)
    dense = np.vstack([btc.KERNEL] * 2).T
    logits = interleaved[-1].detach().numpy() @ dense.T + btc.BIAS
    target = vocab.index(tokens[5])
    loss = float(np.log(np.exp(logits).sum()) - logits[0, target])
    assert abs(loss - btc.run("bimulti", steps=1)[0]) > 1e-4
