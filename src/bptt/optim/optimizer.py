"""``Optimizer``: the base class of :mod:`bptt.optim`, with PyTorch's parameter groups and state dicts.

An optimizer holds ``param_groups``, a list of dicts each with a ``"params"`` list of
:class:`bptt.nn.Parameter` and that group's hyperparameters (``"lr"`` and the rest; change them between
steps, e.g. for a learning-rate schedule), and ``state``, a dict from each parameter to its buffers
(momentum, running averages, step count). ``step()`` updates every parameter of every group in place
from its ``.grad``.

``state_dict()`` returns a snapshot in PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [...]}``,
parameters numbered ``0, 1, ...`` in group order, the values plain Python scalars and NumPy arrays (copies).
``load_state_dict`` restores it into an optimizer built over parameters of the same shapes; the continued run
is bit-identical to the uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..nn.module import Parameter

__all__ = ["Optimizer", "ParamGroup", "ParamsT"]

ParamGroup = dict[str, Any]
ParamsT = Iterable[Parameter] | Iterable[Mapping[str, Any]]


# ---------------------------------------------------------------------------------------------- validation
def _check_bool(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be a bool, got {type(value).__name__} ({value!r})")
    return bool(value)


def _check_real(
    where: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """``value`` as a Python float: a finite real in ``[low, high]`` (``[low, high)`` if ``high_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__} ({value!r})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{where}: {name} must be finite, got {v!r}")
    if low is not None and high is not None:
        ok = low <= v < high if high_open else low <= v <= high
        if not ok:
            interval = f"[{low:g}, {high:g}{')' if high_open else ']'}"
            raise ValueError(f"{where}: {name} must be in {interval}, got {v!r}")
    elif low is not None and not v >= low:
        raise ValueError(f"{where}: {name} must be >= {low:g}, got {v!r}")
    return v


