"""The xLSTM paper's equations written in torch (float64, autograd), independent of bptt's code.

sLSTM: equations (8)-(17), with the block-diagonal recurrent matrix built by ``torch.block_diag``. mLSTM: the
recurrent equations (19)-(27) step by step, and the parallel form of the paper's appendix (masked log-space
decay matrix, row-wise max), each extended by an initial state. ``stop_m=True`` detaches the stabiliser (the
convention of the authors' CUDA kernel), for the tests that compare the two conventions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF

from cases.reference import Case
from torch_helpers import t64


def log_forget(a_f: torch.Tensor, forget_gate: str) -> torch.Tensor:
    return TF.logsigmoid(a_f) if forget_gate == "sigmoid" else a_f


def torch_slstm(x, h0, c0, n0, m0, W_ih, W_hh, b, *, forget_gate: str = "sigmoid", stop_m: bool = False):
    """``(y, h_n, c_n, n_n, m_n)`` of the sLSTM, one step at a time."""
    H, S = W_ih.shape[0] // 4, W_hh.shape[1]
    R = torch.cat([torch.block_diag(*W_hh[g * H:(g + 1) * H].split(S)) for g in range(4)])  # (4H, H)
    h, c, n, m = h0, c0, n0, m0
    ys = []
    for t in range(x.shape[0]):
        a = x[t] @ W_ih.T + h @ R.T + (0 if b is None else b)
        a_i, a_f, a_z, a_o = a.chunk(4, dim=1)
        log_f = log_forget(a_f, forget_gate)
        m_new = torch.maximum(log_f + m, a_i)  # (15)
        if stop_m:
            m_new = m_new.detach()
        i = torch.exp(a_i - m_new)  # (16)
        f = torch.exp(log_f + m - m_new)  # (17)
        c = f * c + i * torch.tanh(a_z)  # (8)
        n = f * n + i  # (9)
        h = torch.sigmoid(a_o) * c / n  # (10)
        m = m_new
        ys.append(h)
    return torch.stack(ys), h, c, n, m


def mlstm_projections(x, W, b, K: int):
    """q, k, v ``(..., K, S)``, i~, f~ ``(..., K)``, o~ ``(..., H)`` (eqs 22-27)."""
    H = (W.shape[0] - 2 * K) // 4
    S = H // K
    Wq, Wk, Wv, wi, wf, Wo = W.split([H, H, H, K, K, H])
    bq, bk, bv, bi, bf, bo = (torch.zeros(W.shape[0], dtype=W.dtype) if b is None else b).split([H, H, H, K, K, H])
    heads = x.shape[:-1] + (K, S)
    q = (x @ Wq.T + bq).reshape(heads)
    k = (x @ Wk.T / math.sqrt(S) + bk).reshape(heads)
    v = (x @ Wv.T + bv).reshape(heads)
    return q, k, v, x @ wi.T + bi, x @ wf.T + bf, x @ Wo.T + bo


def torch_mlstm(x, C0, n0, m0, W, b, *, forget_gate: str = "sigmoid", stop_m: bool = False):
    """``(y, C_n, n_n, m_n)`` of the mLSTM's recurrent form."""
    T, B, _ = x.shape
    K = n0.shape[1]
    q, k, v, a_i, a_f, a_o = mlstm_projections(x, W, b, K)
    C, n, m = C0, n0, m0
    ys = []
    for t in range(T):
        log_f = log_forget(a_f[t], forget_gate)
        m_new = torch.maximum(log_f + m, a_i[t])
        if stop_m:
            m_new = m_new.detach()
        i = torch.exp(a_i[t] - m_new)
        f = torch.exp(log_f + m - m_new)
        C = f[..., None, None] * C + i[..., None, None] * (v[t][..., :, None] * k[t][..., None, :])  # (19)
        n = f[..., None] * n + i[..., None] * k[t]  # (20)
        den = torch.maximum((n * q[t]).sum(-1).abs(), torch.exp(-m_new))
        h_tilde = (C @ q[t][..., None])[..., 0] / den[..., None]  # (21)
        ys.append(torch.sigmoid(a_o[t]) * h_tilde.reshape(B, -1))
        m = m_new
    return torch.stack(ys), C, n, m


def torch_mlstm_parallel(x, C0, n0, m0, W, b, *, forget_gate: str = "sigmoid"):
    """``(y, C_n, n_n, m_n)`` of the mLSTM's parallel form (the appendix's D matrix, plus an initial state)."""
    T, B, _ = x.shape
    K = n0.shape[1]
    q, k, v, a_i, a_f, a_o = mlstm_projections(x, W, b, K)
    q, k, v, a_i, a_f = (p.movedim(0, 2) for p in (q, k, v, a_i, a_f))  # (B, K, T, ...)
    F = torch.cumsum(log_forget(a_f, forget_gate), dim=-1)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    log_D = torch.where(causal, F[..., :, None] - F[..., None, :] + a_i[..., None, :], -math.inf)
    log_w = F + m0[..., None]
    m = torch.maximum(log_w, log_D.max(dim=-1).values)
    D = torch.exp(log_D - m[..., None])
    w = torch.exp(log_w - m)
    Ct = (q @ k.transpose(-1, -2)) * D
    qn = Ct.sum(-1) + w * (q @ n0[..., None])[..., 0]
    num = Ct @ v + w[..., None] * (q @ C0.transpose(-1, -2))
    h_tilde = num / torch.maximum(qn.abs(), torch.exp(-m))[..., None]
    y = torch.sigmoid(a_o) * h_tilde.movedim(2, 0).reshape(T, B, -1)
    C_n = (v.transpose(-1, -2) * D[..., -1, None, :]) @ k + w[..., -1, None, None] * C0
    n_n = (D[..., -1, None, :] @ k)[..., 0, :] + w[..., -1, None] * n0
    return y, C_n, n_n, m[..., -1]


def torch_run(case: Case, fn, **kwargs) -> tuple[list, list]:
    """Outputs of ``fn`` on the case's arguments and the gradients of ``sum_j <dout_j, out_j>`` with respect
    to every array argument (``None`` for absent ones), as numpy arrays."""
    args = [None if a is None else t64(a) for a in case.args]
    outs = fn(*args, **case.kwargs, **kwargs)
    loss = sum((o * torch.from_numpy(d)).sum() for o, d in zip(outs, case.dout) if d is not None)
    present = [a for a in args if a is not None]
    grads = iter(torch.autograd.grad(loss, present, allow_unused=True))
    result = []
    for a in args:
        g = None if a is None else next(grads)
        result.append(None if a is None else (torch.zeros_like(a) if g is None else g).numpy())
    return [o.detach().numpy() for o in outs], result
