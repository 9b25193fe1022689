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

from ..module import Parameter


def _as_params(parameters: Parameter | Iterable[Parameter], where: str) -> list[Parameter]:
    if isinstance(parameters, Parameter):
        return [parameters]
    if not isinstance(parameters, Iterable) or isinstance(parameters, (str, bytes)):
        raise TypeError(
            f"{where}: parameters must be a Parameter or an iterable of Parameters "
            f"(e.g. model.parameters()), got {type(parameters).__name__}"
        )
    params = list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(
                f"{where}: parameters must all be Parameters, got {type(p).__name__} at index {i}"
            )
    return params


def _real(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a float, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{where}: {name} must not be NaN, got {value}")
    return value


def clip_grad_norm_(
    parameters: Parameter | Iterable[Parameter],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale gradients in place so their total ``norm_type``-norm is at most ``max_norm``; return the norm."""
    where = "clip_grad_norm_"
    params = _as_params(parameters, where)
    max_norm = _real(max_norm, "max_norm", where)
    if max_norm < 0:
        raise ValueError(f"{where}: max_norm must be >= 0, got {max_norm}")
    norm_type = _real(norm_type, "norm_type", where)
    if norm_type <= 0:
        raise ValueError(f"{where}: norm_type must be > 0 or inf, got {norm_type}")
    if not params:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # overflow gives inf and NaN gives NaN, as in PyTorch
        if norm_type == math.inf:
            # np.max, not Python's max: a NaN in any gradient must make the total NaN (PyTorch's result)
            maxima = [np.max(np.abs(p.grad)) for p in params if p.grad.size]
            total = float(np.max(maxima)) if maxima else 0.0
        elif norm_type == 2.0:
            s = sum(float(np.dot(p.grad.ravel(), p.grad.ravel())) for p in params)
            total = math.sqrt(s)
        else:
            per = [np.sum(np.abs(p.grad.astype(np.float64)) ** norm_type) for p in params]
            total = float(np.sum(per)) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"{where}: the total norm of order {norm_type} of the gradients is non-finite ({total})"
        )
    clip_coef = max_norm / (total + 1e-6)
    if not clip_coef >= 1.0:  # also when NaN: PyTorch's clamp keeps the NaN and scales every gradient by it
        with np.errstate(invalid="ignore"):
            for p in params:
                p.grad *= p.grad.dtype.type(clip_coef)
    return total


def clip_grad_value_(parameters: Parameter | Iterable[Parameter], clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place."""
    where = "clip_grad_value_"
    params = _as_params(parameters, where)
    clip_value = _real(clip_value, "clip_value", where)
    if clip_value < 0:
        raise ValueError(f"{where}: clip_value must be a float >= 0, got {clip_value}")
    for p in params:
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