def _check_betas(where: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{where}: betas must be a pair of floats, got {type(value).__name__} ({value!r})")
    betas = tuple(value)
    if len(betas) != 2:
        raise ValueError(f"{where}: betas must be a pair of floats, got {len(betas)} values ({value!r})")
    return (
        _check_real(where, "betas[0]", betas[0], low=0.0, high=1.0, high_open=True),
        _check_real(where, "betas[1]", betas[1], low=0.0, high=1.0, high_open=True),
    )


def _effective_grad(p: Parameter, maximize: bool, weight_decay: float) -> np.ndarray:
    """``-grad`` if maximizing, plus ``weight_decay * param`` (PyTorch's ``grad.add(param, alpha=wd)``).

    Returns ``p.grad`` itself when nothing changes it (callers only read it), a new array otherwise.
    """
    g = p.grad
    if maximize:
        g = np.negative(g)
    if weight_decay != 0:
        wd_p = np.multiply(p.data, weight_decay)
        g = np.add(g, wd_p, out=wd_p)
    return g


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start.lerp_(end, weight)`` as PyTorch computes it, in place on ``start``.

    ``start + w (end - start)`` for ``|w| < 0.5``, otherwise ``end - (end - start)(1 - w)`` (the weight and
    ``1 - w`` are formed in the arrays' dtype, as PyTorch's kernel does).
    """
    w = start.dtype.type(weight)
    diff = np.subtract(end, start)
    if abs(w) < 0.5:
        np.multiply(diff, w, out=diff)
        np.add(start, diff, out=start)
    else:
        np.multiply(diff, start.dtype.type(1) - w, out=diff)
        np.subtract(end, diff, out=start)


# ---------------------------------------------------------------------------------------------- Optimizer
class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``state_dict``/``load_state_dict``.

    Subclasses define ``_validate_hparams`` (check and normalise one group's hyperparameters), ``_update``
    (one group's step), and the state they keep (``_STATE_KEYS``, ``_required_state``).

    Args:
        params: an iterable of :class:`bptt.nn.Parameter` (e.g. ``model.parameters()``) or of dicts
            ``{"params": [...], "lr": ..., ...}`` (parameter groups; missing hyperparameters take the
            defaults).
        defaults: the default hyperparameters.
    """

    #: every key a parameter's state may hold
    _STATE_KEYS: frozenset[str] = frozenset()

    def __init__(self, params: ParamsT, defaults: Mapping[str, Any]) -> None:
        where = type(self).__name__
        self.defaults: dict[str, Any] = self._validate_hparams(dict(defaults), where)
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.param_groups: list[ParamGroup] = []

        if isinstance(params, Parameter):
            raise TypeError(
                f"{where}: params must be an iterable of Parameters or of dicts, got a single Parameter "
                "(wrap it in a list)"
            )
        if isinstance(params, (Mapping, str, bytes)) or not isinstance(params, Iterable):
            raise TypeError(
                f"{where}: params must be an iterable of Parameters or of dicts (parameter groups), "
                f"got {type(params).__name__}"
            )
        items = list(params)
        if not items:
            raise ValueError(f"{where}: got an empty parameter list")
        if all(isinstance(x, Mapping) for x in items):
            groups: list[Mapping[str, Any]] = items
        elif any(isinstance(x, Mapping) for x in items):
            raise TypeError(
                f"{where}: params must be all Parameters or all dicts (parameter groups), not a mix"
            )
        else:
            groups = [{"params": items}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ hooks for subclasses
    def _validate_hparams(self, group: dict[str, Any], where: str) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _update(self, group: ParamGroup) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _required_state(self, group: ParamGroup) -> frozenset[str]:
        """Keys a parameter's (non-empty) state must hold under ``group``'s hyperparameters."""
        return self._STATE_KEYS

    def stateful(self) -> bool:
        """Whether a step leaves state for every parameter under the current hyperparameters (moment
        estimates, momentum buffers, accumulators); plain SGD keeps none."""
        return any(self._required_state(g) for g in self.param_groups)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Append a parameter group (a dict with ``"params"``; missing hyperparameters take the defaults)."""
        name = type(self).__name__
        where = f"{name}: param group {len(self.param_groups)}"
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{where} must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{where} has no 'params' entry")
        raw = param_group["params"]
        if isinstance(raw, Parameter):
            plist = [raw]
        elif isinstance(raw, (set, frozenset)):
            raise TypeError(f"{where}: 'params' must be an ordered collection (a list), not a set")
        elif isinstance(raw, (Mapping, str, bytes)) or not isinstance(raw, Iterable):
            raise TypeError(f"{where}: 'params' must be an iterable of Parameters, got {type(raw).__name__}")
        else:
            plist = list(raw)
        if not plist:
            raise ValueError(f"{where}: 'params' is empty")
        seen: set[int] = set()
        for i, p in enumerate(plist):
            if not isinstance(p, Parameter):
                raise TypeError(f"{where}: params[{i}] must be a bptt.nn.Parameter, got {type(p).__name__}")
            if not np.issubdtype(p.data.dtype, np.floating):
                raise TypeError(f"{where}: params[{i}] must have a floating dtype, got {p.data.dtype}")
            if id(p) in seen:
                raise ValueError(f"{where}: params[{i}] appears more than once in the group")
            seen.add(id(p))
        for g in self.param_groups:
            if any(id(q) in seen for q in g["params"]):
                raise ValueError(f"{where}: some parameters appear in more than one parameter group")

        group: dict[str, Any] = dict(self.defaults)
        group.update((k, v) for k, v in param_group.items() if k != "params")
        group = self._validate_hparams(group, where)
        group["params"] = plist
        self.param_groups.append(group)

    # ------------------------------------------------------------------ stepping
    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero (in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter in place from its ``.grad``; returns ``closure()`` if one is given."""
        loss = None
        if closure is not None:
            loss = closure()
        for gi, group in enumerate(self.param_groups):  # check everything before changing anything
            for i, p in enumerate(group["params"]):
                if p.grad.shape != p.data.shape:
                    raise ValueError(
                        f"{type(self).__name__}.step: param group {gi}, params[{i}]: grad has shape "
                        f"{p.grad.shape}, but the parameter has shape {p.data.shape}"
                    )
        for group in self.param_groups:
            self._update(group)
        return loss

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """A snapshot: ``{"state": {index: {name: value}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are numbered consecutively over the groups, as PyTorch does; arrays are copies, scalars
        plain Python numbers (``step`` an int).
        """
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in g["params"]]
            groups.append(packed)
        state: dict[int, dict[str, Any]] = {}
        for g in self.param_groups:
            for p in g["params"]:
                st = self.state.get(p)
                if st:
                    state[index[id(p)]] = {
                        k: (v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v))
                        for k, v in st.items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (hyperparameters and buffers); everything is checked before anything
        changes. Integer keys may also be given as strings (as after a JSON round trip)."""
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise TypeError(f"{where}: state_dict must be a mapping with 'state' and 'param_groups' entries")
        saved_groups = state_dict["param_groups"]
        saved_state = state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)):
            raise TypeError(f"{where}: 'param_groups' must be a list, got {type(saved_groups).__name__}")
        if not isinstance(saved_state, Mapping):
            raise TypeError(f"{where}: 'state' must be a mapping, got {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: the state dict has {len(saved_groups)} parameter groups, the optimizer has "
                f"{len(self.param_groups)}"
            )

        new_groups: list[ParamGroup] = []
        by_index: dict[int, tuple[Parameter, ParamGroup]] = {}
        for gi, (ours, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if not isinstance(saved, Mapping) or "params" not in saved:
                raise TypeError(f"{where}: param_groups[{gi}] must be a mapping with a 'params' entry")
            ids = list(saved["params"])
            if len(ids) != len(ours["params"]):
                raise ValueError(
                    f"{where}: param_groups[{gi}] has {len(ids)} parameters, the optimizer's group has "
                    f"{len(ours['params'])}"
                )
            merged = {k: v for k, v in ours.items() if k != "params"}
            merged.update((k, copy.deepcopy(v)) for k, v in saved.items() if k != "params")
            merged = self._validate_hparams(merged, f"{where}: param_groups[{gi}]")
            merged["params"] = ours["params"]
            new_groups.append(merged)
            for raw_i, p in zip(ids, ours["params"], strict=True):
                i = _as_index(raw_i, where)
                if i in by_index:
                    raise ValueError(f"{where}: parameter index {i} appears more than once in 'param_groups'")
                by_index[i] = (p, merged)

        new_state: dict[Parameter, dict[str, Any]] = {}
        for raw_i, st in saved_state.items():
            i = _as_index(raw_i, where)
            if i not in by_index:
                raise ValueError(f"{where}: state for parameter index {i}, which no parameter group lists")
            p, group = by_index[i]
            new_state[p] = self._load_param_state(p, group, st, f"{where}: state[{i}]")
        for g, new in zip(self.param_groups, new_groups, strict=True):  # commit
            g.clear()
            g.update(new)
        self.state = new_state

    def _load_param_state(self, p: Parameter, group: ParamGroup, st: Any, where: str) -> dict[str, Any]:
        if not isinstance(st, Mapping):
            raise TypeError(f"{where} must be a mapping, got {type(st).__name__}")
        if not st:
            return {}
        unknown = sorted(set(st) - self._STATE_KEYS)
        if unknown:
            raise ValueError(
                f"{where}: unexpected keys {unknown} (expected some of {sorted(self._STATE_KEYS)})"
            )
        missing = sorted(self._required_state(group) - set(st))
        if missing:
            raise ValueError(f"{where}: missing keys {missing}")
        out: dict[str, Any] = {}
        for k, v in st.items():
            if k == "step":
                s = v.item() if hasattr(v, "item") else v  # NumPy / torch scalars
                if (
                    isinstance(s, bool)
                    or not isinstance(s, numbers.Real)
                    or not math.isfinite(s)
                    or s < 0
                    or s != int(s)
                ):
                    raise ValueError(f"{where}: 'step' must be a non-negative integer, got {v!r}")
                out[k] = int(s)
                continue
            if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor
                v = v.detach().cpu().numpy()
            a = np.asarray(v)
            if a.shape != p.data.shape:
                raise ValueError(f"{where}: {k!r} must have shape {p.data.shape}, got {a.shape}")
            if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
                raise TypeError(f"{where}: {k!r} must be numeric, got dtype {a.dtype}")
            out[k] = np.array(a, dtype=p.data.dtype, copy=True)
        return out

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)


def _as_index(raw: Any, where: str) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool):
        return int(raw)
    raise TypeError(f"{where}: parameter indices must be integers, got {type(raw).__name__} ({raw!r})")
