r"""Record every intermediate of the recurrent layers, forward and backward, named as seed 000 names them.

::

    import bptt

    with bptt.trace() as tr:                 # or bptt.trace(model): modules named by their attribute path
        out, _ = lstm(x)
        lstm.backward(dout)

    tr["lstm"].backward[2]["dc"]             # seed 000's dCt at time step 2, shape (B, H)
    tr["lstm"].backward["dc"]                # all steps at once, shape (T, B, H)
    tr["lstm"].backward.shapes               # {"dy": (B, H), ..., "do": (B, H), ..., "dW_ih": (4H, D), ...}
    tr["lstm"].backward.norms("dh")          # ||dL/dh_t|| for t = 0 .. T-1
    tr["lstm"][1, "reverse"].forward[0]["f"] # layer 1, reverse direction, forget gate at t = 0
    tr.save("run.npz");  tr2 = bptt.trace.load("run.npz")

**Tracing runs the textbook.** Inside a trace the recurrent layers run the reference tier,
:mod:`bptt.functional.reference` (one time step at a time, one equation per line, the seed's names), instead of
the fused kernels that training runs; the two are held equal to 1e-12 in float64 by the tests, so the values
are the values training computes. What is recorded, per module, call, layer, direction and time step ``t``
(time order, also for a reverse direction; ``steps.order`` is the processing order), are the reference's own
named intermediates, the fields of its ``StepCache`` and ``StepGrads``, stacked over time; nothing is derived
here, the reference is the only second copy of the math:

===========  =====================================================================================
forward      LSTM: ``x``, ``h_prev``, ``c_prev``, ``z`` = [x, h_prev] (seed: HX), ``a`` (gate
             pre-activations), gates ``i``, ``f``, ``g`` (seed: Cproj), ``o``, ``c``, ``tanh_c``, ``r``, ``h``
             (GRU: ``r``, ``z`` (update gate), ``n``, ``gh_n``; RNN: ``z``, ``a``, ``h``)
backward     ``dy`` (from above), ``dh_next_in`` / ``dc_next_in`` (carried in from step t+1),
             ``dh`` (dHt), ``dr``, ``do`` (dOt), ``dc`` (dCt), ``dg`` (dCprojt), ``df`` (dFt), ``di`` (dIt),
             ``da_o``, ``da_g``, ``da_f``, ``da_i`` and ``da`` (after the sigmoid/tanh derivatives),
             ``dz`` (dHX) = [``dx``, ``dh_next``], ``dc_next`` (dC_next), and the step's shares of the
             weight gradients ``dW_ih`` = da_t^T x_t, ``dW_hh`` = da_t^T h_{t-1}, ``db`` (summed over the
             batch; summed over t they are the parameter gradients, see ``LayerTrace.param_grad_steps``)
===========  =====================================================================================

GRU, RNN and LayerNormLSTM record their reference's names (see :data:`BACKWARD_NAMES`); :data:`SEED_NAMES` maps
bptt's names to the seed's. With ``lengths``, rows past a sequence's end hold, forward, the values of a cell
whose result was thrown away and, backward, zeros (the cell did not run; the carried gradient passed by it):
``LayerTrace.active`` marks the real rows.

**Cost.** Nothing happens unless a trace is active: a recurrent module looks the active recorder up once per
call (a :class:`contextvars.ContextVar`, the only state) and runs the fused op. With a trace active it runs the
reference twin, a Python loop over the steps, several times slower than the fused kernels (docs/explain.md
gives the measured ratio); the recorded arrays are the reference's own (stacked, so nothing is shared with the
layer).

**Text.** The loggers ``bptt.trace.forward`` and ``bptt.trace.backward`` print every recorded quantity,
step by step, at ``DEBUG`` level, the equivalents of Deep-Breathe's ``debug`` and ``backpassdebug``
switches: ``with bptt.trace.debug_logging(forward=False, backward=True): ...``.

**Modules.** :mod:`.recorder` (:class:`Trace`, :func:`debug_logging`), :mod:`.layer` (:class:`LayerTrace`,
:class:`ModuleTrace`), :mod:`.steps` (:class:`Steps`, :class:`Step`), :mod:`.names` (the table of cell kinds:
adding a kind is one :func:`~bptt.trace.names.register` call), :mod:`.npz` (files), :mod:`.text` (the loggers).

``bptt.trace`` is this package and is also callable: ``bptt.trace(...)`` is :func:`trace`. That is Python's
documented way to customise a module object (assigning a :class:`types.ModuleType` subclass to the module's
``__class__``, "Customizing module attribute access" in the data model), so ``import bptt.trace``,
``from bptt.trace import Trace`` and ``bptt.trace.load`` keep working unchanged.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

from ..nn import hooks as _hooks
from .layer import LayerTrace, ModuleTrace
from .names import BACKWARD_NAMES, FORWARD_NAMES, KINDS, SEED_NAMES, WEIGHT_STEP_NAMES, CellKind
from .recorder import Trace, debug_logging
from .steps import Step, Steps, TraceError
from .text import BACKWARD_LOGGER, FORWARD_LOGGER

__all__ = [
    "BACKWARD_LOGGER",
    "BACKWARD_NAMES",
    "CellKind",
    "FORWARD_LOGGER",
    "FORWARD_NAMES",
    "KINDS",
    "LayerTrace",
    "ModuleTrace",
    "SEED_NAMES",
    "Step",
    "Steps",
    "Trace",
    "TraceError",
    "WEIGHT_STEP_NAMES",
    "active",
    "debug_logging",
    "load",
    "trace",
]


def trace(model: Any = None, *, keep: str = "all") -> Trace:
    """A new :class:`Trace`; use it as ``with bptt.trace() as tr:`` (see the module docstring)."""
    return Trace(model, keep=keep)


def load(path: str | Path) -> Trace:
    """Read a trace written by :meth:`Trace.save`."""
    return Trace.load(path)


def active() -> Any:
    """The active recorder (a :class:`Trace`), ``None`` when tracing is off."""
    return _hooks.RECORDER.get()


class _CallableModule(types.ModuleType):
    """This package's module type: ``bptt.trace(...)`` calls :func:`trace`."""

    def __call__(self, model: Any = None, *, keep: str = "all") -> Trace:
        return trace(model, keep=keep)


sys.modules[__name__].__class__ = _CallableModule
