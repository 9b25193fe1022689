"""Cases shared by the bptt.nn parity and initialisation tests (tests/nn/test_*parity_torch.py, test_init_and_dtype.py).
"""

from __future__ import annotations

import numpy as np
import torch

from bptt import nn
from helpers import assert_close, distinct_uniform


# ----------------------------------------------------------------------------------------- builders
def torch_rnn(
    mode: str,
    D: int,
    H: int,
    num_layers: int = 1,
    bias: bool = True,
    batch_first: bool = False,
    bidirectional: bool = False,
    dtype=torch.float64,
) -> torch.nn.RNNBase:
    kw = dict(
        num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, dtype=dtype
    )
    if mode == "LSTM":
        return torch.nn.LSTM(D, H, **kw)
    if mode == "GRU":
        return torch.nn.GRU(D, H, **kw)
    return torch.nn.RNN(D, H, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)


def randomize(tmod: torch.nn.Module, rng: np.random.Generator) -> None:
    """Random non-zero weights; biases distinct (``b_ih != b_hh`` everywhere)."""
    with torch.no_grad():
        for p in tmod.parameters():
            p.copy_(torch.from_numpy(distinct_uniform(rng, tuple(p.shape))))
        for name, p in tmod.named_parameters():
            if "bias_ih" in name:
                other = dict(tmod.named_parameters())[name.replace("bias_ih", "bias_hh")]
                assert not torch.any(p == other)


def load_from_torch(ours: nn.Module, tmod: torch.nn.Module) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})


def compare_param_grads(ours: nn.Module, tmod: torch.nn.Module) -> None:
    tparams = dict(tmod.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert list(ours_params) == list(tparams)
    for name, p in ours_params.items():
        assert tparams[name].grad is not None, name
        assert_close(p.grad, tparams[name].grad, name=f"grad {name}")
