r"""The linear recurrence :math:`h_t = a_t \odot h_{t-1} + b_t` over a whole sequence, both directions vectorised.

minGRU and minLSTM (Feng et al., 2024, "Were RNNs All We Needed?", :mod:`~bptt.functional.min_gru`,
:mod:`~bptt.functional.min_lstm`) reduce a recurrent layer to this one recurrence: their coefficients
:math:`a_t \in (0, 1)` and values :math:`b_t > 0` are computed from :math:`x_t` alone, so the whole sequence is a
*scan*. Shapes: ``(T, B, H)`` for :math:`a`, :math:`b` and the outputs, ``(B, H)`` for :math:`h_0`.

**Closed form.** With :math:`A_t = \prod_{r \le t} a_r` (and :math:`A_{-1} = 1`),

.. math::

    h_t = A_t\, h_0 + \sum_{s \le t} \frac{A_t}{A_s}\, b_s .

**Parallel mode** (:func:`forward`, Heinsen 2023, the paper's Appendix B ``parallel_scan_log``) works on
logarithms, :math:`a^*_t = \sum_{r \le t} \log a_r` (a cumulative sum), and

.. math::

    \log\Big(\sum_{s \le t} \tfrac{A_t}{A_s} b_s\Big) = a^*_t + \operatorname{logcumsumexp}_{s \le t}
        \big(\log b_s - a^*_s\big), \qquad h_t = e^{a^*_t} h_0 + e^{\,a^*_t + \operatorname{logcumsumexp}(\dots)}

two prefix operations over :math:`T` (``np.cumsum`` and ``np.logaddexp.accumulate``), no loop over steps. The
:math:`h_0` term is added outside the logarithm, so :math:`h_0` may have any sign (the paper's listing takes
``log g(h_0)`` instead; see docs/cells.md). It takes ``log_a`` and ``log_b``, so the cells can form them without
ever exponentiating (``log sigmoid(k) = -softplus(-k)``).

**Backward: a reverse scan.** Let :math:`\delta_t = \partial L/\partial y_t` (plus :math:`\partial L/\partial h_n`
at the last step) and :math:`G_t = \partial L / \partial h_t` the total gradient of :math:`h_t`. Since
:math:`h_t` reaches the loss directly and through :math:`h_{t+1} = a_{t+1} h_t + b_{t+1}`,

.. math::

    G_t &= \delta_t + a_{t+1}\, G_{t+1} \qquad (G_{T-1} = \delta_{T-1})
        \qquad\text{— the same recurrence, run backwards, with coefficients shifted by one}\\
    \frac{\partial L}{\partial a_t} &= G_t\, h_{t-1}, \qquad \frac{\partial L}{\partial b_t} = G_t, \qquad
    \frac{\partial L}{\partial h_0} = a_0\, G_0

and, for the logarithmic inputs, :math:`\partial L/\partial \log a_t = G_t\, a_t\, h_{t-1}`,
:math:`\partial L/\partial \log b_t = G_t\, b_t`. In closed form
:math:`G_t = \sum_{s \ge t} (A_s / A_t)\, \delta_s = e^{-a^*_t} \sum_{s \ge t} e^{a^*_s} \delta_s`, a *reverse*
cumulative log-sum-exp. The gradients :math:`\delta_s` have both signs, so the sum is split into its positive
and negative parts, each a log-space reverse scan of :math:`a^*_s + \log \delta_s^{\pm}`:
:math:`G_t = e^{R^+_t - a^*_t} - e^{R^-_t - a^*_t}`.

**No overflow, no spurious underflow.** The cumulative products :math:`A_t` themselves are never formed: they
underflow to 0 after a few hundred steps (:math:`a^*_t \to -\infty`) and their reciprocals overflow. Only
*ratios* :math:`A_t / A_s = e^{a^*_t - a^*_s}` with :math:`s \le t` appear, and since :math:`a_r \le 1` every such
ratio is at most 1: the large magnitudes :math:`|a^*_s|` stay inside ``logaddexp``, which evaluates
:math:`\log(e^u + e^v) = \max(u, v) + \log(1 + e^{-|u - v|})` and never exponentiates them; every ``exp`` taken
has an argument bounded above by :math:`\log \sum_s b_s` (forward) or :math:`\log \sum_s |\delta_s|` (backward).
An ``exp`` that underflows is a contribution that really is below the smallest float. The price of the log
domain is precision: :math:`a^*_t` carries an absolute rounding error of about :math:`\epsilon\,|a^*_t|`, so
:math:`h_t` and :math:`G_t` agree with the step loop to a relative :math:`\approx \epsilon\,|a^*_t|`
(:math:`10^{-13}` at :math:`|a^*| = 1000` in float64; in float32 :math:`6 \cdot 10^{-5}`).

**Sequential mode** (:func:`sequential_forward`, :func:`sequential_backward`) is the step loop on the values
``a`` and ``b`` themselves (the paper's Algorithms 1 and 3), with the backward as the same reverse recurrence,
one step at a time; the weight-like gradients ``da``, ``db`` are then one vectorised product each.

**Direction and lengths.** ``reverse=True`` runs ``t = T-1 .. 0`` (everything stays in time order).
``lengths`` gives packed-sequence semantics: at a padded step the recurrence is made the identity
(:math:`a = 1`, :math:`b = 0`, i.e. ``log_a = 0``, ``log_b = -inf``), so the state is kept, the output is zero
and the gradient passes straight through; the gradients of ``a`` and ``b`` there are zero.

The textbook twin is :mod:`bptt.functional.reference.scan` (one step per function, one equation per line).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import sequence as seq
from .workspace import Workspace, empty


class ScanCache(NamedTuple):
    """What the backward passes need, every ``(T, ·)`` array in *processing* order (reversed for ``reverse``)."""

    coef: np.ndarray  # (T, B, H) the coefficients a_t (after the lengths mask)
    value: np.ndarray  # (T, B, H) the values b_t (after the lengths mask)
    a_star: np.ndarray | None  # (T, B, H) cumulative sum of log a (parallel mode only)
    Hs: np.ndarray  # (T+1, B, H) states h_{-1} = h0, h_0, ..., h_{T-1} in processing order
    reverse: bool
    active: np.ndarray | None  # (T, B, 1) lengths mask in processing order
    owned: list  # workspace buffers to give back after backward


class LogScanGrads(NamedTuple):
    """Gradients of :func:`backward` (parallel mode, logarithmic inputs)."""

    dlog_a: np.ndarray  # (T, B, H)
    dlog_b: np.ndarray  # (T, B, H)
    dh0: np.ndarray  # (B, H)


class ScanGrads(NamedTuple):
    """Gradients of :func:`sequential_backward` (sequential mode, the values themselves)."""

    da: np.ndarray  # (T, B, H)
    db: np.ndarray  # (T, B, H)
    dh0: np.ndarray  # (B, H)


def _order(arr: np.ndarray, reverse: bool) -> np.ndarray:
    """``arr`` ``(T, ...)`` in processing order (a reversed view for ``reverse``)."""
    return arr[::-1] if reverse else arr


def _active(lengths: np.ndarray | None, T: int, reverse: bool) -> np.ndarray | None:
    active = seq.active_mask(lengths, T)
    return None if active is None else _order(active, reverse)


def _outputs(Hs: np.ndarray, cache_active: np.ndarray | None, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(y, h_n)``: the states after each step in time order (zero at padded steps) and the final state."""
    y = Hs[1:] if cache_active is None else Hs[1:] * cache_active
    return np.ascontiguousarray(_order(y, reverse)), Hs[-1]


