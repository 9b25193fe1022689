"""bptt's sLSTM and mLSTM against the authors' ``xlstm`` package (its vanilla PyTorch code), weights mapped
across, float64 (<= 1e-10): outputs, the unstabilised states and every gradient of a loss on the outputs.

What is compared is the *cell*: the package's ``sLSTMCell`` (``backend="vanilla"``) fed bptt's input
projections, and its mLSTM backends ``parallel_stabilized_simple`` / ``recurrent_step_stabilized_simple`` fed
bptt's projections (the package's blocks add convolutions, norms and up-projections bptt does not implement;
docs/cells.md lists every convention). The package has no initial-state argument for the parallel mLSTM and
starts the sLSTM from zeros, so bptt starts from zeros too. Needs ``pip install xlstm``: skipped with that hint
when it is missing, a failure under ``BPTT_REQUIRE_XLSTM=1``.
"""

from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest
import torch

from bptt.functional import mlstm, mlstm_parallel, slstm
from cases.torch_xlstm import mlstm_projections
from helpers import assert_close, distinct_uniform, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch

XLSTM_HELP = "the authors' xlstm package is not installed: python -m pip install xlstm"


def package(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("BPTT_REQUIRE_XLSTM") == "1":
            pytest.fail(f"BPTT_REQUIRE_XLSTM=1: {XLSTM_HELP}")
        pytest.skip(XLSTM_HELP)


T, B, D = 7, 3, 5


@pytest.mark.parametrize("heads,head_size", [(1, 4), (2, 3)])
def test_slstm_cell_equals_the_package(heads, head_size):
    cell_module = package("xlstm.blocks.slstm.cell")
    K, S = heads, head_size
    H = K * S
    rng = seeded_rng("xlstm-slstm", heads)
    x = rng.standard_normal((T, B, D))
    W_ih, W_hh, b = (distinct_uniform(rng, shape) for shape in ((4 * H, D), (4 * H, S), (4 * H,)))
    zeros = np.zeros((B, H))
    (y, h_n, c_n, n_n, m_n), cache = slstm.forward(x, zeros, zeros, zeros, zeros, W_ih, W_hh, b)
    y = y.copy()
    dy = rng.standard_normal(y.shape)
    grads = slstm.backward((dy, None, None, None, None), cache)

    config = cell_module.sLSTMCellConfig(hidden_size=H, num_heads=K, backend="vanilla", function="slstm",
                                         input_shape="SBGNH", output_shape="SBH", dtype="float32")
    cell = cell_module.sLSTMCell(config).double()
    with torch.no_grad():  # R[k, in, gate, out] and b[k, gate, out] in the package's external layout
        cell._recurrent_kernel_.copy_(cell._recurrent_kernel_ext2int(
            torch.from_numpy(W_hh.reshape(4, K, S, S).transpose(1, 3, 0, 2).copy())))
        cell._bias_.copy_(cell._bias_ext2int(torch.from_numpy(b.reshape(4, K, S).transpose(1, 0, 2).copy())))
    xt, W = t64(x), t64(W_ih)
    out, state = cell(xt @ W.T)  # the cell reads the input projections x W_ih^T, gate-major
    (out * torch.from_numpy(dy)).sum().backward()

    assert_close(y, out, 1e-10, "y")
    y_p, c_p, n_p, m_p = state.detach().numpy()
    assert_close(h_n, y_p, 1e-10, "h_n")
    # the stabilised states differ by the package's first-step rule (m_1 = i~_1 when n = 0), the
    # unstabilised ones c e^m and n e^m do not
    assert_close(c_n * np.exp(m_n), c_p * np.exp(m_p), 1e-10, "c_n e^m_n")
    assert_close(n_n * np.exp(m_n), n_p * np.exp(m_p), 1e-10, "n_n e^m_n")
    assert_close(grads.dx, xt.grad, 1e-10, "dx")
    assert_close(grads.dW_ih, W.grad, 1e-10, "dW_ih")
    dR = cell._recurrent_kernel_int2ext(cell._recurrent_kernel_.grad).numpy()  # (K, in, gate, out)
    assert_close(grads.dW_hh, dR.transpose(2, 0, 3, 1).reshape(4 * H, S), 1e-10, "dW_hh")
    assert_close(grads.db, cell._bias_int2ext(cell._bias_.grad).numpy().transpose(1, 0, 2).reshape(-1), 1e-10,
                 "db")


def _mlstm_weights(rng: np.random.Generator, K: int, S: int) -> tuple[np.ndarray, ...]:
    H = K * S
    return (rng.standard_normal((T, B, D)), distinct_uniform(rng, (4 * H + 2 * K, D), -0.8, 0.8),
            distinct_uniform(rng, (4 * H + 2 * K,)))


def _package_mlstm(backends, x, W, b, K: int, S: int, *, form: str, eps: float):
    """y of the package's backend on bptt's projections: keys times sqrt(S) (the package divides them by it),
    gate pre-activations as (B, K, T, 1), then bptt's output gate. Returns ``(y, final state or None)``."""
    q, k, v, a_i, a_f, a_o = mlstm_projections(x, W, b, K)
    q, k, v = (t.permute(1, 2, 0, 3) for t in (q, k * math.sqrt(S), v))  # (B, K, T, S)
    a_i, a_f = (t.permute(1, 2, 0)[..., None] for t in (a_i, a_f))  # (B, K, T, 1)
    state = None
    if form == "parallel":
        h_tilde = backends.parallel_stabilized_simple(q, k, v, a_i, a_f, eps=eps)
    else:
        C = torch.zeros(B, K, S, S, dtype=torch.float64)
        n = torch.zeros(B, K, S, 1, dtype=torch.float64)
        m = torch.zeros(B, K, 1, 1, dtype=torch.float64)
        steps = []
        for t in range(T):
            h, (C, n, m) = backends.recurrent_step_stabilized_simple(
                C, n, m, q[:, :, t:t + 1].clone(), k[:, :, t:t + 1].clone(), v[:, :, t:t + 1].clone(),
                a_i[:, :, t:t + 1], a_f[:, :, t:t + 1], eps=eps)
            steps.append(h)
        h_tilde = torch.cat(steps, dim=2)
        state = (C, n, m)
    y = torch.sigmoid(a_o) * h_tilde.permute(2, 0, 1, 3).reshape(T, B, K * S)
    return y, state


@pytest.mark.parametrize("form", ["parallel", "recurrent"])
@pytest.mark.parametrize("heads,head_size", [(1, 4), (2, 3)])
def test_mlstm_equals_the_package_backends(form, heads, head_size):
    backends = package("xlstm.blocks.mlstm.backends")
    K, S = heads, head_size
    rng = seeded_rng("xlstm-mlstm", form, heads)
    x, W, b = _mlstm_weights(rng, K, S)
    zero = (np.zeros((B, K, S, S)), np.zeros((B, K, S)), np.zeros((B, K)))
    dy = rng.standard_normal((T, B, K * S))
    xt, Wt, bt = t64(x), t64(W), t64(b)
    y_p, state = _package_mlstm(backends, xt, Wt, bt, K, S, form=form, eps=0.0)
    (y_p * torch.from_numpy(dy)).sum().backward()
    for op in (mlstm, mlstm_parallel):  # both of bptt's forms against each of the package's
        (y, C_n, n_n, m_n), cache = op.forward(x, *zero, W, b)
        grads = op.backward((dy, None, None, None), cache)
        assert_close(y, y_p, 1e-10, f"{op.__name__} y")
        assert_close(grads.dx, xt.grad, 1e-10, "dx")
        assert_close(grads.dW, Wt.grad, 1e-10, "dW")
        assert_close(grads.db, bt.grad, 1e-10, "db")
        if state is not None:  # the package's C is k v^T: bptt's v k^T transposed
            assert_close(C_n, state[0].detach().numpy().swapaxes(-1, -2), 1e-10, "C_n")
            assert_close(n_n, state[1].detach().numpy()[..., 0], 1e-10, "n_n")
            assert_close(m_n, state[2].detach().numpy()[..., 0, 0], 1e-10, "m_n")


def test_the_package_eps_is_the_only_difference_in_the_denominator():
    """With its default eps = 1e-6 added to max(|n^T q|, exp(-m)), the package's outputs move by about
    1e-6 relative: bptt follows the paper (no eps)."""
    backends = package("xlstm.blocks.mlstm.backends")
    x, W, b = _mlstm_weights(seeded_rng("xlstm-eps"), 2, 3)
    (y, *_), _ = mlstm.forward(x, np.zeros((B, 2, 3, 3)), np.zeros((B, 2, 3)), np.zeros((B, 2)), W, b)
    with torch.no_grad():
        y_eps, _ = _package_mlstm(backends, t64(x), t64(W), t64(b), 2, 3, form="parallel", eps=1e-6)
    rel = float(np.abs(y - y_eps.numpy()).max() / np.abs(y).max())
    assert 1e-9 < rel < 1e-5, rel
