r"""Record every intermediate of the recurrent layers, forward and backward, named as seed 000 names them.

::

    import bptt

    with bptt.trace() as tr:                 # or bptt.trace(model): modules named by their attribute path
        out, _ = lstm(x)
        lstm.backward(dout)

    tr["lstm"].backward[2]["dc"]             # seed 000's dCt at time step 2, shape (B, H)
    tr["lstm"].backward["dc"]                # all steps at once, shape (T, B, H)
    tr["lstm"].backward.shapes               # {"dh": (B, H), "do": (B, H), ..., "dW_ih": (4H, D), ...}
    tr["lstm"].backward.norms("dh")          # ||dL/dh_t|| for t = 0 .. T-1
    tr["lstm"][1, "reverse"].forward[0]["f"] # layer 1, reverse direction, forget gate at t = 0
    tr.save("run.npz");  tr2 = bptt.trace.load("run.npz")

What is recorded, per module, call, layer, direction and time step ``t`` (time order, also for a reverse
direction; ``steps.order`` is the processing order):

===========  =====================================================================================
forward      ``x``, ``h_prev``, ``c_prev``, ``z`` = [x, h_prev] (seed: HX), ``a`` (gate pre-activations),
             gates ``i``, ``f``, ``g`` (seed: Cproj), ``o``, ``c``, ``tanh_c``, ``h``
             (GRU: ``r``, ``z`` (update gate), ``n``, ``gh_n``; RNN: ``a``, ``h``)
backward     ``dy`` (from above), ``dh_next_in`` / ``dc_next_in`` (carried in from step t+1),
             ``dh`` (dHt), ``do`` (dOt), ``dc`` (dCt), ``dg`` (dCprojt), ``df`` (dFt), ``di`` (dIt),
             ``da_i``, ``da_f``, ``da_g``, ``da_o`` and ``da`` (after the sigmoid/tanh derivatives),
             ``dz`` (dHX) = [``dx``, ``dh_next``], ``dc_next`` (dC_next), and the per-step weight-gradient
             contributions ``dW_ih`` = da_t^T x_t, ``dW_hh`` = da_t^T h_{t-1}, ``db_ih``, ``db_hh``
             (summed over the batch; summed over t they are the parameter gradients)
===========  =====================================================================================

GRU, RNN and LayerNormLSTM use their own names (see :data:`BACKWARD_NAMES`); :data:`SEED_NAMES` maps bptt's
names to the seed's.

**Cost.** Nothing happens unless a trace is active: the recurrent modules look the active recorder up once per
call (a :class:`contextvars.ContextVar`, the only state) and pass ``record=None`` to the functional ops, whose
only extra work is one ``if record is not None`` per call, never per time step. When a trace is active the
functional ops hand over the full-sequence arrays they have already stored (states, gates, ``DH``, ``DC``,
``dA``); the trace copies them (the module's workspace recycles the originals) and derives the per-step
quantities the backward pass fuses away (``do``, ``dg``, ``df``, ``di``, ``dz``, ``dc_next``, the per-step
weight gradients) vectorised over all steps, lazily, the first time they are asked for.

**Text.** The loggers ``bptt.trace.forward`` and ``bptt.trace.backward`` print every recorded quantity,
step by step, at ``DEBUG`` level, the equivalents of Deep-Breathe's ``debug`` and ``backpassdebug``
switches: ``with bptt.trace.debug_logging(forward=False, backward=True): ...``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .functional import gru as _gru
from .functional import ln_lstm as _ln
from .functional import lstm as _lstm
from .functional import rnn as _rnn
from .nn import hooks as _hooks
from .nn.module import is_grad_enabled
from .nn.recurrent.ln_lstm import LN_SCOPES as _LN_SCOPES

__all__ = [
    "Trace",
    "ModuleTrace",
    "LayerTrace",
    "Steps",
    "TraceError",
    "trace",
    "load",
    "active",
    "debug_logging",
    "SEED_NAMES",
    "BACKWARD_NAMES",
    "FORWARD_NAMES",
]

#: The active recorder (``None``: tracing is off): bptt.nn's neutral hook point, which a Trace fills.
_ACTIVE: contextvars.ContextVar = _hooks.RECORDER

FORWARD_LOGGER = "bptt.trace.forward"
BACKWARD_LOGGER = "bptt.trace.backward"
_flog = logging.getLogger(FORWARD_LOGGER)
_blog = logging.getLogger(BACKWARD_LOGGER)

_KIND = {"LSTM": "lstm", "LNLSTM": "lnlstm", "GRU": "gru", "RNN_TANH": "rnn", "RNN_RELU": "rnn"}
_KEEP = ("all", "last", "none")

#: bptt's name -> seed 000's name, per kind of layer (names without an entry are the same in both).
SEED_NAMES: dict[str, dict[str, str]] = {
    "lstm": {
        "dh": "dHt", "do": "dOt", "dc": "dCt", "dg": "dCprojt", "df": "dFt", "di": "dIt", "dz": "dHX",
        "dc_next": "dC_next", "dx": "dxt", "g": "Cproj", "z": "HX", "c": "Ct", "h": "Ht",
        "dW_ih": "dW (x rows)", "dW_hh": "dW (h rows)", "db_ih": "dB", "db_hh": "dB",
    },
    "gru": {"dh": "dHt", "dx": "dxt"},
    "rnn": {"dh": "dHt", "dz": "dHX", "dx": "dxt"},
}
SEED_NAMES["lnlstm"] = {**SEED_NAMES["lstm"], "dkernel": "dW", "dbias": "dB"}

#: Forward names per kind, in the order of the seed's forward summary.
FORWARD_NAMES: dict[str, tuple[str, ...]] = {
    "lstm": ("x", "h_prev", "c_prev", "z", "a", "f", "i", "g", "o", "c", "tanh_c", "h"),
    "lnlstm": ("x", "h_prev", "c_prev", "z", "a", "f", "i", "g", "o", "c", "tanh_c", "h"),
    "gru": ("x", "h_prev", "r", "z", "n", "gh_n", "h"),
    "rnn": ("x", "h_prev", "z", "a", "h"),
}
#: Backward names per kind: the seed's order first (dHt, dOt, dCt, dCprojt, dFt, dIt, dHX, dC_next).
BACKWARD_NAMES: dict[str, tuple[str, ...]] = {
    "lstm": ("dy", "dh_next_in", "dh", "do", "dc_next_in", "dc", "dg", "df", "di", "dz", "dc_next",
             "da_o", "da_g", "da_f", "da_i", "da", "dx", "dh_next"),
    "lnlstm": ("dy", "dh_next_in", "dh", "do", "dc_next_in", "dc", "dc_tilde", "dg", "df", "di", "dz",
               "dc_next", "da_o", "da_g", "da_f", "da_i", "da_hat", "da", "dx", "dh_next"),
    "gru": ("dy", "dh_next_in", "dh", "dn", "dz", "dr", "da_n", "da_z", "da_r", "dgx", "dgh", "dx",
            "dh_next"),
    "rnn": ("dy", "dh_next_in", "dh", "da", "dz", "dx", "dh_next"),
}
#: Per-step weight-gradient contributions per kind (shapes without the batch axis).
WEIGHT_STEP_NAMES: dict[str, tuple[str, ...]] = {
    "lstm": ("dW_ih", "dW_hh", "db_ih", "db_hh", "dW_hr"),
    "lnlstm": ("dkernel", "dbias", "dgamma", "dbeta"),
    "gru": ("dW_ih", "dW_hh", "db_ih", "db_hh"),
    "rnn": ("dW_ih", "dW_hh", "db_ih", "db_hh"),
}
#: The names the text loggers print, in order, per kind and pass.
_LOG_NAMES = {
    ("lstm", "forward"): ("z", "f", "i", "g", "o", "c", "h"),
    ("lnlstm", "forward"): ("z", "f", "i", "g", "o", "c", "h"),
    ("gru", "forward"): ("r", "z", "n", "h"),
    ("rnn", "forward"): ("a", "h"),
    ("lstm", "backward"): ("dh", "do", "dc", "dg", "df", "di", "dz", "dh_next", "dc_next"),
    ("lnlstm", "backward"): ("dh", "do", "dc", "dg", "df", "di", "dz", "dh_next", "dc_next"),
    ("gru", "backward"): ("dh", "dn", "dz", "dr", "dx", "dh_next"),
    ("rnn", "backward"): ("dh", "da", "dx", "dh_next"),
}


class TraceError(LookupError):
    """A trace lookup that cannot be answered (unknown module, layer, direction, step or name)."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


