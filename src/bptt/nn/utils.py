r"""Gradient clipping with PyTorch's semantics.

``clip_grad_norm_`` computes the total norm of all gradients together,

.. math::  \|g\|_p = \Big(\sum_{\text{params}} \sum_k |g_k|^p\Big)^{1/p} \quad (p = \infty: \max_k |g_k|),

and, when it exceeds ``max_norm``, multiplies every gradient by ``max_norm / (norm + 1e-6)`` (PyTorch's
``clip_coef``, clamped to at most 1). It returns the norm measured *before* clipping.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from .module import Parameter


def _as_params(parameters: Parameter | Iterable[Parameter], where: str) -> list[Parameter]:
    if isinstance(parameters, Parameter):
        return [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Parameter):
            raise TypeError(f"{where}: parameters must be Parameters, got {type(p).__name__}")
    return params


def clip_grad_norm_(
    parameters: Parameter | Iterable[Parameter],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale gradients in place so their total ``norm_type``-norm is at most ``max_norm``; return the norm."""
    where = "clip_grad_norm_"
    params = _as_params(parameters, where)
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool):
        raise TypeError(f"{where}: max_norm must be a float, got {max_norm!r}")
    norm_type = float(norm_type)
    if not params:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(p.grad))) if p.grad.size else 0.0 for p in params)
    elif norm_type <= 0:
        raise ValueError(f"{where}: norm_type must be > 0 or inf, got {norm_type}")
    else:
        if norm_type == 2.0:
            s = sum(float(np.dot(p.grad.ravel(), p.grad.ravel())) for p in params)
            total = math.sqrt(s)
        else:
            per = [np.sum(np.abs(p.grad.astype(np.float64)) ** norm_type) for p in params]
            total = float(np.sum(per)) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{where}: the total norm of order {norm_type} of the gradients is non-finite ({total})")
    clip_coef = float(max_norm) / (total + 1e-6)
    if clip_coef < 1.0:
        for p in params:
            p.grad *= p.grad.dtype.type(clip_coef)
    return total


def clip_grad_value_(parameters: Parameter | Iterable[Parameter], clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    where = "clip_grad_value_"
    params = _as_params(parameters, where)
    if not isinstance(clip_value, numbers.Real) or isinstance(clip_value, bool) or clip_value < 0:
        raise ValueError(f"{where}: clip_value must be a float >= 0, got {clip_value!r}")
    for p in params:
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
