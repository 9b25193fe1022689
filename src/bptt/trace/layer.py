"""What a trace holds: :class:`LayerTrace` (one layer-direction of one call: the reference's named per-step
intermediates, stacked over time) and :class:`ModuleTrace` (every call of one recurrent module), and how they
are built from what the reference tier hands a recorder (:func:`forward_record`, :func:`backward_record`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..nn.hooks import BackwardRecord
from .names import KINDS, CellKind
from .steps import Steps, TraceError, direction_index

__all__ = ["LayerTrace", "ModuleTrace", "backward_record", "forward_record", "stack_fields"]


def stack_fields(steps: Sequence[NamedTuple]) -> dict[str, np.ndarray]:
    """Every field of the per-step NamedTuples ``steps`` that is an array at every step, stacked over time
    (``(T, ...)``), by field name, in field order; fields that are ``None`` (no projection, no layer norm, ...)
    or not arrays (the layer norms' own caches) are left out."""
    out: dict[str, np.ndarray] = {}
    for name in type(steps[0])._fields:
        values = [getattr(s, name) for s in steps]
        if all(isinstance(v, np.ndarray) for v in values):
            out[name] = np.stack(values)
    return out


def _plain(v: Any) -> Any:
    """A JSON-friendly Python scalar (``bool``, ``int``, ``float``, ``str``), or ``None`` for anything else."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v if isinstance(v, str) else None


def forward_record(kind: CellKind, cache: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, Any]]:
    """From a reference ``SequenceCache``: its steps' arrays stacked over time, the ``(T, B)`` packed-sequence
    mask (``None`` without ``lengths``, or for a cell that reads whole sequences only) and the facts of the pass
    (its scalar options and ``kind.flags``; ``reverse`` is False for a cell without directions)."""
    arrays = stack_fields(cache.steps)
    meta: dict[str, Any] = {}
    for name in cache._fields:
        value = _plain(getattr(cache, name))
        if value is not None:
            meta[name] = value
    for flag, name in kind.flags.items():
        meta[flag] = getattr(cache, name) is not None
    meta.setdefault("reverse", False)
    lengths = getattr(cache, "lengths", None)
    active = None if lengths is None else np.array(cache.mask[:, :, 0], copy=True)
    return arrays, active, meta


def _copy(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.array(a, copy=True)


def backward_record(lt: LayerTrace, rec: BackwardRecord) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                                                  dict[str, np.ndarray]]:
    """From a :class:`~bptt.nn.hooks.BackwardRecord`: the steps' gradients stacked over time, the layer-level
    state gradients (``dh_n``, ``dc_n`` given; ``dh0``, ``dc0`` returned) and the parameter gradients by
    parameter name (copies: the layer recycles its arrays)."""
    arrays = stack_fields(rec.steps)
    h = lt.forward["h"]
    B, P, dt = h.shape[1], h.shape[2], h.dtype
    final = {"dh_n": np.zeros((B, P), dtype=dt) if rec.dh_n is None else np.array(rec.dh_n, dtype=dt),
             "dh0": _copy(rec.dh0)}
    if lt.cell.has_cell_state:
        H = lt.forward["c"].shape[2]
        final["dc_n"] = np.zeros((B, H), dtype=dt) if rec.dc_n is None else np.array(rec.dc_n, dtype=dt)
        final["dc0"] = _copy(rec.dc0)
    grads = {lt.roles[role]: _copy(g) for role, g in rec.grads.items() if g is not None and role in lt.roles}
    return arrays, final, grads


class LayerTrace:
    """Everything recorded for one layer and direction of one call of a recurrent module.

    ``forward`` and ``backward`` are :class:`~bptt.trace.steps.Steps` of the reference's ``StepCache`` and
    ``StepGrads`` fields (``backward`` is ``None`` until the backward pass ran); ``params`` maps the module's
    parameter names (``weight_ih_l0``, ...) to copies of their values at the forward pass; ``grads`` to the
    gradients this backward pass added; ``final`` holds the layer-level state gradients ``dh_n``, ``dc_n``
    (given at the top) and ``dh0``, ``dc0`` (returned at the bottom); ``active`` is the ``(T, B)``
    packed-sequence mask (``None`` without ``lengths``): at rows where it is False the forward arrays hold the
    values of a cell whose result was thrown away and every backward array is zero.
    """

    def __init__(self, module: str, kind: str, layer: int, direction: int, call: int, meta: dict[str, Any],
                 params: dict[str, np.ndarray], roles: dict[str, str], forward: dict[str, np.ndarray],
                 active: np.ndarray | None) -> None:
        self.module = module
        self.kind = kind
        self.layer = layer
        self.direction = direction
        self.call = call
        self.meta = dict(meta)
        self.params = params
        self.roles = roles  # role ("W_ih", "kernel", "gamma_state", ...) -> parameter name
        self.active = active
        self.T, self.B = forward["x"].shape[:2]
        self.order = tuple(range(self.T - 1, -1, -1)) if meta["reverse"] else tuple(range(self.T))
        self.forward = Steps(forward, self.T, self.order)
        self.backward: Steps | None = None
        self.grads: dict[str, np.ndarray] | None = None
        self.final: dict[str, np.ndarray] = {}

    @property
    def cell(self) -> CellKind:
        """The cell kind's table row (:class:`~bptt.trace.names.CellKind`)."""
        return KINDS[self.kind]

    @property
    def reverse(self) -> bool:
        return bool(self.meta["reverse"])

    @property
    def backward_order(self) -> tuple[int, ...]:
        """The order in which the backward pass visits the time steps."""
        return self.order[::-1]

    def seed_name(self, name: str) -> str:
        """The seed's name for one of this layer's quantities (the bptt name when the seed has none)."""
        return self.cell.seed_names.get(name, name)

    def param(self, role: str) -> np.ndarray | None:
        """The value at the forward pass of the parameter with ``role`` (``None`` if the layer has none)."""
        name = self.roles.get(role)
        return None if name is None else self.params[name]

    def set_backward(self, arrays: Mapping[str, np.ndarray], final: dict[str, np.ndarray],
                     grads: dict[str, np.ndarray] | None) -> None:
        """Attach the backward pass (arrays in time order)."""
        self.backward = Steps(arrays, self.T, self.backward_order)
        self.final = final
        self.grads = grads

    def param_grad_steps(self) -> dict[str, np.ndarray]:
        """Per-step gradient shares keyed by parameter name (``weight_ih_l0``: ``(T, 4H, D)``, ...): summed
        over ``t`` each is the gradient this backward pass added to the parameter."""
        if self.backward is None:
            raise TraceError(f"trace: {self._where()} has no backward pass recorded")
        out: dict[str, np.ndarray] = {}
        for role, (name, row) in self.cell.weight_steps.items():
            if role in self.roles and name in self.backward:
                a = self.backward[name]
                out[self.roles[role]] = a if row is None else a[:, row]
        return out

    def _where(self) -> str:
        return f"{self.module} layer {self.layer} {'reverse' if self.direction else 'forward'}"

    def __repr__(self) -> str:
        bw = "recorded" if self.backward is not None else "not recorded"
        return f"LayerTrace({self._where()}, kind={self.kind}, T={self.T}, B={self.B}, backward {bw})"


class ModuleTrace:
    """Everything recorded for one recurrent module: ``calls[c][(layer, direction)]`` is a :class:`LayerTrace`.

    ``mt[layer, direction]`` (direction ``0``/``"forward"`` or ``1``/``"reverse"``) is that layer of the most
    recent call; ``mt.forward`` / ``mt.backward`` are those of layer 0, forward direction, most recent call.
    """

    def __init__(self, name: str, kind: str, num_layers: int, num_directions: int) -> None:
        self.name = name
        self.kind = kind
        self.num_layers = num_layers
        self.num_directions = num_directions
        self.calls: list[dict[tuple[int, int], LayerTrace]] = []

    @property
    def label(self) -> str:
        """The cell's name as people say it ("LSTM", "GRU", ...)."""
        return KINDS[self.kind].label

    def layer(self, layer: int = 0, direction: int | str = 0, call: int = -1) -> LayerTrace:
        """One layer-direction of one call (default: the most recent), with clear errors for bad indices."""
        where = f"trace[{self.name!r}]"
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not (
                0 <= layer < self.num_layers):
            valid = "0" if self.num_layers == 1 else f"0..{self.num_layers - 1}"
            raise TraceError(f"{where}: layer {layer!r} does not exist: the {self.label} has {self.num_layers} "
                             f"layer{'s' if self.num_layers != 1 else ''} (valid: {valid})")
        d = direction_index(direction, where)
        if d >= self.num_directions:
            raise TraceError(f"{where}: direction 'reverse' does not exist: the {self.label} is not bidirectional "
                             "(valid: forward)")
        if not self.calls:
            raise TraceError(f"{where}: nothing was recorded for this module")
        if not -len(self.calls) <= call < len(self.calls):
            raise TraceError(f"{where}: call {call} does not exist ({len(self.calls)} recorded)")
        lt = self.calls[call].get((int(layer), d))
        if lt is None:
            raise TraceError(f"{where}: layer {layer} {'reverse' if d else 'forward'} was not recorded in call "
                             f"{call}")
        return lt

    def __getitem__(self, key: Any) -> LayerTrace:
        if isinstance(key, tuple):
            return self.layer(*key)
        return self.layer(key)

    @property
    def forward(self) -> Steps:
        return self.layer().forward

    @property
    def backward(self) -> Steps:
        lt = self.layer()
        if lt.backward is None:
            raise TraceError(f"trace[{self.name!r}]: no backward pass was recorded (call backward inside the "
                             "trace)")
        return lt.backward

    def layers(self, call: int = -1) -> list[LayerTrace]:
        return list(self.calls[call].values()) if self.calls else []

    def __repr__(self) -> str:
        return (f"ModuleTrace({self.name!r}, kind={self.kind}, num_layers={self.num_layers}, "
                f"num_directions={self.num_directions}, calls={len(self.calls)})")
