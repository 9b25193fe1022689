r"""What minGRU and minLSTM share (Feng et al., 2024, "Were RNNs All We Needed?", arXiv:2410.01201): the input
projection, the scan, the optional output projection, and the paper's positivity function :math:`g`.

Both cells compute every gate from :math:`x_t` alone, so one matrix product gives the pre-activations of all
steps, :math:`K = x W_{ih}^\top + b_{ih}` (``(T, B, G·H)``, ``G`` row blocks), the cell turns them into the
coefficients and values of the linear recurrence :math:`h_t = a_t \odot h_{t-1} + b_t`
(:mod:`bptt.functional.scan`), and the output is :math:`y_t = h_t` or, with the optional down-projection
``W_out`` ``(P, H)`` (mingru-pytorch's ``to_out``, used with the expansion factor :math:`d_h = \alpha d_x`),
:math:`y_t = h_t W_{out}^\top`. The state stays :math:`h_t` (``(B, H)``) either way.

**Two modes** of the same function:

- ``mode="sequential"``: the gates as values (:math:`a_t`, :math:`b_t`), then the step loop
  (the paper's Algorithms 1 and 3, Appendix B's ``sequential`` listings);
- ``mode="parallel"``: the gates as logarithms (:math:`\log a_t`, :math:`\log b_t`, formed with ``softplus``
  and :math:`\log g`, never through a ``log`` of a rounded value), then Heinsen's log-space scan
  (the paper's Algorithms 2 and 4, Appendix B's ``parallel_scan_log`` listings), vectorised over :math:`T`.

**Backward.** The scan's backward (a reverse scan, see :mod:`~bptt.functional.scan`) gives :math:`da, db` (or
:math:`d\log a, d\log b`); the cell maps them to :math:`dK`; then, over all ``T·B`` rows at once,
:math:`dx = dK\, W_{ih}`, :math:`dW_{ih} = dK^\top x`, :math:`db_{ih} = \sum dK`, and
:math:`dW_{out} = \sum_t dy_t^\top h_t` with :math:`dh_t = dy_t W_{out}` entering the scan.

The cells themselves are :mod:`~bptt.functional.min_gru` and :mod:`~bptt.functional.min_lstm`; their textbook
twins :mod:`bptt.functional.reference.min_gru` and :mod:`bptt.functional.reference.min_lstm`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import scan
from .workspace import Workspace, empty, take

MODES = ("parallel", "sequential")


class MinRNNCache(NamedTuple):
    """What ``backward`` needs."""

    x: np.ndarray  # (T, B, D)
    W_ih: np.ndarray  # (G*H, D)
    has_bias: bool
    W_out: np.ndarray | None  # (P, H)
    mode: str
    K: np.ndarray  # (T, B, G*H) gate pre-activations
    saved: tuple  # what the cell's gate backward needs
    scan: scan.ScanCache
    Y: np.ndarray | None  # (T, B, H) the states h_t in time order (zero at padded steps), with a projection
    owned: list


class MinRNNGrads(NamedTuple):
    """Gradients of a minGRU / minLSTM layer without an output projection."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dh0: np.ndarray  # (B, H)
    dW_ih: np.ndarray
    db_ih: np.ndarray | None  # None without a bias


class MinRNNProjectionGrads(NamedTuple):
    """The same followed by the output projection's gradient."""

    dx: np.ndarray | None
    dh0: np.ndarray
    dW_ih: np.ndarray
    db_ih: np.ndarray | None
    dW_out: np.ndarray


# ------------------------------------------------------------------ elementwise functions (fast forms)
def sigmoid(a: np.ndarray) -> np.ndarray:
    r""":math:`\sigma(a)` from :math:`e = e^{-|a|} \le 1`: :math:`1/(1+e)` for :math:`a \ge 0`, :math:`e/(1+e)`
    below. No overflow, and full relative precision also where :math:`\sigma(a)` is tiny (:math:`g(a) = \sigma(a)`
    for :math:`a < 0`); ``exp`` is one of NumPy's vectorised (SIMD) functions, ``logaddexp`` and ``log1p`` are not."""
    e = np.exp(-np.abs(a))
    r = 1 / (1 + e)
    return np.where(a >= 0, r, e * r)


def softplus(a: np.ndarray) -> np.ndarray:
    r""":math:`\log(1 + e^a) = \max(a, 0) + \log(1 + e^{-|a|})` with the vectorised ``exp`` and ``log``. Its
    absolute error is that of a rounding (:math:`\approx \epsilon`), which is all a *logarithm* needs: every
    softplus here is a log-gate (:math:`\log\sigma(k) = -\operatorname{softplus}(-k)`), and an absolute error
    :math:`\epsilon` in :math:`\log z` is a relative error :math:`\epsilon` in :math:`z`."""
    s = np.exp(-np.abs(a))
    s += 1
    np.log(s, out=s)
    s += np.maximum(a, 0)
    return s


def g(a: np.ndarray) -> np.ndarray:
    """The paper's positivity function: ``a + 1/2`` for ``a >= 0``, ``sigmoid(a)`` below (Appendix B)."""
    e = np.exp(np.minimum(a, 0))  # e^a for a < 0
    return np.where(a >= 0, a + 0.5, e / (1 + e))


