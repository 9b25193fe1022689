"""xLSTM's sLSTM and mLSTM (both forms, both tiers) against torch autograd of the paper's equations, float64.

The torch side (``cases/torch_xlstm.py``) is written from the equations, independently of bptt: outputs, final
states and the gradients of ``sum_j <upstream_j, out_j>`` with respect to the input, every initial state and
every weight and bias agree to 1e-10 of each array's largest entry, over both forget gates, with and without
bias, 1 or 3 heads, zero or random initial states and every choice of upstream gradients.

The stabiliser's gradient convention: with gradients of the outputs only, torch with the stabiliser
detached (the authors' CUDA kernel) and torch differentiating through its max give the same gradients, and
bptt equals both; with a gradient of the final cell state alone they differ, and bptt follows the max.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bptt.functional import mlstm, mlstm_parallel, slstm
from bptt.functional import reference as ref
from cases.torch_xlstm import torch_mlstm, torch_mlstm_parallel, torch_run, torch_slstm
from cases.xlstm import DOUTS, assert_same, mlstm_case, run_op, slstm_case
from helpers import seeded_rng

pytestmark = pytest.mark.torch

RTOL = 1e-10
OPTIONS = list(itertools.product(["sigmoid", "exp"], [True, False], DOUTS))


def against_torch(case, modules, fn, **kwargs) -> None:
    out_t, grads_t = torch_run(case, fn, **kwargs)
    for module in modules:
        out, grads, _ = run_op(module, case)
        assert_same(case, (out, tuple(grads)), (tuple(out_t), tuple(grads_t)), RTOL, f"{module.__name__} vs torch",
                    same_type=False)


@pytest.mark.parametrize("heads,zero_state", [(1, False), (3, False), (3, True)])
@pytest.mark.parametrize("forget_gate,bias,dout", OPTIONS)
def test_slstm_against_torch(forget_gate, bias, dout, heads, zero_state):
    rng = seeded_rng("slstm-torch", forget_gate, bias, dout, heads, zero_state)
    case = slstm_case(rng, T=6, H=6, heads=heads, bias=bias, forget_gate=forget_gate, dout=dout, zero_state=zero_state)
    against_torch(case, [slstm, ref.slstm], torch_slstm)


@pytest.mark.parametrize("heads,zero_state", [(1, False), (3, False), (2, True)])
@pytest.mark.parametrize("forget_gate,bias,dout", OPTIONS)
def test_mlstm_both_forms_against_torch(forget_gate, bias, dout, heads, zero_state):
    rng = seeded_rng("mlstm-torch", forget_gate, bias, dout, heads, zero_state)
    case = mlstm_case(rng, T=6, heads=heads, head_size=2, bias=bias, forget_gate=forget_gate, dout=dout,
                      zero_state=zero_state)
    against_torch(case, [mlstm, ref.mlstm, mlstm_parallel, ref.mlstm_parallel], torch_mlstm)
    against_torch(case, [mlstm_parallel, ref.mlstm_parallel], torch_mlstm_parallel)


def test_the_torch_forms_agree_with_each_other():
    """The two torch implementations are themselves one function (a check on the test's own references)."""
    case = mlstm_case(seeded_rng("torch-forms"), T=7, heads=2, head_size=3)
    out_r, grads_r = torch_run(case, torch_mlstm)
    out_p, grads_p = torch_run(case, torch_mlstm_parallel)
    assert_same(case, (tuple(out_p), tuple(grads_p)), (tuple(out_r), tuple(grads_r)), RTOL, "torch forms",
                same_type=False)


# ------------------------------------------------------------------------ the stabiliser's convention
def _largest_difference(a: list, b: list) -> float:
    return max(float(np.abs(x - y).max() / max(np.abs(y).max(), 1e-300)) for x, y in zip(a, b) if x is not None)


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("op", ["slstm", "mlstm", "mlstm_parallel"])
def test_output_losses_do_not_see_the_stabiliser_convention(op, forget_gate):
    """Gradients of y alone: detaching m (stop-gradient) or differentiating its max gives the same result."""
    rng = seeded_rng("stop-m", op, forget_gate)
    if op == "slstm":
        case, fn, module = slstm_case(rng, T=8, forget_gate=forget_gate, dout="y"), torch_slstm, slstm
    else:
        case = mlstm_case(rng, T=8, forget_gate=forget_gate, dout="y", parallel=op == "mlstm_parallel")
        fn, module = torch_mlstm, mlstm if op == "mlstm" else mlstm_parallel
    out_full, grads_full = torch_run(case, fn)
    out_stop, grads_stop = torch_run(case, fn, stop_m=True)
    assert_same(case, (tuple(out_stop), tuple(grads_stop)), (tuple(out_full), tuple(grads_full)), 1e-12,
                "stop-gradient vs through the max", same_type=False)
    out, grads, _ = run_op(module, case)
    assert_same(case, (out, tuple(grads)), (tuple(out_stop), tuple(grads_stop)), RTOL, "bptt vs stop-gradient",
                same_type=False)


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("op", ["slstm", "mlstm", "mlstm_parallel"])
def test_final_state_losses_follow_the_max(op, forget_gate):
    """A gradient of the final cell state alone depends on the state's scale, so the conventions differ;
    bptt differentiates the max as written (torch autograd of the equations, the authors' vanilla code)."""
    rng = seeded_rng("cell-m", op, forget_gate)
    if op == "slstm":
        case, fn, module = slstm_case(rng, T=8, forget_gate=forget_gate, dout="cell"), torch_slstm, slstm
    else:
        case = mlstm_case(rng, T=8, forget_gate=forget_gate, dout="cell", parallel=op == "mlstm_parallel")
        fn, module = torch_mlstm, mlstm if op == "mlstm" else mlstm_parallel
    out_full, grads_full = torch_run(case, fn)
    _, grads_stop = torch_run(case, fn, stop_m=True)
    assert _largest_difference(grads_stop, grads_full) > 1e-3
    out, grads, _ = run_op(module, case)
    assert_same(case, (out, tuple(grads)), (tuple(out_full), tuple(grads_full)), RTOL, "bptt vs through the max",
                same_type=False)
    assert _largest_difference(list(grads), grads_stop) > 1e-3
