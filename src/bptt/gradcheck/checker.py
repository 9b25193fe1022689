r"""The finite-difference checker: central differences against any forward/backward pair or module.

The hand-derived backward passes are checked against central differences in float64:

.. math::

    \frac{\partial L}{\partial \theta_k} \approx
    \frac{L(\theta + \epsilon e_k) - L(\theta - \epsilon e_k)}{2\epsilon}

where the scalar :math:`L = \sum_j \langle w_j, \mathrm{out}_j \rangle` contracts every output with a fixed
random weight :math:`w_j` (which is also the upstream gradient handed to ``backward``). The truncation error
is :math:`O(\epsilon^2)` and the rounding error :math:`O(u/\epsilon)`, so with ``eps = 1e-6`` agreement is
about 1e-8 relative; far tighter checks (1e-10, against PyTorch autograd) live in the test suite.

>>> import numpy as np, bptt
>>> from bptt.functional import tanh
>>> report = bptt.check_function(tanh.forward, tanh.backward, [np.linspace(-2, 2, 5)])
>>> report.ok
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..nn.module import Module, no_grad


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with finite differences."""


@dataclass
class GradcheckReport:
    """Per-argument worst errors: ``{name: (max_abs_error, max_rel_error, n_checked)}``."""

    errors: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        lines = [f"{'argument':<28} {'max abs err':>12} {'max rel err':>12} {'checked':>8}"]
        for name, (a, r, n) in self.errors.items():
            lines.append(f"{name:<28} {a:12.3e} {r:12.3e} {n:8d}")
        lines.append("OK" if self.ok else "FAILED: " + ", ".join(self.failures))
        return "\n".join(lines)


def numerical_gradient(
    f: Callable[[], float], x: np.ndarray, eps: float = 1e-6, indices: Sequence[tuple[int, ...]] | None = None
) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to ``x`` (perturbed in place, restored).

    With ``indices`` only those entries are computed (the rest of the result is NaN).
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient: x must be float64 for meaningful finite differences, got {x.dtype}")
    grad = np.full(x.shape, np.nan) if indices is not None else np.zeros(x.shape)
    it = indices if indices is not None else list(np.ndindex(x.shape))
    for idx in it:
        old = x[idx]
        x[idx] = old + eps
        fp = f()
        x[idx] = old - eps
        fm = f()
        x[idx] = old
        grad[idx] = (fp - fm) / (2 * eps)
    return grad


def _flatten(obj: Any) -> list[Any]:
    if isinstance(obj, (tuple, list)):
        out: list[Any] = []
        for o in obj:
            out.extend(_flatten(o))
        return out
    return [obj]


def _unflatten_like(obj: Any, flat: list[Any]) -> Any:
    it = iter(flat)

    def build(o: Any) -> Any:
        if isinstance(o, (tuple, list)):
            return tuple(build(e) for e in o)
        return next(it)

    return build(obj)


def _random_like(out: Any, rng: np.random.Generator) -> Any:
    flat = _flatten(out)
    w = [None if a is None else rng.standard_normal(np.shape(a)) for a in flat]
    return _unflatten_like(out, w)


def _contract(out: Any, w: Any) -> float:
    return float(sum(np.sum(np.asarray(a) * b) for a, b in zip(_flatten(out), _flatten(w)) if a is not None))


def _pick(shape: tuple, max_elements: int | None, rng: np.random.Generator) -> list[tuple[int, ...]]:
    all_idx = list(np.ndindex(shape))
    if max_elements is None or len(all_idx) <= max_elements:
        return all_idx
    chosen = rng.choice(len(all_idx), size=max_elements, replace=False)
    return [all_idx[i] for i in sorted(chosen)]


def _compare(
    report: GradcheckReport, name: str, analytic: np.ndarray, numeric: np.ndarray,
    idx: list[tuple[int, ...]], rtol: float, atol: float,
) -> None:
    a = np.array([analytic[i] for i in idx], dtype=np.float64)
    n = np.array([numeric[i] for i in idx], dtype=np.float64)
    abs_err = np.abs(a - n)
    rel = abs_err / np.maximum(np.abs(n), atol / max(rtol, 1e-300))
    report.errors[name] = (float(abs_err.max(initial=0.0)), float(rel.max(initial=0.0)), len(idx))
    if np.any(abs_err > atol + rtol * np.abs(n)) or not np.all(np.isfinite(a)):
        report.failures.append(name)


