"""minGRU and minLSTM written in torch from the paper (Feng et al., 2024, arXiv:2410.01201), independently of
bptt, for the torch-marked tests: the sequential mode one step at a time (§3.1/§3.2 with Appendix B's ``g``) and
Appendix B's log-space parallel listing. Time-major tensors; ``k`` are the gates' pre-activations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as TF


def g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, (TF.relu(x) + 0.5).log(), -TF.softplus(-x))


def paper_step(cell: str, k: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
    """One step of the paper's sequential mode from the pre-activations ``k`` of that step."""
    if cell == "min_gru":
        k_z, k_h = k.chunk(2, dim=-1)
        z = torch.sigmoid(k_z)
        return (1 - z) * h_prev + z * g(k_h)
    k_f, k_i, k_h = k.chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    return f / (f + i) * h_prev + i / (f + i) * g(k_h)


def paper_loop(cell: str, k: torch.Tensor, h0: torch.Tensor, reverse: bool, lengths) -> tuple:
    T, B = k.shape[:2]
    mask = torch.ones(T, B, 1, dtype=torch.bool) if lengths is None else (
        torch.arange(T)[:, None] < torch.as_tensor(lengths)[None, :])[:, :, None]
    h, ys = h0, [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        h_new = paper_step(cell, k[t], h)
        h = torch.where(mask[t], h_new, h)
        ys[t] = torch.where(mask[t], h_new, torch.zeros_like(h_new))
    return torch.stack(ys), h


def paper_log(cell: str, k: torch.Tensor, h0: torch.Tensor, reverse: bool) -> tuple:
    """Appendix B's log-space listing (time-major), reverse by flipping the sequence."""
    if reverse:
        k = k.flip(0)
    if cell == "min_gru":
        k_z, k_h = k.chunk(2, dim=-1)
        log_coeffs, log_values = -TF.softplus(k_z), -TF.softplus(-k_z) + log_g(k_h)
    else:
        k_f, k_i, k_h = k.chunk(3, dim=-1)
        diff = TF.softplus(-k_f) - TF.softplus(-k_i)
        log_coeffs, log_values = -TF.softplus(diff), -TF.softplus(-diff) + log_g(k_h)
    a_star = torch.cumsum(log_coeffs, dim=0)
    h = torch.exp(a_star) * h0 + torch.exp(a_star + torch.logcumsumexp(log_values - a_star, dim=0))
    return (h.flip(0) if reverse else h), h[-1]