def _direct_grads(dout: tuple[np.ndarray | None, np.ndarray | None], cache: ScanCache) -> np.ndarray:
    r""":math:`\delta_t` in processing order: ``dy`` (zero at padded steps) plus ``dh_n`` at the last step."""
    dy, dh_n = dout
    T, B, H = cache.coef.shape
    delta = np.zeros((T, B, H), dtype=cache.coef.dtype) if dy is None else np.array(_order(dy, cache.reverse))
    if dy is not None and cache.active is not None:
        delta *= cache.active
    if dh_n is not None and T:
        delta[-1] += dh_n
    return delta


def forward(log_a: np.ndarray, log_b: np.ndarray, h0: np.ndarray, *, reverse: bool = False,
            lengths: np.ndarray | None = None, ws: Workspace | None = None
            ) -> tuple[tuple[np.ndarray, np.ndarray], ScanCache]:
    r"""Parallel mode: :math:`h_t = e^{\log a_t} h_{t-1} + e^{\log b_t}` for all ``t`` with two prefix scans.

    Returns ``((y, h_n), cache)``: ``y`` ``(T, B, H)`` the states in time order (zero at padded steps) and
    ``h_n`` ``(B, H)`` the state after the last processed step. ``log_a`` must be ``<= 0`` (a coefficient in
    ``(0, 1]``) for the overflow guarantee of the module docstring.
    """
    T, B, H = log_a.shape
    dt = log_a.dtype
    owned: list = []
    active = _active(lengths, T, reverse)
    la, lb = _order(log_a, reverse), _order(log_b, reverse)
    if active is not None:  # padded steps: a = 1, b = 0 (the identity step)
        la = np.where(active, la, 0.0)
        lb = np.where(active, lb, -np.inf)
    a_star = empty(ws, (T, B, H), dt, owned)
    np.cumsum(la, axis=0, out=a_star)
    Hs = empty(ws, (T + 1, B, H), dt, owned)
    Hs[0] = h0
    h = Hs[1:]
    np.subtract(lb, a_star, out=h)  # log b_s - a*_s
    np.logaddexp.accumulate(h, axis=0, out=h)  # logcumsumexp over s <= t
    h += a_star
    np.exp(h, out=h)  # the b-part of h_t: sum_s (A_t / A_s) b_s
    h0_part = np.exp(a_star)  # A_t: underflows to 0 harmlessly
    h0_part *= h0
    h += h0_part
    cache = ScanCache(np.exp(la), np.exp(lb), a_star, Hs, reverse, active, owned)
    return _outputs(Hs, active, reverse), cache


