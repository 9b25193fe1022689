"""``bptt.nn.SLSTM`` / ``bptt.nn.MLSTM`` against torch autograd of the paper's equations, float64 (<= 1e-10):
1-3 stacked layers, batch_first, given or default state, both forget gates, both mLSTM forms; outputs,
final states and the gradients of the input, the initial state and every parameter."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from bptt import nn
from cases.torch_xlstm import torch_mlstm, torch_slstm
from cases.xlstm import NOISE
from helpers import assert_close, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch

T, B, D, H = 6, 3, 4, 6


def torch_stack(m, x: torch.Tensor, state: tuple, fn) -> tuple[torch.Tensor, list]:
    """The module's layers applied one after another in torch, with its parameters (as float64 leaves)."""
    params = {name: t64(p.data) for name, p in m.named_parameters()}
    inp, finals = x, []
    for layer in range(m.num_layers):
        arrays = [params[n] for n in params if n.endswith(f"_l{layer}")]
        if not m.bias:
            arrays.append(None)
        y, *final = fn(inp, *(s[layer] for s in state), *arrays, forget_gate=m.forget_gate)
        finals.append(final)
        inp = y
    return inp, [torch.stack(part) for part in zip(*finals)], params


CASES = list(itertools.product([1, 3], [False, True], [False, True], ["sigmoid", "exp"]))


@pytest.mark.parametrize("kind", ["slstm", "mlstm-parallel", "mlstm-recurrent"])
@pytest.mark.parametrize("num_layers,batch_first,given_state,forget_gate", CASES)
def test_module_against_torch(kind, num_layers, batch_first, given_state, forget_gate):
    rng = seeded_rng("nn-xlstm-torch", kind, num_layers, batch_first, given_state, forget_gate)
    if kind == "slstm":
        m = nn.SLSTM(D, H, num_layers, batch_first=batch_first, num_heads=3, forget_gate=forget_gate,
                     dtype=np.float64, rng=rng)
        fn = torch_slstm
    else:
        m = nn.MLSTM(D, H, num_layers, batch_first=batch_first, num_heads=2, forget_gate=forget_gate,
                     form=kind.split("-")[1], dtype=np.float64, rng=rng)
        fn = torch_mlstm
    for p in m.parameters():  # non-zero, distinct biases and gate weights (the init zeroes some)
        p.data[...] += rng.uniform(-0.3, 0.3, p.shape)
    x = rng.standard_normal((T, B, D))
    state = m.initial_state(B)
    if given_state:
        state = tuple(0.5 * rng.standard_normal(s.shape) for s in state)
        if kind == "slstm":
            state = (state[0], state[1], np.abs(state[2]) + 0.5, state[3])
    xs = x.transpose(1, 0, 2) if batch_first else x
    out, final = m(xs, state if given_state else None)
    dout = rng.standard_normal(out.shape)
    dfinal = tuple(rng.standard_normal(s.shape) for s in final)
    dx, dstate = m.backward(dout, dfinal)

    xt, st = t64(x), [t64(s) for s in state]
    y, final_t, params = torch_stack(m, xt, st, fn)
    yb = y.transpose(0, 1) if batch_first else y
    loss = (yb * torch.from_numpy(dout)).sum() + sum((f * torch.from_numpy(d)).sum() for f, d in zip(final_t, dfinal))
    loss.backward()
    assert_close(out, yb, 1e-10, "output")
    for a, b in zip(final, final_t):
        assert_close(a, b, 1e-10, "final state")
    assert_close(dx, xt.grad.transpose(0, 1) if batch_first else xt.grad, 1e-10, "dx")
    largest = max(float(np.abs(p.grad).max()) for p in m.parameters())
    for name, a, b in zip(m.STATE_NAMES, dstate, st):  # dm0 of a zero state is zero: rounding noise both sides
        err, tol = float(np.abs(a - b.grad.numpy()).max()), max(1e-10 * float(b.grad.abs().max()), NOISE * largest)
        assert err <= tol, f"d{name}0: {err:.3e} > {tol:.3e}"
    for name, p in m.named_parameters():
        assert_close(p.grad, params[name].grad, 1e-10, name)