def g_prime(a: np.ndarray) -> np.ndarray:
    """``g'(a)``: 1 for ``a >= 0``, ``sigmoid(a)(1 - sigmoid(a)) = e^a / (1 + e^a)^2`` below (right derivative
    at 0)."""
    e = np.exp(np.minimum(a, 0))
    return np.where(a >= 0, 1.0, e / (1 + e) ** 2)


def log_g(a: np.ndarray) -> np.ndarray:
    """``log g(a)``: ``log(a + 1/2)`` for ``a >= 0``, ``log sigmoid(a)`` below, one vectorised ``log`` of ``g``.
    (``g(a)`` is exact to a rounding in both branches; it underflows only below ``a = -745``, float64, or
    ``-103``, float32, where ``log g = -inf`` makes ``b = 0``: the true ``b`` is below the smallest float.)"""
    return np.log(g(a))


def log_g_prime(a: np.ndarray) -> np.ndarray:
    """``(log g)'(a)``: ``1/(a + 1/2)`` for ``a >= 0``, ``1 - sigmoid(a) = 1/(1 + e^a)`` below."""
    return 1 / np.where(a >= 0, a + 0.5, 1 + np.exp(np.minimum(a, 0)))


# ------------------------------------------------------------------ the layer
class CellMath(NamedTuple):
    """A cell's gate math: pre-activations ``K`` to the scan's inputs and back."""

    coefficients: Callable  # K -> (a, b, saved)                        (sequential mode)
    coefficients_backward: Callable  # (da, db, K, saved) -> dK
    log_coefficients: Callable  # K -> (log_a, log_b, saved)            (parallel mode)
    log_coefficients_backward: Callable  # (dlog_a, dlog_b, K, saved, a) -> dK (a: the coefficients, time order)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be 'parallel' or 'sequential', got {mode!r}")


def run_layer(cell: CellMath, x: np.ndarray, h0: np.ndarray, W_ih: np.ndarray, b_ih: np.ndarray | None,
                W_out: np.ndarray | None, mode: str, reverse: bool, lengths: np.ndarray | None,
                ws: Workspace | None, record: Callable | None) -> tuple[tuple[np.ndarray, np.ndarray], MinRNNCache]:
    """The forward pass of a cell (``min_gru`` or ``min_lstm``): ``((y, h_n), cache)``."""
    check_mode(mode)
    T, B, D = x.shape
    owned: list = []
    K = empty(ws, (T, B, W_ih.shape[0]), x.dtype, owned)
    np.matmul(x.reshape(T * B, D), W_ih.T, out=K.reshape(T * B, -1))
    if b_ih is not None:
        K += b_ih
    if mode == "parallel":
        log_a, log_b, saved = cell.log_coefficients(K)
        (h, h_n), sc = scan.forward(log_a, log_b, h0, reverse=reverse, lengths=lengths, ws=ws)
    else:
        a, b, saved = cell.coefficients(K)
        (h, h_n), sc = scan.sequential_forward(a, b, h0, reverse=reverse, lengths=lengths, ws=ws)
    y = h if W_out is None else h @ W_out.T
    cache = MinRNNCache(x, W_ih, b_ih is not None, W_out, mode, K, saved, sc, None if W_out is None else h, owned)
    if record is not None:
        record(cache)
    return (y, h_n), cache


def differentiate_layer(cell: CellMath, dout: tuple[np.ndarray | None, np.ndarray | None], cache: MinRNNCache,
                 ws: Workspace | None, need_dx: bool, record: Callable | None
                 ) -> MinRNNGrads | MinRNNProjectionGrads:
    """The backward pass of a cell: :class:`MinRNNGrads` (or :class:`MinRNNProjectionGrads`)."""
    dy, dh_n = dout
    x, W_ih, has_bias, W_out, mode, K, saved, sc, Y, owned = cache
    T, B, D = x.shape
    dy_h = dy if (dy is None or W_out is None) else dy @ W_out  # back through y = h W_out^T
    if mode == "parallel":
        dlog_a, dlog_b, dh0 = scan.backward((dy_h, dh_n), sc, ws=ws)
        dK = cell.log_coefficients_backward(dlog_a, dlog_b, K, saved, scan.coefficients(sc))
    else:
        da, db, dh0 = scan.sequential_backward((dy_h, dh_n), sc, ws=ws)
        dK = cell.coefficients_backward(da, db, K, saved)
    dK2 = dK.reshape(T * B, -1)
    dx = np.matmul(dK2, W_ih).reshape(T, B, D) if need_dx else None
    dW_ih = take(ws, W_ih.shape, x.dtype)
    np.matmul(dK2.T, x.reshape(T * B, D), out=dW_ih)
    db_ih = dK2.sum(axis=0) if has_bias else None
    grads: Any
    if W_out is None:
        grads = MinRNNGrads(dx, dh0, dW_ih, db_ih)
    else:
        dW_out = np.zeros(W_out.shape, dtype=x.dtype) if dy is None else dy.reshape(T * B, -1).T @ Y.reshape(T * B, -1)
        grads = MinRNNProjectionGrads(dx, dh0, dW_ih, db_ih, dW_out)
    if record is not None:
        record(cache, {"dout": dout, "dK": dK, "grads": grads})
    if ws is not None:
        ws.give(*owned)
    return grads
