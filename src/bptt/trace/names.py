"""The cell kinds a trace knows, one table row each: which recurrent layers they are, which textbook module
(:mod:`bptt.functional.reference`) names their intermediates, the seed's names, what the text loggers print
and which per-step gradient share belongs to which parameter.

The recorded names are the reference's own: the fields of its ``StepCache`` (forward) and ``StepGrads``
(backward) NamedTuples, in their order (the seed's order). Adding a cell kind to tracing is one
:func:`register` call with a :class:`CellKind` (its layer's ``mode``, its reference module, ...); nothing else
in :mod:`bptt.trace` knows the kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

from ..functional import reference as R
from ..nn.recurrent.ln_lstm import LN_SCOPES

__all__ = ["BACKWARD_NAMES", "CellKind", "FORWARD_NAMES", "KINDS", "SEED_NAMES", "WEIGHT_STEP_NAMES", "kind_of",
           "register"]


@dataclass(frozen=True)
class CellKind:
    """One kind of recurrent cell, as tracing (and ``bptt explain``) sees it."""

    name: str  #: the trace's name of the kind ("lstm")
    label: str  #: how people call it ("LSTM")
    modes: tuple[str, ...]  #: the ``mode`` of the bptt.nn layers of this kind (RNNBase.mode)
    reference: ModuleType  #: the textbook module whose StepCache / StepGrads fields are recorded
    seed_names: Mapping[str, str] = field(default_factory=dict)  #: bptt name -> seed 000's name
    log_forward: tuple[str, ...] = ()  #: what ``bptt.trace.forward`` prints per step
    log_backward: tuple[str, ...] = ()  #: what ``bptt.trace.backward`` prints per step
    #: parameter role -> (StepGrads field holding its per-step share, row of that field or None)
    weight_steps: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)
    #: meta flag -> SequenceCache field whose presence (not None) it records, e.g. layer_norm <- gamma
    flags: Mapping[str, str] = field(default_factory=dict)
    has_cell_state: bool = False  #: whether the state is (h, c)

    @property
    def forward_names(self) -> tuple[str, ...]:
        """The forward quantities, in the reference's order (fields of its ``StepCache``)."""
        return tuple(self.reference.StepCache._fields)

    @property
    def backward_names(self) -> tuple[str, ...]:
        """The backward quantities, in the reference's (the seed's) order (fields of its ``StepGrads``)."""
        return tuple(self.reference.StepGrads._fields)

    @property
    def weight_step_names(self) -> tuple[str, ...]:
        """The ``StepGrads`` fields that are per-step shares of parameter gradients."""
        return tuple(dict.fromkeys(f for f, _ in self.weight_steps.values()))


KINDS: dict[str, CellKind] = {}
_BY_MODE: dict[str, CellKind] = {}
#: bptt's name -> seed 000's name, per kind (names without an entry are the same in both).
SEED_NAMES: dict[str, dict[str, str]] = {}
#: Forward names per kind, in the reference's order.
FORWARD_NAMES: dict[str, tuple[str, ...]] = {}
#: Backward names per kind, in the seed's order (the reference's StepGrads), weight shares last.
BACKWARD_NAMES: dict[str, tuple[str, ...]] = {}
#: The per-step weight-gradient shares per kind.
WEIGHT_STEP_NAMES: dict[str, tuple[str, ...]] = {}


def register(kind: CellKind) -> CellKind:
    """Add a cell kind (its name and its layers' modes must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"trace: a cell kind named {kind.name!r} is already registered")
    for mode in kind.modes:
        if mode in _BY_MODE:
            raise ValueError(f"trace: mode {mode!r} already belongs to the cell kind {_BY_MODE[mode].name!r}")
    KINDS[kind.name] = kind
    _BY_MODE.update(dict.fromkeys(kind.modes, kind))
    SEED_NAMES[kind.name] = dict(kind.seed_names)
    FORWARD_NAMES[kind.name] = kind.forward_names
    BACKWARD_NAMES[kind.name] = kind.backward_names
    WEIGHT_STEP_NAMES[kind.name] = kind.weight_step_names
    return kind


def kind_of(mode: str) -> CellKind:
    """The cell kind of a recurrent layer's ``mode`` ("LSTM", "GRU", "RNN_TANH", ...)."""
    kind = _BY_MODE.get(mode)
    if kind is None:
        raise ValueError(f"trace: no cell kind is registered for layers of mode {mode!r} "
                         f"(known: {', '.join(_BY_MODE)}); see bptt.trace.names.register")
    return kind


