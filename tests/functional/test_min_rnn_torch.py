"""minGRU and minLSTM against PyTorch autograd in float64 (<= 1e-10): outputs and every gradient, both tiers,
both modes; and against the ``mingru-pytorch`` package with its weights mapped across.

The torch side is written here from the paper (Feng et al., 2024, arXiv:2410.01201), independently of bptt:
``paper_loop`` is the sequential mode (§3.1/§3.2 with Appendix B's ``g``), one step at a time with the packed
semantics (a padded step keeps the state); ``paper_log`` is Appendix B's log-space parallel listing
(``parallel_scan_log`` with ``log_coeffs``, ``log_z``/``log_f``, ``log_i``, ``log_g``), with the initial state
entering as ``A_t h_0`` (bptt's convention; the listing's ``log_g(h_0)`` is checked separately below). The loss is
``<dy, y> + <dh_n, h_n>`` with random upstream gradients.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from minGRU_pytorch import minGRU as TheirMinGRU
from minGRU_pytorch.minLSTM import minLSTM as TheirMinLSTM

from cases.min_rnn import CELLS, MODES, MinCase, min_case, run
from helpers import assert_close, seeded_rng
from torch_helpers import t64
from torch_min_rnn import paper_log, paper_loop

pytestmark = pytest.mark.torch

RTOL = 1e-10


def torch_outputs_and_grads(case: MinCase, impl: str) -> tuple[list, list]:
    x, h0, W, b, W_out = (None if a is None else t64(a) for a in case.args)
    k = x @ W.T + (0 if b is None else b)
    if impl == "loop":
        y, h_n = paper_loop(case.cell, k, h0, case.kwargs["reverse"], case.kwargs["lengths"])
    else:
        y, h_n = paper_log(case.cell, k, h0, case.kwargs["reverse"])
    if W_out is not None:
        y = y @ W_out.T
    loss = sum((torch.sum(t64(d, False) * o) for d, o in zip(case.dout, (y, h_n)) if d is not None), torch.zeros(()))
    inputs = [x, h0, W, b, W_out]
    grads = torch.autograd.grad(loss, [a for a in inputs if a is not None], allow_unused=True)
    it = iter(grads)
    return [y, h_n], [None if a is None else next(it) for a in inputs]


OPTIONS = list(itertools.product(["min_gru", "min_lstm"], MODES, [False, True], [False, True], [0, 3], [True, False]))


@pytest.mark.parametrize("cell,mode,reverse,lengths,proj_size,bias", OPTIONS)
def test_both_tiers_equal_torch_autograd_of_the_papers_equations(cell, mode, reverse, lengths, proj_size, bias):
    rng = seeded_rng("min-torch", cell, mode, reverse, lengths, proj_size, bias)
    T, B, D, H = (int(v) for v in rng.integers(1, 7, 4))
    case = min_case(cell, rng, T=T + 1, B=B + 1, D=D, H=H, mode=mode, bias=bias, proj_size=proj_size,
                    reverse=reverse, lengths=lengths)
    impls = ["loop"] if lengths else ["loop", "log"]
    for impl in impls:
        out_t, grads_t = torch_outputs_and_grads(case, impl)
        for module in CELLS[cell][:2]:
            out, grads, _ = run(module, case)
            names = ["y", "h_n"] + ["d" + n for n in case.names]
            for name, ours, ref in zip(names, list(out) + list(grads), out_t + grads_t):
                assert_close(ours, ref, RTOL, name=f"{module.__name__} {mode} vs torch {impl}: {name}")


# ------------------------------------------------------------------------------------------ mingru-pytorch
def _theirs(cell: str, dim: int, expansion: float) -> torch.nn.Module:
    torch.manual_seed(0)
    m = (TheirMinGRU if cell == "min_gru" else TheirMinLSTM)(dim, expansion_factor=expansion).double()
    return m


def _linears(cell: str, m: torch.nn.Module) -> tuple[torch.nn.Linear, torch.nn.Linear | None]:
    fused = m.to_hidden_and_gate if cell == "min_gru" else m.to_hidden_and_f_i_gate
    return fused, (m.to_out if isinstance(m.to_out, torch.nn.Linear) else None)


def _to_bptt(cell: str, fused: torch.Tensor) -> np.ndarray:
    """Their fused rows ``[hidden, gate]`` / ``[hidden, f, i]`` in bptt's order ``[z, h]`` / ``[f, i, h]``."""
    blocks = np.split(fused.detach().numpy(), 2 if cell == "min_gru" else 3)
    return np.concatenate(blocks[1:] + blocks[:1])