def _direction_index(direction: int | str, where: str = "trace") -> int:
    if isinstance(direction, str):
        d = {"forward": 0, "fw": 0, "reverse": 1, "backward": 1, "bw": 1}.get(direction.lower())
        if d is None:
            raise TraceError(f"{where}: direction must be 'forward' or 'reverse' (or 0 / 1), got {direction!r}")
        return d
    if isinstance(direction, (int, np.integer)) and not isinstance(direction, bool) and direction in (0, 1):
        return int(direction)
    raise TraceError(f"{where}: direction must be 'forward' or 'reverse' (or 0 / 1), got {direction!r}")


def _norms(a: np.ndarray) -> np.ndarray:
    """Frobenius norm of each ``a[t]`` (float64)."""
    flat = np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1)
    return np.sqrt(np.einsum("ij,ij->i", flat, flat))


# ---------------------------------------------------------------------------------------------- steps
class Steps:
    """Per-step view of a group of time-ordered arrays.

    ``steps[t]`` is step ``t`` (a read-only mapping ``name -> array``, e.g. ``steps[2]["dc"]`` of shape
    ``(B, H)``); ``steps["dc"]`` is the whole ``(T, B, H)`` array; ``len(steps)`` is ``T``; iterating yields the
    steps in time order. Derived quantities are computed (vectorised over all steps) on first access.
    """

    def __init__(self, arrays: dict[str, np.ndarray], T: int, order: tuple[int, ...],
                 lazy: dict[str, Callable[[], dict[str, np.ndarray]]] | None = None,
                 preferred: tuple[str, ...] = ()) -> None:
        self._arrays = dict(arrays)
        self._lazy = dict(lazy or {})  # name -> deriver (one deriver may provide several names)
        self._T = T
        self.order = tuple(order)  #: processing order of the time steps
        known = list(self._arrays) + [n for n in self._lazy if n not in self._arrays]
        self._names = [n for n in preferred if n in known] + [n for n in known if n not in preferred]

    # -- access
    @property
    def names(self) -> list[str]:
        """Every recorded or derivable name, the seed's order first."""
        return list(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays or name in self._lazy

    def array(self, name: str) -> np.ndarray:
        """The full time-ordered array of ``name`` (``(T, B, ...)``; weight contributions ``(T, ...)``)."""
        if name not in self._arrays:
            deriver = self._lazy.get(name)
            if deriver is None:
                raise TraceError(f"trace: no quantity named {name!r}; recorded: {', '.join(self._names)}")
            made = deriver()
            for k, v in made.items():
                self._arrays.setdefault(k, v)
                self._lazy.pop(k, None)
        return self._arrays[name]

    def materialize(self) -> dict[str, np.ndarray]:
        """Every quantity as a full array (derives what is still lazy)."""
        return {n: self.array(n) for n in self._names}

    def __len__(self) -> int:
        return self._T

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self.array(key)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            t = int(key)
            if not -self._T <= t < self._T:
                raise TraceError(f"trace: step {t} is out of range for a sequence of T={self._T} steps "
                                 f"(valid: 0..{self._T - 1}, or negative from the end)")
            return Step(self, t % self._T)
        raise TraceError(f"trace: index steps by an int (time step) or a str (name), got {type(key).__name__}")

    def __iter__(self) -> Iterator[Step]:
        return (Step(self, t) for t in range(self._T))

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-step shape of every quantity (e.g. ``(5, 1)``-style: ``(B, H)``)."""
        return {n: tuple(self.array(n).shape[1:]) for n in self._names}

    def norms(self, name: str | None = None) -> Any:
        """``||q_t||`` (Frobenius over the batch and units) for every step: one ``(T,)`` array for ``name``,
        else a dict of them for every quantity."""
        if name is not None:
            return _norms(self.array(name))
        return {n: _norms(self.array(n)) for n in self._names}

    def __repr__(self) -> str:
        return f"Steps(T={self._T}, names=[{', '.join(self._names)}])"


class Step:
    """One time step of a :class:`Steps`: ``step["dc"]`` is ``steps["dc"][t]``."""

    __slots__ = ("_steps", "t")

    def __init__(self, steps: Steps, t: int) -> None:
        self._steps = steps
        self.t = t

    def __getitem__(self, name: str) -> np.ndarray:
        return self._steps.array(name)[self.t]

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def keys(self) -> list[str]:
        return self._steps.names

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps.names)

    def __len__(self) -> int:
        return len(self._steps.names)

    def items(self) -> list[tuple[str, np.ndarray]]:
        return [(n, self[n]) for n in self._steps.names]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._steps else default

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: tuple(self[n].shape) for n in self._steps.names}

    def norms(self) -> dict[str, float]:
        return {n: float(np.linalg.norm(np.asarray(self[n], dtype=np.float64))) for n in self._steps.names}

    def __repr__(self) -> str:
        return f"Step(t={self.t}, names=[{', '.join(self._steps.names)}])"


# ---------------------------------------------------------------------------------------------- one layer
class LayerTrace:
    """Everything recorded for one layer and direction of one call of a recurrent module.

    ``forward`` and ``backward`` are :class:`Steps` (``backward`` is ``None`` until the backward pass ran);
    ``params`` maps the module's parameter names (``weight_ih_l0``, ...) to copies of their values at the
    forward pass; ``grads`` to the gradients this backward pass added; ``final`` holds the layer-level
    state gradients ``dh_n``, ``dc_n`` (given at the top) and ``dh0``, ``dc0`` (returned at the bottom).
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
        self.active = active  # (T, B) bool, None without lengths
        T = forward["x"].shape[0]
        self.T = T
        self.B = forward["x"].shape[1]
        self.order = tuple(range(T - 1, -1, -1)) if meta["reverse"] else tuple(range(T))
        self.forward = Steps(forward, T, self.order, self._forward_lazy(), FORWARD_NAMES[kind])
        self.backward: Steps | None = None
        self.grads: dict[str, np.ndarray] | None = None
        self.final: dict[str, np.ndarray] = {}

    @property
    def reverse(self) -> bool:
        return bool(self.meta["reverse"])

    @property
    def backward_order(self) -> tuple[int, ...]:
        """The order in which the backward pass visits the time steps."""
        return self.order[::-1]

    def seed_name(self, name: str) -> str:
        """The seed's name for one of this layer's quantities (the bptt name when the seed has none)."""
        return SEED_NAMES[self.kind].get(name, name)

    def param(self, role: str) -> np.ndarray | None:
        name = self.roles.get(role)
        return None if name is None else self.params[name]

    def _mask(self, a: np.ndarray) -> np.ndarray:
        return a if self.active is None else a * self.active[:, :, None]

    # -- forward extras
    def _forward_lazy(self) -> dict[str, Callable[[], dict[str, np.ndarray]]]:
        if self.kind == "gru":
            return {}
        return {"z": self._derive_z, "a": self._derive_a}

    def _derive_z(self) -> dict[str, np.ndarray]:
        f = self.forward
        return {"z": np.concatenate([f["x"], f["h_prev"]], axis=-1)}

    def _derive_a(self) -> dict[str, np.ndarray]:
        f = self.forward
        x, hp = f["x"], f["h_prev"]
        if self.kind == "lnlstm":
            a = np.concatenate([x, hp], axis=-1) @ self.param("kernel")
            if self.param("bias") is not None:
                a = a + self.param("bias")
            return {"a": a}  # before layer norm and forget_bias
        a = x @ self.param("W_ih").T + hp @ self.param("W_hh").T
        if self.param("b_ih") is not None:
            a = a + self.param("b_ih") + self.param("b_hh")
        if self.kind == "lstm" and self.meta.get("forget_bias"):
            H = a.shape[-1] // 4
            a[..., H : 2 * H] += self.meta["forget_bias"]
        return {"a": a}

    # -- backward
    def _set_backward(self, raw: dict[str, Any], copy: bool = True) -> None:
        """Keep the backward arrays handed over by a functional op (copied: the op recycles them)."""
        cp = (lambda a: None if a is None else np.array(a, copy=True)) if copy else (lambda a: a)
        k = self.kind
        dout = raw["dout"]
        grads = raw["grads"]
        T, B = self.T, self.B
        P = self.forward["h"].shape[2]
        dt = self.forward["h"].dtype
        dy = np.zeros((T, B, P), dtype=dt) if dout[0] is None else self._mask(np.asarray(dout[0], dtype=dt))
        base = {"dy": dy if dout[0] is None else np.array(dy, copy=True), "dh": cp(raw["DH"])}
        final = {"dh_n": np.zeros((B, P), dtype=dt) if dout[1] is None else cp(np.asarray(dout[1], dtype=dt))}
        if k in ("lstm", "lnlstm"):
            H = self.forward["c"].shape[2]
            final["dc_n"] = np.zeros((B, H), dtype=dt) if dout[2] is None else cp(np.asarray(dout[2], dtype=dt))
            base["dc"] = cp(raw["DC"])
            base["da"] = cp(raw["dA"])
            if k == "lnlstm":
                base["da_hat"] = cp(raw["dAhat"]).reshape(T, B, -1)
            final["dh0"], final["dc0"] = cp(grads[1]), cp(grads[2])
            pgrads = grads[3:]
        elif k == "gru":
            base["dgh"], base["dgx"] = cp(raw["DGH"]), cp(raw["DGX"])
            final["dh0"] = cp(grads[1])
            pgrads = grads[2:]
        else:
            base["da"] = cp(raw["dA"])
            final["dh0"] = cp(grads[1])
            pgrads = grads[2:]
        if grads[0] is not None:
            base["dx"] = cp(grads[0])
        self.final = final
        self.grads = self._param_grads(pgrads, cp)
        derived = BACKWARD_NAMES[k] + (("dr",) if "W_hr" in self.roles else ())
        names = derived + WEIGHT_STEP_NAMES[k]
        derive = functools.lru_cache(maxsize=None)(self._derive_backward)
        weights = functools.lru_cache(maxsize=None)(self._derive_weight_steps)
        lazy = {n: derive for n in derived if n not in base}
        lazy.update({n: weights for n in self._weight_step_names()})
        self.backward = Steps(base, T, self.backward_order, lazy, names)

    def _param_grads(self, pgrads: tuple, cp: Callable) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.kind == "lnlstm":
            dkernel, dbias, dgamma, dbeta = pgrads
            out[self.roles["kernel"]] = cp(dkernel)
            if dbias is not None and "bias" in self.roles:
                out[self.roles["bias"]] = cp(dbias)
            if dgamma is not None:
                for j, s in enumerate(_LN_SCOPES):
                    out[self.roles[f"gamma_{s}"]] = cp(dgamma[j])
                    out[self.roles[f"beta_{s}"]] = cp(dbeta[j])
            return out
        for role, g in zip(("W_ih", "W_hh", "b_ih", "b_hh", "W_hr"), pgrads):
            if g is not None and role in self.roles:
                out[self.roles[role]] = cp(g)
        return out

    def _carry(self, out: np.ndarray, incoming: np.ndarray, through: np.ndarray) -> np.ndarray:
        """``out[t]`` where the step is active, else the carried gradient (passed straight through)."""
        if self.active is None:
            return out
        carried = incoming
        for t in self.backward_order:
            a = self.active[t][:, None]
            out[t] = np.where(a, out[t], carried if through is None else through[t])
            carried = out[t]
        return out

    def _shift_in(self, out_next: np.ndarray, first: np.ndarray) -> np.ndarray:
        """The gradient each step receives: the previous backward step's output (``first`` for the first)."""
        bo = np.asarray(self.backward_order)
        inc = np.empty_like(out_next)
        inc[bo[0]] = first
        inc[bo[1:]] = out_next[bo[:-1]]
        return inc

    def _derive_backward(self) -> dict[str, np.ndarray]:
        fw, bw = self.forward, self.backward
        k = self.kind
        m = self._mask
        dh = bw.array("dh")
        out: dict[str, np.ndarray] = {}
        if k in ("lstm", "lnlstm"):
            i, f, g, tc, c_prev = fw["i"], fw["f"], fw["g"], fw["tanh_c"], fw["c_prev"]
            H = i.shape[2]
            W_hr = self.param("W_hr")
            dho = dh if W_hr is None else dh @ W_hr
            if W_hr is not None:
                out["dr"] = m(dho)
            dc = bw.array("dc")
            if k == "lnlstm" and self.meta["layer_norm"]:
                gamma = np.stack([self.param(f"gamma_{s}") for s in _LN_SCOPES])
                dct = _ln.ln_backward_rows(dc, fw["xhat_c"], fw["rstd_c"], gamma[4])
            else:
                dct = dc
            if k == "lnlstm":
                out["dc_tilde"] = m(dct)
            out["do"] = m(dho * tc)
            out["dg"] = m(dct * i)
            out["df"] = m(dct * c_prev)
            out["di"] = m(dct * g)
            if k == "lstm":
                da4 = bw.array("da").reshape(self.T, self.B, 4, H)
                blocks = {"da_i": 0, "da_f": 1, "da_g": 2, "da_o": 3}
            else:
                da4 = bw.array("da_hat").reshape(self.T, self.B, 4, H)
                blocks = {"da_i": 0, "da_g": 1, "da_f": 2, "da_o": 3}
            for name, j in blocks.items():
                out[name] = da4[:, :, j]
            da = bw.array("da")
            if k == "lstm":
                W_x, W_h = self.param("W_ih"), self.param("W_hh")
            else:
                D = fw["x"].shape[2]
                W_x, W_h = self.param("kernel")[:D].T, self.param("kernel")[D:].T
            dh_next = self._carry(da @ W_h, None, dh)
            dc_next = self._carry(dct * f, self.final["dc_n"], None)
            out["dc_next"] = dc_next
            out["dc_next_in"] = self._shift_in(dc_next, self.final["dc_n"])
        elif k == "gru":
            z, n, ghn, hp = fw["z"], fw["n"], fw["gh_n"], fw["h_prev"]
            H = z.shape[2]
            dgh, dgx = bw.array("dgh"), bw.array("dgx")
            out["dn"] = m(dh * (1.0 - z))
            out["dz"] = m(dh * (hp - n))
            out["da_n"] = dgx[:, :, 2 * H :]
            out["da_z"] = dgh[:, :, H : 2 * H]
            out["da_r"] = dgh[:, :, :H]
            out["dr"] = m(out["da_n"] * ghn)
            W_x = self.param("W_ih")
            dh_next = self._carry(dh * z + dgh @ self.param("W_hh"), None, dh)
            da = dgx
        else:
            da = bw.array("da")
            W_x = self.param("W_ih")
            dh_next = self._carry(da @ self.param("W_hh"), None, dh)
        dx = bw.array("dx") if "dx" in bw._arrays else da @ W_x
        out["dx"] = dx
        out["dh_next"] = dh_next
        out["dh_next_in"] = self._shift_in(dh_next, self.final["dh_n"])
        if k != "gru":
            out["dz"] = np.concatenate([dx, dh_next], axis=-1)
        return out

    def _weight_step_names(self) -> tuple[str, ...]:
        if self.kind == "lnlstm":
            names = ["dkernel"]
            if "bias" in self.roles:
                names.append("dbias")
            if self.meta["layer_norm"]:
                names += ["dgamma", "dbeta"]
            return tuple(names)
        names = ["dW_ih", "dW_hh"]
        if "b_ih" in self.roles:
            names += ["db_ih", "db_hh"]
        if "W_hr" in self.roles:
            names.append("dW_hr")
        return tuple(names)

    def _derive_weight_steps(self) -> dict[str, np.ndarray]:
        """Per-step contributions: each summed over t is the parameter's gradient from this call."""
        fw, bw = self.forward, self.backward
        x, hp = fw["x"], fw["h_prev"]
        out: dict[str, np.ndarray] = {}
        if self.kind == "lnlstm":
            da = bw.array("da")
            out["dkernel"] = np.concatenate([x.transpose(0, 2, 1) @ da, hp.transpose(0, 2, 1) @ da], axis=1)
            if "bias" in self.roles:
                out["dbias"] = da.sum(axis=1)
            if self.meta["layer_norm"]:
                T, B, H = fw["c"].shape
                dah = bw.array("da_hat").reshape(T, B, 4, H)
                dcm = self._mask(bw.array("dc"))
                dgamma_c = np.einsum("tbh,tbh->th", dcm, fw["xhat_c"])[:, None]
                out["dgamma"] = np.concatenate([np.einsum("tbkh,tbkh->tkh", dah, fw["xhat"]), dgamma_c], axis=1)
                out["dbeta"] = np.concatenate([dah.sum(axis=1), dcm.sum(axis=1)[:, None]], axis=1)
            return out
        if self.kind == "gru":
            dgx, dgh = bw.array("dgx"), bw.array("dgh")
        else:
            dgx = dgh = bw.array("da")
        out["dW_ih"] = dgx.transpose(0, 2, 1) @ x
        out["dW_hh"] = dgh.transpose(0, 2, 1) @ hp
        if "b_ih" in self.roles:
            out["db_ih"] = dgx.sum(axis=1)
            out["db_hh"] = dgh.sum(axis=1)
        if "W_hr" in self.roles:
            out["dW_hr"] = self._mask(bw.array("dh")).transpose(0, 2, 1) @ fw["r"]
        return out

    def param_grad_steps(self) -> dict[str, np.ndarray]:
        """Per-step gradient contributions keyed by parameter name (``weight_ih_l0``: ``(T, 4H, D)``, ...)."""
        if self.backward is None:
            raise TraceError(f"trace: {self._where()} has no backward pass recorded")
        bw = self.backward
        out: dict[str, np.ndarray] = {}
        if self.kind == "lnlstm":
            out[self.roles["kernel"]] = bw["dkernel"]
            if "dbias" in bw:
                out[self.roles["bias"]] = bw["dbias"]
            if self.meta["layer_norm"]:
                for j, s in enumerate(_LN_SCOPES):
                    out[self.roles[f"gamma_{s}"]] = bw["dgamma"][:, j]
                    out[self.roles[f"beta_{s}"]] = bw["dbeta"][:, j]
            return out
        for role, name in (("W_ih", "dW_ih"), ("W_hh", "dW_hh"), ("b_ih", "db_ih"), ("b_hh", "db_hh"),
                           ("W_hr", "dW_hr")):
            if role in self.roles:
                out[self.roles[role]] = bw[name]
        return out

    def _where(self) -> str:
        return f"{self.module} layer {self.layer} {'reverse' if self.direction else 'forward'}"

    def __repr__(self) -> str:
        bw = "recorded" if self.backward is not None else "not recorded"
        return f"LayerTrace({self._where()}, kind={self.kind}, T={self.T}, B={self.B}, backward {bw})"


def _copy(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.array(a, copy=True)


def _forward_arrays(kind: str, cache: Any) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, Any]]:
    """Copies of the named forward intermediates of a functional op's cache, its mask and facts."""
    if kind == "lstm":
        fw = _lstm.forward_intermediates(cache)
        active, meta = cache.active, {"reverse": bool(cache.reverse), "has_bias": bool(cache.has_bias)}
    elif kind == "lnlstm":
        fw = dict(_ln.forward_intermediates(cache))
        active = cache.active
        meta = {"reverse": bool(cache.reverse), "has_bias": bool(cache.has_bias), "layer_norm": cache.ln is not None}
        if cache.g_mask is not None:
            fw["g_raw"], fw["g_mask"] = cache.G, cache.g_mask
        if cache.ln is not None:
            fw.update(xhat=cache.ln.XH, rstd=cache.ln.RS, xhat_c=cache.ln.XHc, rstd_c=cache.ln.RSc)
    elif kind == "gru":
        fw = _gru.forward_intermediates(cache)
        active, meta = cache.active, {"reverse": bool(cache.reverse), "has_bias": bool(cache.has_bias)}
    else:
        fw = _rnn.forward_intermediates(cache)
        active = cache.active
        meta = {"reverse": bool(cache.reverse), "has_bias": bool(cache.has_bias),
                "nonlinearity": "relu" if cache.relu else "tanh"}
    arrays = {k: np.array(v, copy=True) for k, v in fw.items()}
    return arrays, (None if active is None else np.array(active[:, :, 0], copy=True)), meta