def coefficients(cache: ScanCache) -> np.ndarray:
    """The coefficients ``a_t`` the scan ran with, ``(T, B, H)`` in time order (1 at padded steps)."""
    return _order(cache.coef, cache.reverse)


def _reverse_logcumsumexp(u: np.ndarray) -> np.ndarray:
    """``out[t] = log sum_{s >= t} exp(u[s])`` along axis 0."""
    return np.logaddexp.accumulate(u[::-1], axis=0)[::-1]


def backward(dout: tuple[np.ndarray | None, np.ndarray | None], cache: ScanCache, *,
             ws: Workspace | None = None) -> LogScanGrads:
    r"""Backpropagate ``dout = (dy, dh_n)`` (``None`` for zero) through :func:`forward`: the reverse scan
    :math:`G_t = \delta_t + a_{t+1} G_{t+1}` in closed form, the positive and negative parts of
    :math:`\delta` each a reverse log-space scan (module docstring). Returns :class:`LogScanGrads`
    ``(dlog_a, dlog_b, dh0)``, time order."""
    a, b, a_star, Hs, reverse, active, owned = cache
    delta = _direct_grads(dout, cache)
    with np.errstate(divide="ignore"):  # log 0 = -inf: a part that is absent
        pos = np.log(np.maximum(delta, 0.0))
        neg = np.log(np.maximum(-delta, 0.0))
    pos += a_star
    neg += a_star
    G = np.exp(_reverse_logcumsumexp(pos) - a_star)
    G -= np.exp(_reverse_logcumsumexp(neg) - a_star)
    dh0 = G[0] * a[0] if len(G) else np.zeros_like(Hs[0])
    dlog_b = G * b  # zero at padded steps (b = 0 there)
    dlog_a = G * a
    dlog_a *= Hs[:-1]
    if active is not None:
        dlog_a *= active
    grads = LogScanGrads(np.ascontiguousarray(_order(dlog_a, reverse)), np.ascontiguousarray(_order(dlog_b, reverse)),
                         dh0)
    if ws is not None:
        ws.give(*owned)
    return grads


def sequential_forward(a: np.ndarray, b: np.ndarray, h0: np.ndarray, *, reverse: bool = False,
                       lengths: np.ndarray | None = None, ws: Workspace | None = None
                       ) -> tuple[tuple[np.ndarray, np.ndarray], ScanCache]:
    r"""Sequential mode: the step loop :math:`h_t = a_t \odot h_{t-1} + b_t`. Same results as :func:`forward`
    (given ``a = exp(log_a)``, ``b = exp(log_b)``); here ``b`` may have any sign."""
    T, B, H = a.shape
    owned: list = []
    active = _active(lengths, T, reverse)
    ca, cb = _order(a, reverse), _order(b, reverse)
    if active is not None:
        ca = np.where(active, ca, 1.0)
        cb = np.where(active, cb, 0.0)
    Hs = empty(ws, (T + 1, B, H), a.dtype, owned)
    Hs[0] = h0
    for t in range(T):
        np.multiply(ca[t], Hs[t], out=Hs[t + 1])
        Hs[t + 1] += cb[t]
    cache = ScanCache(ca, cb, None, Hs, reverse, active, owned)
    return _outputs(Hs, active, reverse), cache


def sequential_backward(dout: tuple[np.ndarray | None, np.ndarray | None], cache: ScanCache, *,
                        ws: Workspace | None = None) -> ScanGrads:
    r"""Backpropagate through :func:`sequential_forward` one step at a time: :math:`G_t = \delta_t + g`, then
    :math:`g \leftarrow a_t G_t` carried to step :math:`t-1`; ``da = G * h_prev``, ``db = G``. Returns
    :class:`ScanGrads` ``(da, db, dh0)``, time order."""
    a, _, _, Hs, reverse, active, owned = cache
    G = _direct_grads(dout, cache)
    carried = np.zeros_like(Hs[0])
    for t in range(len(G) - 1, -1, -1):
        G[t] += carried
        carried = a[t] * G[t]
    da = G * Hs[:-1]
    db = G
    if active is not None:
        da *= active
        db *= active
    grads = ScanGrads(np.ascontiguousarray(_order(da, reverse)), np.ascontiguousarray(_order(db, reverse)), carried)
    if ws is not None:
        ws.give(*owned)
    return grads