def check_function(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[Any, Any], Any],
    inputs: Sequence[Any],
    *,
    kwargs: dict[str, Any] | None = None,
    names: Sequence[str] | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_elements: int | None = 400,
    seed: int = 0,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Check a functional ``forward(*inputs, **kwargs) -> (out, cache)`` / ``backward(dout, cache)`` pair.

    ``backward`` must return one gradient per positional input (a tuple, or a single array for one input),
    or one per float input when the others are integer (ids, targets). ``None`` inputs and gradients are
    skipped, and so are non-float inputs. Float inputs are copied to float64. ``out`` may be an array or a
    (nested) tuple of arrays.
    """
    kwargs = dict(kwargs or {})
    rng = np.random.default_rng(seed)
    args = [
        a.astype(np.float64) if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating) else a
        for a in inputs
    ]
    names = list(names) if names is not None else [f"input[{i}]" for i in range(len(args))]
    out, cache = forward(*args, **kwargs)
    w = _random_like(out, rng)
    grads = backward(w, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    is_float = [isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating) for a in args]
    if len(grads) != len(args):
        if len(grads) != sum(is_float):
            raise ValueError(
                f"check_function: backward returned {len(grads)} gradients for {len(args)} inputs "
                f"({sum(is_float)} of them float arrays)"
            )
        it = iter(grads)  # one gradient per float input (e.g. embedding's dE, cross-entropy's dlogits)
        grads = tuple(next(it) if f else None for f in is_float)

    def loss() -> float:
        o, _ = forward(*args, **kwargs)
        return _contract(o, w)

    report = GradcheckReport()
    for name, a, g in zip(names, args, grads):
        if g is None or not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.floating):
            continue
        idx = _pick(a.shape, max_elements, rng)
        num = numerical_gradient(loss, a, eps, idx)
        _compare(report, name, np.asarray(g), num, idx, rtol, atol)
    if raise_on_failure and not report.ok:
        raise GradcheckError(f"gradcheck failed for {report.failures}\n{report}")
    return report


def check_module(
    module: Module,
    *inputs: Any,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_elements: int | None = 200,
    seed: int = 0,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Check ``module.backward`` against finite differences for every float input and every parameter.

    The module must be float64 and deterministic (e.g. ``eval()`` for dropout). Its output structure
    defines the upstream gradient: ``out = module(*inputs)`` is contracted with random weights of the same
    structure ``w``, and ``module.backward(*w)`` is called; so an LSTM's ``(y, (h_n, c_n))`` is
    differentiated as ``lstm.backward(w_y, (w_h, w_c))``. The returned input gradients are matched, in
    order, to the flattened float inputs (``x, (h0, c0)`` for an LSTM).
    """
    if not isinstance(module, Module):
        raise TypeError(f"check_module: module must be a bptt.nn.Module, got {type(module).__name__}")
    for name, p in module.named_parameters():
        if p.dtype != np.float64:
            raise TypeError(f"check_module: parameter {name} is {p.dtype}; build the module with dtype=np.float64")
    rng = np.random.default_rng(seed)
    inputs = tuple(inputs)
    out = module(*inputs)
    w = _random_like(out, rng)
    saved = {n: p.grad.copy() for n, p in module.named_parameters()}
    module.zero_grad()
    wargs = w if isinstance(out, tuple) else (w,)
    grads = module.backward(*wargs)
    float_inputs = [
        a for a in _flatten(inputs) if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)
    ]
    grad_list = [g for g in _flatten(grads) if g is not None] if grads is not None else []

    def loss() -> float:
        with no_grad():
            return _contract(module(*inputs), w)

    report = GradcheckReport()
    for i, (a, g) in enumerate(zip(float_inputs, grad_list)):
        idx = _pick(a.shape, max_elements, rng)
        _compare(report, f"input[{i}]", np.asarray(g), numerical_gradient(loss, a, eps, idx), idx, rtol, atol)
    for name, p in module.named_parameters():
        idx = _pick(p.shape, max_elements, rng)
        _compare(report, name, p.grad, numerical_gradient(loss, p.data, eps, idx), idx, rtol, atol)
    for name, p in module.named_parameters():  # leave the caller's gradients as they were
        p.grad[...] = saved[name]
    if raise_on_failure and not report.ok:
        raise GradcheckError(f"gradcheck failed for {report.failures}\n{report}")
    return report
