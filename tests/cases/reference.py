"""Cases shared by tests/functional/reference: every recurrent op with every option, from one seeded generator.

NumPy only (the torch tests import this too). A :class:`Case` holds the positional inputs of an op's
``forward`` (fast and reference take the same ones), its keywords, the upstream gradients for ``backward``
and the names of the inputs (for messages and finite differences). Weights and biases are random, non-zero
and distinct (``b_ih != b_hh`` everywhere); layer-norm gains are around +-1 but never 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bptt.functional import cross_entropy, gru, ln_lstm, lstm, rnn
from bptt.functional import reference as ref
from helpers import distinct_uniform

#: op name -> (fast module, reference module)
TWINS = {
    "lstm": (lstm, ref.lstm),
    "gru": (gru, ref.gru),
    "rnn": (rnn, ref.rnn),
    "ln_lstm": (ln_lstm, ref.ln_lstm),
    "cross_entropy": (cross_entropy, ref.cross_entropy),
}
RECURRENT = ("lstm", "gru", "rnn", "ln_lstm")
#: which upstream gradients are given (the others are None): all, only the outputs, only the final states
DOUTS = ("all", "y", "final")


@dataclass
class Case:
    op: str
    args: list
    kwargs: dict = field(default_factory=dict)
    dout: Any = None
    names: list = field(default_factory=list)


def draw_lengths(rng: np.random.Generator, T: int, B: int) -> np.ndarray:
    """Unsorted lengths in ``[1, T]``, containing 1 and T when the batch has room for both."""
    lengths = rng.integers(1, T + 1, size=B)
    if B >= 2:
        lengths[rng.permutation(B)[:2]] = [1, T]
    return lengths


def _gain(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _upstream(rng: np.random.Generator, shapes: list[tuple], dout: str) -> tuple:
    """Random upstream gradients of the outputs (y, h_n[, c_n]); ``dout`` chooses which are None."""
    given = {"all": [True] * len(shapes), "y": [True] + [False] * (len(shapes) - 1),
             "final": [False] + [True] * (len(shapes) - 1)}[dout]
    return tuple(rng.standard_normal(s) if g else None for s, g in zip(shapes, given))


def recurrent_case(
    op: str,
    rng: np.random.Generator,
    T: int = 5,
    B: int = 3,
    D: int = 4,
    H: int = 5,
    *,
    bias: bool = True,
    reverse: bool = False,
    lengths: np.ndarray | bool | None = None,
    proj_size: int = 0,
    peepholes: bool = False,
    forget_bias: float = 0.0,
    nonlinearity: str = "tanh",
    layer_norm: bool = False,
    g_mask: bool = False,
    dout: str = "all",
) -> Case:
    """One call of a recurrent op. ``lengths=True`` draws lengths; ``proj_size`` and ``peepholes`` (LSTM),
    ``nonlinearity`` (RNN), ``layer_norm`` and ``g_mask`` (LN-LSTM) apply to their op only. With peepholes the
    LSTM's inputs end ``W_hr`` (``None`` without a projection), ``W_peep`` (non-zero, distinct)."""
    if lengths is True:
        lengths = draw_lengths(rng, T, B)
    elif lengths is False:
        lengths = None
    x = rng.standard_normal((T, B, D))
    kwargs: dict = {"reverse": reverse, "lengths": lengths}
    if op in ("lstm", "gru", "rnn"):
        G = {"lstm": 4, "gru": 3, "rnn": 1}[op]
        P = proj_size if (op == "lstm" and proj_size) else H
        args = [x, 0.5 * rng.standard_normal((B, P))]
        names = ["x", "h0"]
        if op == "lstm":
            args.append(0.5 * rng.standard_normal((B, H)))
            names.append("c0")
            kwargs["forget_bias"] = forget_bias
        if op == "rnn":
            kwargs["nonlinearity"] = nonlinearity
        args += [distinct_uniform(rng, (G * H, D)), distinct_uniform(rng, (G * H, P))]
        b_ih = distinct_uniform(rng, (G * H,)) if bias else None
        b_hh = distinct_uniform(rng, (G * H,)) if bias else None
        if bias:
            assert not np.any(b_ih == b_hh)
        args += [b_ih, b_hh]
        names += ["W_ih", "W_hh", "b_ih", "b_hh"]
        if op == "lstm" and (proj_size or peepholes):
            args.append(distinct_uniform(rng, (P, H)) if proj_size else None)
            names.append("W_hr")
        if op == "lstm" and peepholes:
            args.append(distinct_uniform(rng, (3 * H,), -1.0, 1.0))
            names.append("W_peep")
        shapes = [(T, B, P), (B, P)] + ([(B, H)] if op == "lstm" else [])
    elif op == "ln_lstm":
        args = [x, 0.5 * rng.standard_normal((B, H)), 0.5 * rng.standard_normal((B, H)),
                distinct_uniform(rng, (D + H, 4 * H), -0.7, 0.7),
                distinct_uniform(rng, (4 * H,)) if bias else None,
                _gain(rng, (5, H)) if layer_norm else None,
                distinct_uniform(rng, (5, H), -0.5, 0.5) if layer_norm else None]
        names = ["x", "h0", "c0", "kernel", "bias", "gamma", "beta"]
        kwargs["forget_bias"] = forget_bias
        kwargs["g_mask"] = (rng.random((T, B, H)) >= 0.3) / 0.7 if g_mask else None
        shapes = [(T, B, H), (B, H), (B, H)]
    else:
        raise ValueError(f"recurrent_case: unknown op {op!r}")
    return Case(op, args, kwargs, _upstream(rng, shapes, dout), names)


def cross_entropy_case(rng: np.random.Generator, N: int = 6, C: int = 5, *, reduction: str = "mean",
                       ignored: str = "some") -> Case:
    """``ignored``: ``"none"`` of the targets, ``"some"`` of them or ``"all"`` (the mean is then NaN)."""
    x = 2.0 * rng.standard_normal((N, C))
    y = rng.integers(0, C, N)
    if ignored == "some":
        y[rng.permutation(N)[: N // 3]] = -100
    elif ignored == "all":
        y[:] = -100
    dout = rng.standard_normal(N) if reduction == "none" else np.asarray(rng.standard_normal())
    return Case("cross_entropy", [x, y], {"reduction": reduction}, dout, ["logits", "target"])


def run(module: Any, case: Case, **extra: Any) -> tuple[tuple, tuple, Any]:
    """``forward`` then ``backward`` of ``module`` on ``case``: ``(outputs, gradients, cache)``, outputs and
    gradients copied (a fast op's outputs may be views of buffers its workspace recycles).

    ``extra`` keywords go to both calls when they are ``ws`` / ``record``-like; ``need_dx`` to backward only.
    """
    need_dx = extra.pop("need_dx", True)
    fw_extra = {k: v for k, v in extra.items() if k in ("ws",)}
    out, cache = module.forward(*case.args, **case.kwargs, **fw_extra)
    out = tuple(np.array(o, copy=True) for o in out) if isinstance(out, tuple) else (np.array(out, copy=True),)
    if case.op == "cross_entropy":
        grads = (module.backward(case.dout, cache),)
    else:
        grads = module.backward(case.dout, cache, need_dx=need_dx, **fw_extra)
    copies = [None if g is None else np.array(g, copy=True) for g in grads]
    grads = type(grads)(*copies) if hasattr(grads, "_fields") else tuple(copies)  # keep a NamedTuple's type
    return out, grads, cache