_SEED = {
    "dh": "dHt", "do": "dOt", "dc": "dCt", "dg": "dCprojt", "df": "dFt", "di": "dIt", "dz": "dHX",
    "dc_next": "dC_next", "dx": "dxt", "g": "Cproj", "z": "HX", "c": "Ct", "h": "Ht",
}
_PYTORCH_WEIGHTS = {"W_ih": ("dW_ih", None), "W_hh": ("dW_hh", None), "b_ih": ("db", None), "b_hh": ("db", None)}

register(CellKind(
    "lstm", "LSTM", ("LSTM",), R.lstm, {**_SEED, "dW_ih": "dW (x rows)", "dW_hh": "dW (h rows)", "db": "dB"},
    log_forward=("z", "f", "i", "g", "o", "c", "h"),
    log_backward=("dh", "do", "dc", "dg", "df", "di", "dz", "dh_next", "dc_next"),
    weight_steps={**_PYTORCH_WEIGHTS, "W_hr": ("dW_hr", None), "W_peep": ("dW_peep", None)},
    flags={"projection": "W_hr", "peepholes": "W_peep"},
    has_cell_state=True,
))
register(CellKind(
    "lnlstm", "LayerNormLSTM", ("LNLSTM",), R.ln_lstm, {**_SEED, "dkernel": "dW", "dbias": "dB"},
    log_forward=("z", "f", "i", "g", "o", "c", "h"),
    log_backward=("dh", "do", "dc", "dg", "df", "di", "dz", "dh_next", "dc_next"),
    weight_steps={"kernel": ("dkernel", None), "bias": ("dbias", None),
                  **{f"gamma_{s}": ("dgamma", j) for j, s in enumerate(LN_SCOPES)},
                  **{f"beta_{s}": ("dbeta", j) for j, s in enumerate(LN_SCOPES)}},
    flags={"layer_norm": "gamma"}, has_cell_state=True,
))
register(CellKind(
    "gru", "GRU", ("GRU",), R.gru, {"dh": "dHt", "dx": "dxt"},
    log_forward=("r", "z", "n", "h"), log_backward=("dh", "dn", "dz", "dr", "dx", "dh_next"),
    weight_steps={"W_ih": ("dW_ih", None), "W_hh": ("dW_hh", None), "b_ih": ("db_ih", None),
                  "b_hh": ("db_hh", None)},
))
register(CellKind(
    "rnn", "RNN", ("RNN_TANH", "RNN_RELU"), R.rnn, {"dh": "dHt", "dz": "dHX", "dx": "dxt"},
    log_forward=("a", "h"), log_backward=("dh", "da", "dx", "dh_next"), weight_steps=_PYTORCH_WEIGHTS,
))

_MIN_WEIGHTS = {"W_ih": ("dW_ih", None), "b_ih": ("db_ih", None), "W_out": ("dW_out", None)}
register(CellKind(
    "mingru", "minGRU", ("MinGRU",), R.min_gru, {"dh": "dHt", "dx": "dxt"},
    log_forward=("z", "h_tilde", "h"), log_backward=("dh", "da", "db", "dz", "dh_tilde", "dx", "dh_next"),
    weight_steps=_MIN_WEIGHTS, flags={"projection": "W_out"},
))
register(CellKind(
    "minlstm", "minLSTM", ("MinLSTM",), R.min_lstm, {"dh": "dHt", "dx": "dxt"},
    log_forward=("f", "i", "f_prime", "i_prime", "h_tilde", "h"),
    log_backward=("dh", "da", "db", "df", "di", "dh_tilde", "dx", "dh_next"),
    weight_steps=_MIN_WEIGHTS, flags={"projection": "W_out"},
))
register(CellKind(
    "slstm", "sLSTM", ("SLSTM",), R.slstm,
    {"dh": "dHt", "do": "dOt", "dc": "dCt", "z": "Cproj", "dz": "dCprojt", "df": "dFt", "di": "dIt", "dx": "dxt",
     "c": "Ct", "h": "Ht"},
    log_forward=("i", "f", "z", "o", "m", "c", "n", "h"),
    log_backward=("dh", "do", "dc", "dn", "dz", "di", "df", "dm", "dh_next", "dc_next", "dn_next"),
    weight_steps={"W_ih": ("dW_ih", None), "W_hh": ("dW_hh", None), "b": ("db", None)},
    has_cell_state=True,
))
