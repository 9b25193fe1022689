"""Every hand-derived backward pass in bptt, with small float64 arguments: what ``bptt gradcheck`` checks.

:data:`CATALOG` lists one :class:`CatalogEntry` per op and option set, for both tiers of
:mod:`bptt.functional`: the fast ops (``lstm``, ``gru``, ``rnn``, ``ln_lstm``, xLSTM's ``slstm``, ``mlstm``
and ``mlstm_parallel``, ``min_gru`` and ``min_lstm`` in both modes with the ``scan`` beneath them,
``cross_entropy``, ``linear``, ``embedding``, ``dropout``, the activations, the attention mechanisms and
attention layer) and their textbook twins in :mod:`bptt.functional.reference` (the LSTM also with peepholes).
Each entry knows its ``forward`` / ``backward`` pair and draws its own arguments from a generator and four
sizes, so a caller only iterates::

    for entry in CATALOG:
        report = entry.check(rng, Sizes(steps=4, batch=2, input_size=3, hidden_size=3))

:func:`cases` gives the same as ``(name, op, inputs, kwargs, names)`` tuples (``op`` has ``forward`` and
``backward``), the form the command line's loop takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from .. import functional as F
from ..functional import reference as R
from .checker import GradcheckReport, check_function


@dataclass(frozen=True)
class Sizes:
    """The sizes every entry draws its arguments with: ``T``, ``B``, ``D`` and ``H`` (also the attention
    units and the number of classes/vocabulary where an op has one)."""

    steps: int = 4
    batch: int = 2
    input_size: int = 3
    hidden_size: int = 3


Arguments = Callable[[np.random.Generator, Sizes], tuple[list, dict]]


@dataclass(frozen=True)
class CatalogEntry:
    """One hand-derived backward pass to check: ``forward(*inputs, **kwargs) -> (out, cache)`` and
    ``backward(dout, cache) -> one gradient per input`` of the functional module ``module``."""

    name: str
    module: ModuleType
    forward: Callable
    backward: Callable
    arguments: Arguments
    names: tuple[str, ...]

    @property
    def tier(self) -> str:
        """``"reference"`` for the textbook tier, ``"fast"`` for :mod:`bptt.functional` itself."""
        return "reference" if self.module.__name__.startswith(R.__name__ + ".") else "fast"

    def check(self, rng: np.random.Generator, sizes: Sizes = Sizes(), **check_kwargs: Any) -> GradcheckReport:
        """Draw the arguments and run :func:`~bptt.gradcheck.check_function` (keywords go to it)."""
        inputs, kwargs = self.arguments(rng, sizes)
        return check_function(self.forward, self.backward, inputs, kwargs=kwargs, names=self.names,
                              **check_kwargs)


class Case(NamedTuple):
    """An entry with its arguments drawn."""

    name: str
    op: CatalogEntry
    inputs: list
    kwargs: dict
    names: tuple[str, ...]


# ------------------------------------------------------------------------------------------ argument makers
def _lengths(rng: np.random.Generator, s: Sizes) -> np.ndarray:
    """Unsorted lengths in ``[1, T]`` with the full length present."""
    lengths = rng.integers(1, s.steps + 1, s.batch)
    lengths[0] = s.steps
    return lengths


def _gates(kind: str) -> int:
    return {"lstm": 4, "gru": 3, "rnn": 1}[kind]


def _recurrent(kind: str, *, lengths: bool = False, proj: bool = False, peep: bool = False, **kwargs: Any
               ) -> Arguments:
    """Arguments of the PyTorch-layout layers: ``x, h0[, c0], W_ih, W_hh, b_ih, b_hh[, W_hr][, W_peep]``
    (with peepholes ``W_hr`` is ``None`` when there is no projection)."""

    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        T, B, D, H = s.steps, s.batch, s.input_size, s.hidden_size
        G = _gates(kind) * H
        P = max(1, H // 2) if proj else H
        r = rng.standard_normal
        inputs = [r((T, B, D)), r((B, P))] + ([r((B, H))] if kind == "lstm" else [])
        inputs += [0.5 * r((G, D)), 0.5 * r((G, P)), 0.5 * r(G), 0.5 * r(G)]
        if proj or peep:
            inputs.append(0.5 * r((P, H)) if proj else None)
        if peep:
            inputs.append(r(3 * H))
        return inputs, {**kwargs, "lengths": _lengths(rng, s) if lengths else None}

    return make


def _recurrent_names(kind: str, proj: bool = False, peep: bool = False) -> tuple[str, ...]:
    return ("x", "h0") + (("c0",) if kind == "lstm" else ()) + ("W_ih", "W_hh", "b_ih", "b_hh") + (
        ("W_hr",) if proj or peep else ()) + (("W_peep",) if peep else ())


def _ln_lstm(*, layer_norm: bool, lengths: bool = False, g_mask: bool = False, **kwargs: Any) -> Arguments:
    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        T, B, D, H = s.steps, s.batch, s.input_size, s.hidden_size
        r = rng.standard_normal
        inputs = [r((T, B, D)), r((B, H)), r((B, H)), 0.5 * r((D + H, 4 * H)),
                  None if layer_norm else 0.5 * r(4 * H),
                  rng.uniform(0.5, 1.5, (5, H)) if layer_norm else None,
                  0.5 * r((5, H)) if layer_norm else None]
        mask = (rng.random((T, B, H)) >= 0.25) / 0.75 if g_mask else None
        return inputs, {**kwargs, "g_mask": mask, "lengths": _lengths(rng, s) if lengths else None}

    return make


def _heads(H: int) -> int:
    """Two heads when the hidden size splits in two, else one."""
    return 2 if H % 2 == 0 else 1


def _slstm(*, several_heads: bool, **kwargs: Any) -> Arguments:
    """sLSTM arguments ``x, h0, c0, n0, m0, W_ih, W_hh, b`` (a positive normaliser, as a normaliser is)."""

    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        T, B, D, H = s.steps, s.batch, s.input_size, s.hidden_size
        S = H // _heads(H) if several_heads else H
        r = rng.standard_normal
        inputs = [r((T, B, D)), 0.5 * r((B, H)), 0.5 * r((B, H)), rng.uniform(0.5, 2.0, (B, H)), 0.5 * r((B, H)),
                  0.5 * r((4 * H, D)), 0.5 * r((4 * H, S)), 0.5 * r(4 * H)]
        return inputs, kwargs

    return make


def _min_rnn(gates: int, *, proj: bool = False, lengths: bool = False, **kwargs: Any) -> Arguments:
    """Arguments of minGRU (``gates=2``) / minLSTM (``gates=3``): ``x, h0, W_ih, b_ih, W_out``."""

    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        T, B, D, H = s.steps, s.batch, s.input_size, s.hidden_size
        r = rng.standard_normal
        inputs = [r((T, B, D)), r((B, H)), r((gates * H, D)), 0.5 * r(gates * H),
                  0.5 * r((max(1, H - 1), H)) if proj else None]
        return inputs, {**kwargs, "lengths": _lengths(rng, s) if lengths else None}

    return make


def _mlstm(*, several_heads: bool, **kwargs: Any) -> Arguments:
    """mLSTM arguments ``x, C0, n0, m0, W, b`` (``K`` heads of size ``H / K``)."""

    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        T, B, D, H = s.steps, s.batch, s.input_size, s.hidden_size
        K = _heads(H) if several_heads else 1
        S = H // K
        r = rng.standard_normal
        inputs = [r((T, B, D)), 0.5 * r((B, K, S, S)), 0.5 * r((B, K, S)), 0.5 * r((B, K)),
                  0.5 * r((4 * H + 2 * K, D)), 0.5 * r(4 * H + 2 * K)]
        return inputs, kwargs

    return make


_MIN_NAMES = ("x", "h0", "W_ih", "b_ih", "W_out")


def _scan(*, log_domain: bool, lengths: bool = False, **kwargs: Any) -> Arguments:
    """Arguments of the scan: ``log_a <= 0, log_b, h0`` (parallel) or ``a in (0, 1), b, h0`` (sequential)."""

    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        T, B, H = s.steps, s.batch, s.hidden_size
        log_a = -rng.uniform(0.05, 1.5, (T, B, H))
        values = 0.5 * rng.standard_normal((T, B, H))
        inputs = [log_a, values - 0.5, rng.standard_normal((B, H))] if log_domain else [np.exp(log_a), values,
                                                                                      rng.standard_normal((B, H))]
        return inputs, {**kwargs, "lengths": _lengths(rng, s) if lengths else None}

    return make


def _classes(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
    """Logits ``(B·T, H)`` and targets, one of them ignored."""
    N = s.batch * s.steps
    y = rng.integers(0, s.hidden_size, N)
    y[-1] = -100
    return [rng.standard_normal((N, s.hidden_size)), y], {}


def _luong(with_memory_layer: bool) -> Arguments:
    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        B, S, D, U = s.batch, s.steps, s.input_size, s.hidden_size
        r = rng.standard_normal
        memory = r((B, S, D)) if with_memory_layer else r((B, S, U))
        W_m = 0.5 * r((U, D)) if with_memory_layer else None
        return [r((B, U)), memory, _lengths(rng, s), W_m, np.asarray(r() + 1.5)], {}

    return make


def _bahdanau(normed: bool) -> Arguments:
    def make(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
        B, S, D, U = s.batch, s.steps, s.input_size, s.hidden_size
        r = rng.standard_normal
        g = np.asarray(r() + 1.5) if normed else None
        b = 0.5 * r(U) if normed else None
        return [r((B, D)), r((B, S, D)), _lengths(rng, s), 0.5 * r((U, D)), 0.5 * r((U, D)), r(U), g, b], {}

    return make


def _attention_layer(rng: np.random.Generator, s: Sizes) -> tuple[list, dict]:
    B, D, H = s.batch, s.input_size, s.hidden_size
    r = rng.standard_normal
    return [r((B, H)), r((B, D)), 0.5 * r((H, H + D))], {"use_tanh": True}


def _rows(scale: float = 1.0, shift: float = 0.0) -> Arguments:
    return lambda rng, s: ([scale * rng.standard_normal((s.batch, s.input_size)) + shift], {})


class SeededDropout:
    """Dropout with a fixed mask: every call draws from a fresh generator with the same seed, so the
    finite differences see the same function as the analytic gradient."""

    @staticmethod
    def forward(x: np.ndarray, p: float) -> tuple[np.ndarray, Any]:
        return F.dropout.forward(x, p, np.random.default_rng(1234), True)

    @staticmethod
    def backward(dy: np.ndarray, cache: Any) -> np.ndarray:
        return F.dropout.backward(dy, cache)


def _entry(name: str, module: ModuleType, arguments: Arguments, names: tuple[str, ...],
           forward: Callable | None = None, backward: Callable | None = None) -> CatalogEntry:
    return CatalogEntry(name, module, forward or module.forward, backward or module.backward, arguments, names)


def _twins(op: str, label: str, arguments: Arguments, names: tuple[str, ...]) -> list[CatalogEntry]:
    """The fast op and its textbook twin on the same arguments."""
    return [_entry(f"{label}", getattr(F, op), arguments, names),
            _entry(f"reference {label}", getattr(R, op), arguments, names)]


_LN_NAMES = ("x", "h0", "c0", "kernel", "bias", "gamma", "beta")
_SLSTM_NAMES = ("x", "h0", "c0", "n0", "m0", "W_ih", "W_hh", "b")
_MLSTM_NAMES = ("x", "C0", "n0", "m0", "W", "b")

_SEQUENTIAL_SCAN = _scan(log_domain=False, lengths=True)

#: Every hand-derived backward pass, fast tier first, each recurrent op also in its textbook form.
CATALOG: tuple[CatalogEntry, ...] = (
    _entry("linear", F.linear, lambda rng, s: ([rng.standard_normal((s.batch, s.input_size)),
                                                rng.standard_normal((s.hidden_size, s.input_size)),
                                                rng.standard_normal(s.hidden_size)], {}), ("x", "W", "b")),
    _entry("embedding", F.embedding, lambda rng, s: ([rng.integers(0, s.input_size, (s.steps, s.batch)),
                                                      rng.standard_normal((s.input_size, s.hidden_size))], {}),
           ("ids", "E")),
    _entry("dropout", F.dropout, lambda rng, s: ([rng.standard_normal((s.batch, s.input_size))], {"p": 0.3}),
           ("x",), SeededDropout.forward, SeededDropout.backward),
    _entry("sigmoid", F.sigmoid, _rows(4.0), ("x",)),
    _entry("tanh", F.tanh, _rows(), ("x",)),
    _entry("relu", F.relu, _rows(1.0, 0.05), ("x",)),
    _entry("softmax", F.softmax, _rows(), ("x",)),
    _entry("log_softmax", F.log_softmax, _rows(), ("x",)),
    *_twins("cross_entropy", "cross_entropy", _classes, ("logits", "target")),
    *_twins("lstm", "lstm", _recurrent("lstm", forget_bias=1.0), _recurrent_names("lstm")),
    *_twins("lstm", "lstm (reverse, lengths)", _recurrent("lstm", lengths=True, reverse=True),
            _recurrent_names("lstm")),
    *_twins("lstm", "lstm (projection)", _recurrent("lstm", proj=True, lengths=True), _recurrent_names("lstm", True)),
    *_twins("lstm", "lstm (peepholes)", _recurrent("lstm", peep=True, forget_bias=1.0),
            _recurrent_names("lstm", peep=True)),
    *_twins("lstm", "lstm (peepholes, projection, reverse, lengths)",
            _recurrent("lstm", proj=True, peep=True, lengths=True, reverse=True), _recurrent_names("lstm", True, True)),
    *_twins("gru", "gru", _recurrent("gru"), _recurrent_names("gru")),
    *_twins("gru", "gru (reverse, lengths)", _recurrent("gru", lengths=True, reverse=True), _recurrent_names("gru")),
    *_twins("rnn", "rnn (tanh)", _recurrent("rnn", lengths=True), _recurrent_names("rnn")),
    *_twins("rnn", "rnn (relu)", _recurrent("rnn", nonlinearity="relu", reverse=True), _recurrent_names("rnn")),
    *_twins("ln_lstm", "ln_lstm (layer norm)", _ln_lstm(layer_norm=True, lengths=True, g_mask=True), _LN_NAMES),
    *_twins("ln_lstm", "ln_lstm (plain, reverse)", _ln_lstm(layer_norm=False, reverse=True, forget_bias=1.0),
            _LN_NAMES),
    *_twins("slstm", "slstm", _slstm(several_heads=False), _SLSTM_NAMES),
    *_twins("slstm", "slstm (exp forget gate, heads)", _slstm(several_heads=True, forget_gate="exp"), _SLSTM_NAMES),
    *_twins("mlstm", "mlstm", _mlstm(several_heads=True), _MLSTM_NAMES),
    *_twins("mlstm", "mlstm (exp forget gate)", _mlstm(several_heads=False, forget_gate="exp"), _MLSTM_NAMES),
    *_twins("mlstm_parallel", "mlstm_parallel", _mlstm(several_heads=True), _MLSTM_NAMES),
    *_twins("mlstm_parallel", "mlstm_parallel (exp forget gate)", _mlstm(several_heads=False, forget_gate="exp"),
            _MLSTM_NAMES),
    *_twins("min_gru", "min_gru (parallel)", _min_rnn(2, mode="parallel"), _MIN_NAMES),
    *_twins("min_gru", "min_gru (sequential, reverse, lengths, projection)",
            _min_rnn(2, proj=True, lengths=True, mode="sequential", reverse=True), _MIN_NAMES),
    *_twins("min_gru", "min_gru (parallel, reverse, lengths, projection)",
            _min_rnn(2, proj=True, lengths=True, mode="parallel", reverse=True), _MIN_NAMES),
    *_twins("min_lstm", "min_lstm (parallel, lengths)", _min_rnn(3, lengths=True, mode="parallel"), _MIN_NAMES),
    *_twins("min_lstm", "min_lstm (sequential, projection)", _min_rnn(3, proj=True, mode="sequential"),
            _MIN_NAMES),
    *_twins("scan", "scan (log space)", _scan(log_domain=True, reverse=True, lengths=True), ("log_a", "log_b", "h0")),
    _entry("scan (sequential)", F.scan, _SEQUENTIAL_SCAN, ("a", "b", "h0"), F.scan.sequential_forward,
           F.scan.sequential_backward),
    _entry("reference scan (sequential)", R.scan, _SEQUENTIAL_SCAN, ("a", "b", "h0"), R.scan.sequential_forward,
           R.scan.sequential_backward),
    _entry("attention luong", F.attention, _luong(True), ("query", "memory", "lengths", "W_m", "g"),
           F.attention.luong_forward, F.attention.luong_backward),
    _entry("attention luong (dot)", F.attention, _luong(False), ("query", "memory", "lengths", "W_m", "g"),
           F.attention.luong_forward, F.attention.luong_backward),
    _entry("attention bahdanau", F.attention, _bahdanau(False),
           ("query", "memory", "lengths", "W_m", "W_q", "v", "g", "b"),
           F.attention.bahdanau_forward, F.attention.bahdanau_backward),
    _entry("attention bahdanau (normed)", F.attention, _bahdanau(True),
           ("query", "memory", "lengths", "W_m", "W_q", "v", "g", "b"),
           F.attention.bahdanau_forward, F.attention.bahdanau_backward),
    _entry("attention layer", F.attention, _attention_layer, ("h", "context", "W_c"),
           F.attention.attention_layer_forward, F.attention.attention_layer_backward),
)


def cases(rng: np.random.Generator, steps: int = 4, batch: int = 2, input_size: int = 3,
          hidden_size: int = 3) -> list[Case]:
    """Every :data:`CATALOG` entry with its arguments drawn from ``rng`` at the given sizes."""
    sizes = Sizes(steps, batch, input_size, hidden_size)
    out = []
    for entry in CATALOG:
        inputs, kwargs = entry.arguments(rng, sizes)
        out.append(Case(entry.name, entry, inputs, kwargs, entry.names))
    return out