# ---------------------------------------------------------------------------------------------- one module
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

    def layer(self, layer: int = 0, direction: int | str = 0, call: int = -1) -> LayerTrace:
        """One layer-direction of one call (default: the most recent), with clear errors for bad indices."""
        where = f"trace[{self.name!r}]"
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not (
                0 <= layer < self.num_layers):
            valid = "0" if self.num_layers == 1 else f"0..{self.num_layers - 1}"
            raise TraceError(f"{where}: layer {layer!r} does not exist: the module has {self.num_layers} "
                             f"layer{'s' if self.num_layers != 1 else ''} (valid: {valid})")
        d = _direction_index(direction, where)
        if d >= self.num_directions:
            raise TraceError(f"{where}: direction 'reverse' does not exist: the module is not bidirectional "
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


# ---------------------------------------------------------------------------------------------- the recorder
class Trace:
    """A recorder: ``with Trace() as tr:`` (or ``bptt.trace()``) records every recurrent module called inside.

    ``model`` (optional) names the modules by their attribute path in it (``"rnn"``, ``"encoder.lstm"``);
    otherwise by kind (``"lstm"``, ``"gru"``, ``"rnn"``, ``"layernormlstm"``, then ``"lstm_1"``, ... for
    further modules of the same kind). ``keep`` is ``"all"`` (every call), ``"last"`` (only each module's most
    recent call: for tracing inside a training loop) or ``"none"`` (nothing kept: text logging only).
    """

    def __init__(self, model: Any = None, *, keep: str = "all") -> None:
        if keep not in _KEEP:
            raise ValueError(f"trace: keep must be one of {', '.join(_KEEP)}, got {keep!r}")
        self.keep = keep
        self.modules: dict[str, ModuleTrace] = {}
        self._model = model
        self._model_names: dict[int, str] | None = None
        self._by_id: dict[int, tuple[Any, ModuleTrace]] = {}
        self._pending: dict[int, tuple[Any, LayerTrace]] = {}
        self._tokens: list[contextvars.Token] = []

    # -- context
    def __enter__(self) -> Trace:
        self._tokens.append(_ACTIVE.set(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        _ACTIVE.reset(self._tokens.pop())
        if not self._tokens:
            self._pending.clear()  # forward caches never differentiated inside the trace

    # -- lookup
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):
            name, *rest = key
            return self[name].layer(*rest)
        if isinstance(key, str):
            mt = self.modules.get(key)
            if mt is None:
                traced = ", ".join(self.modules) or "nothing"
                raise TraceError(f"trace: no module named {key!r} was traced (traced: {traced})")
            return mt
        entry = self._by_id.get(id(key))
        if entry is None or entry[0]() is not key:
            raise TraceError(f"trace: {type(key).__name__} module was not traced")
        return entry[1]

    def __contains__(self, key: object) -> bool:
        return key in self.modules

    def __iter__(self) -> Iterator[str]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)

    @property
    def names(self) -> list[str]:
        return list(self.modules)

    def layers(self) -> Iterator[LayerTrace]:
        """Every recorded layer-direction, module by module, call by call."""
        for mt in self.modules.values():
            for call in mt.calls:
                yield from call.values()

    def summary(self) -> str:
        """A text table: module, call, layer, direction, pass, name, per-step shape, norm at each step."""
        lines = []
        for lt in self.layers():
            for which, steps in (("forward", lt.forward), ("backward", lt.backward)):
                if steps is None:
                    continue
                for name in steps.names:
                    a = steps[name]
                    norms = " ".join(f"{v:.3g}" for v in _norms(a))
                    lines.append(f"{lt.module} call {lt.call} l{lt.layer} {'rev' if lt.direction else 'fw'} "
                                 f"{which:<8} {name:<10} {lt.seed_name(name):<12} {str(a.shape[1:]):<14} "
                                 f"|.|_t: {norms}")
        return "\n".join(lines)

    # -- recording (called by bptt.nn's recurrent modules)
    def _module(self, module: Any) -> ModuleTrace:
        entry = self._by_id.get(id(module))
        if entry is not None and entry[0]() is module:
            return entry[1]
        kind = _KIND[module.mode]
        name = None
        if self._model is not None:
            if self._model_names is None:
                self._model_names = {id(m): n for n, m in self._model.named_modules()}
            name = self._model_names.get(id(module)) or None
        if name is None:
            name = type(module).__name__.lower()
        base, k = name, 1
        while name in self.modules:
            name = f"{base}_{k}"
            k += 1
        mt = ModuleTrace(name, kind, module.num_layers, module.num_directions)
        if self.keep != "none":
            self.modules[name] = mt
        self._by_id[id(module)] = (weakref.ref(module), mt)
        return mt

    def _open_call(self, mt: ModuleTrace) -> tuple[int, dict[tuple[int, int], LayerTrace]]:
        call: dict[tuple[int, int], LayerTrace] = {}
        if self.keep == "all":
            mt.calls.append(call)
        elif self.keep == "last":
            mt.calls[:] = [call]
        return len(mt.calls) - 1, call

    @staticmethod
    def _param_info(module: Any, params: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        names = {id(p): n for n, p in module.named_parameters()}
        values, role_map = {}, {}
        for role, p in params.items():
            name = names.get(id(p), role)
            values[name] = np.array(p.data, copy=True)
            role_map[role] = name
        return values, role_map

    def forward_hooks(self, module: Any) -> list[list[Callable]]:
        """bptt.nn.hooks.Recorder: one recording callable per layer and direction of one forward call."""
        mt = self._module(module)
        idx, call = self._open_call(mt)
        return [[functools.partial(self._on_forward, module, mt, idx, call, layer, d)
                 for d in range(module.num_directions)] for layer in range(module.num_layers)]

    def backward_hooks(self, module: Any) -> list[list[Callable]]:
        """bptt.nn.hooks.Recorder: one recording callable per layer and direction of one backward call."""
        mt = self._module(module)
        shared: dict[str, Any] = {}
        return [[functools.partial(self._on_backward, module, mt, shared, layer, d)
                 for d in range(module.num_directions)] for layer in range(module.num_layers)]

    def _new_layer(self, module: Any, mt: ModuleTrace, idx: int, layer: int, d: int, cache: Any) -> LayerTrace:
        arrays, active, meta = _forward_arrays(mt.kind, cache)
        meta["forget_bias"] = float(getattr(module, "forget_bias", 0.0))
        params, roles = self._param_info(module, module.layer_parameters(layer, d))
        return LayerTrace(mt.name, mt.kind, layer, d, idx, meta, params, roles, arrays, active)

    def _on_forward(self, module: Any, mt: ModuleTrace, idx: int, call: dict, layer: int, d: int,
                    cache: Any) -> None:
        lt = self._new_layer(module, mt, idx, layer, d, cache)
        call[(layer, d)] = lt
        if is_grad_enabled():  # a backward pass may follow: match it to this record by its cache
            self._pending[id(cache)] = (cache, lt)
        _log(lt, "forward")

    def _on_backward(self, module: Any, mt: ModuleTrace, shared: dict, layer: int, d: int, cache: Any,
                     raw: dict[str, Any]) -> None:
        entry = self._pending.pop(id(cache), None)
        if entry is not None and entry[0] is cache:
            lt = entry[1]
        else:  # the forward pass ran before the trace started: its cache still holds it
            if "call" not in shared:
                shared["call"] = self._open_call(mt)
            idx, call = shared["call"]
            lt = self._new_layer(module, mt, idx, layer, d, cache)
            call[(layer, d)] = lt
        lt._set_backward(raw)
        _log(lt, "backward")

    # -- export
    def save(self, path: str | Path, *, weight_grads: bool = True) -> Path:
        """Write every recorded array (derived ones included) to one ``.npz`` file; see :func:`load`."""
        arrays: dict[str, np.ndarray] = {}
        modules = []
        for mt in self.modules.values():
            calls = []
            for c, call in enumerate(mt.calls):
                layers = []
                for (layer, d), lt in call.items():
                    pre = f"{mt.name}/{c}/{layer}/{d}"
                    entry: dict[str, Any] = {"layer": layer, "direction": d, "meta": lt.meta, "roles": lt.roles,
                                             "kind": lt.kind}
                    for group, content in (("forward", lt.forward.materialize()), ("params", lt.params),
                                           ("final", lt.final), ("grads", lt.grads or {})):
                        entry[group] = list(content)
                        for k, v in content.items():
                            arrays[f"{pre}/{group}/{k}"] = v
                    if lt.backward is not None:
                        skip = set() if weight_grads else set(WEIGHT_STEP_NAMES[lt.kind])
                        names = [n for n in lt.backward.names if n not in skip]
                        entry["backward"] = names
                        for n in names:
                            arrays[f"{pre}/backward/{n}"] = lt.backward[n]
                    else:
                        entry["backward"] = None
                    entry["has_grads"] = lt.grads is not None
                    if lt.active is not None:
                        arrays[f"{pre}/active"] = lt.active
                    layers.append(entry)
                calls.append(layers)
            modules.append({"name": mt.name, "kind": mt.kind, "num_layers": mt.num_layers,
                            "num_directions": mt.num_directions, "calls": calls})
        meta = {"format": "bptt.trace", "version": 1, "modules": modules}
        arrays["__meta__"] = np.array(json.dumps(meta))
        path = Path(path)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a file written by :meth:`save` (the result is a plain, inactive trace)."""
        with np.load(Path(path), allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        if "__meta__" not in data:
            raise ValueError(f"trace: {path} is not a bptt trace file (no __meta__ entry)")
        meta = json.loads(str(data["__meta__"]))
        if meta.get("format") != "bptt.trace":
            raise ValueError(f"trace: {path} is not a bptt trace file")
        tr = cls()
        for m in meta["modules"]:
            mt = ModuleTrace(m["name"], m["kind"], m["num_layers"], m["num_directions"])
            for c, layers in enumerate(m["calls"]):
                call: dict[tuple[int, int], LayerTrace] = {}
                for e in layers:
                    pre = f"{m['name']}/{c}/{e['layer']}/{e['direction']}"

                    def grp(group: str, names: list[str], pre: str = pre) -> dict[str, np.ndarray]:
                        return {n: data[f"{pre}/{group}/{n}"] for n in names}

                    lt = LayerTrace(m["name"], e["kind"], e["layer"], e["direction"], c, e["meta"],
                                    grp("params", e["params"]), e["roles"], grp("forward", e["forward"]),
                                    data.get(f"{pre}/active"))
                    lt.forward = Steps(grp("forward", e["forward"]), lt.T, lt.order, None, FORWARD_NAMES[lt.kind])
                    lt.final = grp("final", e["final"])
                    lt.grads = grp("grads", e["grads"]) if e.get("has_grads") else None
                    if e["backward"] is not None:
                        lt.backward = Steps(grp("backward", e["backward"]), lt.T, lt.backward_order, None,
                                            BACKWARD_NAMES[lt.kind] + WEIGHT_STEP_NAMES[lt.kind])
                    call[(e["layer"], e["direction"])] = lt
                mt.calls.append(call)
            tr.modules[mt.name] = mt
        return tr

    def __repr__(self) -> str:
        return f"Trace(modules=[{', '.join(self.modules)}], keep={self.keep!r})"


# ---------------------------------------------------------------------------------------------- text logging
def _fmt(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=6, separator=", ", threshold=64, edgeitems=4,
                           max_line_width=120, suppress_small=False)


def _log(lt: LayerTrace, which: str) -> None:
    """Print one layer's recorded quantities step by step, as the seed's debug/backpassdebug switches did."""
    logger = _flog if which == "forward" else _blog
    if not logger.isEnabledFor(logging.DEBUG):
        return
    steps = lt.forward if which == "forward" else lt.backward
    where = f"{lt.module} layer {lt.layer} {'reverse' if lt.direction else 'forward'}"
    for t in steps.order:
        for name in _LOG_NAMES[(lt.kind, which)]:
            if name not in steps:
                continue
            v = steps[name][t]
            seed = lt.seed_name(name)
            label = name if seed == name else f"{seed} ({name})"
            logger.debug("%s t=%d %s shape %s:\n%s", where, t, label, tuple(v.shape), _fmt(v))


@contextlib.contextmanager
def debug_logging(forward: bool = True, backward: bool = True, *, stream: Any = None,
                  fmt: str = "%(name)s: %(message)s") -> Iterator[Trace]:
    """Print every forward (``bptt.trace.forward``) and/or backward (``bptt.trace.backward``) intermediate.

    The equivalent of the seed's ``LSTMCell(..., debug=True, backpassdebug=True)``::

        with bptt.trace.debug_logging(forward=False, backward=True):
            loss = ...; model.backward(...)

    Attaches a handler writing to ``stream`` (default ``sys.stderr``) for the chosen loggers, at ``DEBUG``
    level, for the duration of the block, and starts a trace that keeps nothing if none is active (an
    active one is reused and keeps what it keeps). Configuring the two loggers yourself and using
    ``bptt.trace()`` works too.
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(logging.Formatter(fmt))
    saved = []
    for logger, on in ((_flog, forward), (_blog, backward)):
        if on:
            saved.append((logger, logger.level, logger.propagate))
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(handler)
    tr = _ACTIVE.get()
    token = None
    if tr is None:
        tr = Trace(keep="none")
        token = _ACTIVE.set(tr)
    try:
        yield tr
    finally:
        if token is not None:
            _ACTIVE.reset(token)
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


# ---------------------------------------------------------------------------------------------- module API
def trace(model: Any = None, *, keep: str = "all") -> Trace:
    """A new :class:`Trace`; use it as ``with bptt.trace() as tr:`` (see the module docstring)."""
    return Trace(model, keep=keep)


def load(path: str | Path) -> Trace:
    """Read a trace written by :meth:`Trace.save`."""
    return Trace.load(path)


def active() -> Trace | None:
    """The active trace, ``None`` when tracing is off."""
    return _ACTIVE.get()


class _CallableModule(types.ModuleType):
    """Lets ``bptt.trace(...)`` be called while ``bptt.trace.debug_logging`` etc. stay attributes."""

    def __call__(self, model: Any = None, *, keep: str = "all") -> Trace:
        return Trace(model, keep=keep)


sys.modules[__name__].__class__ = _CallableModule