def _mapped(cell: str, m: torch.nn.Module) -> tuple[np.ndarray, np.ndarray | None]:
    fused, out = _linears(cell, m)
    return _to_bptt(cell, fused.weight), None if out is None else out.weight.detach().numpy()


@pytest.mark.parametrize("cell", ["min_gru", "min_lstm"])
@pytest.mark.parametrize("expansion", [1.0, 1.5])
@pytest.mark.parametrize("mode", MODES)
def test_mingru_pytorch_parallel_path_from_zero_state(cell, expansion, mode):
    rng = seeded_rng("mingru-pytorch", cell, expansion, mode)
    B, T, dim = 3, 11, 4
    m = _theirs(cell, dim, expansion)
    W_ih, W_out = _mapped(cell, m)
    x = rng.standard_normal((B, T, dim))
    xt = t64(x)
    out = m(xt)  # no prev_hidden: the state starts at 0
    dy = rng.standard_normal(out.shape)
    (out * t64(dy, False)).sum().backward()
    fast = CELLS[cell][0]
    H = W_ih.shape[0] // (2 if cell == "min_gru" else 3)
    (y, _), cache = fast.forward(np.ascontiguousarray(x.transpose(1, 0, 2)), np.zeros((B, H)), W_ih, None, W_out,
                                 mode=mode)
    grads = fast.backward((np.ascontiguousarray(dy.transpose(1, 0, 2)), None), cache)
    assert_close(y.transpose(1, 0, 2), out, RTOL, name="y")
    assert_close(grads.dx.transpose(1, 0, 2), xt.grad, RTOL, name="dx")
    fused, lin_out = _linears(cell, m)
    assert_close(grads.dW_ih, _to_bptt(cell, fused.weight.grad), RTOL, name="dW_ih")
    assert (W_out is None) == (expansion == 1.0)
    if W_out is not None:
        assert_close(grads.dW_out, lin_out.weight.grad, RTOL, name="dW_out")


@pytest.mark.parametrize("cell", ["min_gru", "min_lstm"])
def test_mingru_pytorch_initial_state_conventions(cell):
    """With a previous hidden state p > 0: their sequential step (T = 1) starts from p, as bptt does; their
    parallel path starts from p for minGRU (``p.log()``) but from g(p) for minLSTM (``log_g(p)``, the paper's
    listing) -- bptt reproduces that with h0 = g(p)."""
    rng = seeded_rng("mingru-pytorch-h0", cell)
    B, T, dim = 2, 6, 3
    m = _theirs(cell, dim, 1.0)
    W_ih, _ = _mapped(cell, m)
    x = rng.standard_normal((B, T, dim))
    p = rng.uniform(0.2, 2.0, (B, 1, dim))
    fast = CELLS[cell][0]
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
    with torch.no_grad():
        par = m(t64(x, False), t64(p, False)).numpy()
        step = m(t64(x[:, :1], False), t64(p, False)).numpy()
    start = p[:, 0] if cell == "min_gru" else np.where(p[:, 0] >= 0, p[:, 0] + 0.5, 1 / (1 + np.exp(-p[:, 0])))
    (y, _), _ = fast.forward(xt, start, W_ih, mode="parallel")
    assert_close(y.transpose(1, 0, 2), par, RTOL, name="parallel with prev_hidden")
    (y1, _), _ = fast.forward(xt[:1], p[:, 0], W_ih, mode="sequential")
    assert_close(y1.transpose(1, 0, 2), step, RTOL, name="sequential step with prev_hidden")
