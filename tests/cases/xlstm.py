"""Cases for xLSTM's sLSTM and mLSTM ops (NumPy only; the torch tests import this too).

A :class:`~cases.reference.Case` per call: random inputs, non-zero distinct weights and biases, random initial
states (the sLSTM's normaliser positive, as a normaliser is), and random upstream gradients of the outputs
and/or the final states. ``TWINS`` maps each op to its fast module and its textbook twin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bptt.functional import mlstm, mlstm_parallel, slstm
from bptt.functional import reference as ref
from cases.reference import Case
from helpers import distinct_uniform

#: op name -> (fast module, reference module)
TWINS = {
    "slstm": (slstm, ref.slstm),
    "mlstm": (mlstm, ref.mlstm),
    "mlstm_parallel": (mlstm_parallel, ref.mlstm_parallel),
}
SLSTM_OUTPUTS = ("y", "h_n", "c_n", "n_n", "m_n")
MLSTM_OUTPUTS = ("y", "C_n", "n_n", "m_n")
#: rounding noise, relative to the largest gradient entry of a case (see :func:`assert_same`)
NOISE = 1e-15
#: which upstream gradients are given: all, only y, only the final states, only the cell state c_n / C_n
DOUTS = ("all", "y", "final", "cell")


def _upstream(rng: np.random.Generator, shapes: list[tuple], dout: str, cell: int) -> tuple:
    """Random upstream gradients of the outputs; ``dout`` says which are given (``cell``: the index of the
    cell state among the outputs), the others are None."""
    given = {"all": set(range(len(shapes))), "y": {0}, "final": set(range(1, len(shapes))), "cell": {cell}}[dout]
    return tuple(rng.standard_normal(s) if i in given else None for i, s in enumerate(shapes))


def slstm_case(rng: np.random.Generator, T: int = 5, B: int = 3, D: int = 4, H: int = 6, heads: int = 2, *,
               bias: bool = True, forget_gate: str = "sigmoid", dout: str = "all", zero_state: bool = False,
               scale: float = 0.6) -> Case:
    """One call of the sLSTM op: ``x, h0, c0, n0, m0, W_ih, W_hh, b``."""
    S = H // heads
    x = rng.standard_normal((T, B, D))
    if zero_state:
        state = [np.zeros((B, H)) for _ in range(4)]
    else:
        state = [0.5 * rng.standard_normal((B, H)), 0.5 * rng.standard_normal((B, H)), rng.uniform(0.5, 2.0, (B, H)),
                 0.5 * rng.standard_normal((B, H))]
    args = [x, *state, distinct_uniform(rng, (4 * H, D), -scale, scale),
            distinct_uniform(rng, (4 * H, S), -scale, scale), distinct_uniform(rng, (4 * H,)) if bias else None]
    shapes = [(T, B, H)] + [(B, H)] * 4
    names = ["x", "h0", "c0", "n0", "m0", "W_ih", "W_hh", "b"]
    return Case("slstm", args, {"forget_gate": forget_gate}, _upstream(rng, shapes, dout, 2), names)


def mlstm_case(rng: np.random.Generator, T: int = 5, B: int = 3, D: int = 4, heads: int = 2, head_size: int = 3, *,
               bias: bool = True, forget_gate: str = "sigmoid", dout: str = "all", zero_state: bool = False,
               parallel: bool = False, scale: float = 0.8) -> Case:
    """One call of an mLSTM op (``parallel`` picks the form): ``x, C0, n0, m0, W, b``."""
    K, S = heads, head_size
    H = K * S
    x = rng.standard_normal((T, B, D))
    if zero_state:
        state = [np.zeros((B, K, S, S)), np.zeros((B, K, S)), np.zeros((B, K))]
    else:
        state = [0.5 * rng.standard_normal((B, K, S, S)), 0.5 * rng.standard_normal((B, K, S)),
                 0.5 * rng.standard_normal((B, K))]
    rows = 4 * H + 2 * K
    args = [x, *state, distinct_uniform(rng, (rows, D), -scale, scale),
            distinct_uniform(rng, (rows,)) if bias else None]
    shapes = [(T, B, H), (B, K, S, S), (B, K, S), (B, K)]
    names = ["x", "C0", "n0", "m0", "W", "b"]
    op = "mlstm_parallel" if parallel else "mlstm"
    return Case(op, args, {"forget_gate": forget_gate}, _upstream(rng, shapes, dout, 1), names)


def run_op(module: Any, case: Case, **extra: Any) -> tuple[tuple, tuple, Any]:
    """``forward`` then ``backward`` of ``module`` on ``case``: ``(outputs, gradients, cache)`` (copies; the
    gradients keep their NamedTuple type). ``ws`` goes to both calls, ``need_dx`` to backward."""
    need_dx = extra.pop("need_dx", True)
    out, cache = module.forward(*case.args, **case.kwargs, **extra)
    out = tuple(np.array(o, copy=True) for o in out)
    grads = module.backward(case.dout, cache, need_dx=need_dx, **extra)
    return out, type(grads)(*(None if g is None else np.array(g, copy=True) for g in grads)), cache


def output_names(case: Case) -> tuple[str, ...]:
    return SLSTM_OUTPUTS if case.op == "slstm" else MLSTM_OUTPUTS


def assert_same(case: Case, a: tuple, b: tuple, rtol: float, what: str, *, same_type: bool = True) -> None:
    """Every output and gradient of ``a`` equals ``b``'s to ``rtol`` relative to the array's largest entry,
    or to ``NOISE`` relative to the case's largest gradient entry when that is larger: a gradient that is
    zero in exact arithmetic (``dm0`` of a zero initial state, whose stabiliser never reaches the loss) is
    rounding noise on both sides. ``same_type``: the gradients are the same NamedTuple type."""
    (out_a, grads_a), (out_b, grads_b) = a, b
    assert type(grads_a) is type(grads_b) or not same_type
    assert len(out_a) == len(out_b) == len(output_names(case))
    names = list(output_names(case)) + ["d" + n for n in case.names]
    arrays_a, arrays_b = out_a + tuple(grads_a), out_b + tuple(grads_b)
    assert len(names) == len(arrays_a) == len(arrays_b)
    largest = max(float(np.abs(g).max()) for g in grads_b if g is not None)
    for name, x, y in zip(names, arrays_a, arrays_b):
        if x is None or y is None:
            assert x is None and y is None, f"{what} {name}: {x is None} vs {y is None}"
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what} {name}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        err = float(np.abs(x - y).max())
        tol = max(rtol * float(np.abs(y).max()), NOISE * largest)
        assert err <= tol, f"{what} {case.op} {name}: max|a - b| = {err:.3e} > {tol:.3e}"
