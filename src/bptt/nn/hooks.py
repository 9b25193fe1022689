"""The neutral hook point between the recurrent layers and whatever records them (e.g. :mod:`bptt.trace`).

``nn`` owns this point and never imports a recorder; a recorder imports this module and installs itself::

    token = RECORDER.set(my_recorder)      # bptt.trace.Trace.__enter__ does this
    ...                                    # every recurrent layer called here reports to my_recorder
    RECORDER.reset(token)

**Recording runs the textbook.** While a recorder is active, a recurrent layer (an :class:`~bptt.nn.RNNBase`)
runs the *reference twin* of its op (:mod:`bptt.functional.reference`: same arguments minus ``ws``, equal to
the fused op to 1e-12 in float64) instead of the fused kernel, so what a recorder sees are the reference's
named per-step intermediates, never a re-derivation of them. When nothing records (the default), a layer
checks :data:`RECORDER` once per ``forward`` / ``backward`` call and runs the fused op; that check is the
whole cost of this hook point.

**The protocol** (:class:`Recorder`). At the start of a forward call the layer asks the active recorder once
for ``forward_hooks(layer)``: one callable per layer and direction, ``hooks[layer][direction]``, handed to the
reference op as its ``record`` callback, which calls it once, at the end of its forward pass, with its
``SequenceCache`` (``cache.steps[t]`` is the named ``StepCache`` of time step ``t``, time order also for the
reverse direction). At the start of a backward call the layer asks for ``backward_hooks(layer)``; after each
layer-direction's backward pass it calls the hook once with a :class:`BackwardRecord`: the reference's cache,
what the reference's ``record(cache, steps)`` callback received (``steps[t]``, the named ``StepGrads`` of
time step ``t``), the gradients the pass was given and what it returned, by parameter role. The gradient
arrays are recycled after the call: a recorder copies what it keeps. The layer's public
``layer_parameters(layer, direction)`` names the parameters behind a cache.

A backward pass whose forward ran before the recorder was installed (a fused-op cache) is recorded by
running that layer-direction's forward again in the reference tier, from the inputs the layer kept, with the
layer's current parameters. The context variable is the only state, so recording is per thread / asyncio
task.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

__all__ = ["BackwardHook", "BackwardRecord", "ForwardHook", "RECORDER", "Recorder", "active_recorder",
           "backward_hooks", "forward_hooks"]


class BackwardRecord(NamedTuple):
    """What a backward hook receives for one layer-direction of one backward call."""

    cache: Any  # the reference op's SequenceCache (the forward pass: cache.steps[t] is a StepCache)
    steps: Sequence[Any]  # steps[t]: the reference's StepGrads of time step t (time order)
    dy: np.ndarray | None  # (T, B, P) gradient of the layer's output (None: zero)
    dh_n: np.ndarray | None  # (B, P) gradient of the final hidden state (None: zero)
    dc_n: np.ndarray | None  # (B, H) gradient of the final cell state (None: zero or no cell state)
    dx: np.ndarray | None  # (T, B, D) the input's gradient (None with need_dx=False)
    dh0: np.ndarray  # (B, P) the initial hidden state's gradient
    dc0: np.ndarray | None  # (B, H) the initial cell state's gradient (None without a cell state)
    grads: Mapping[str, np.ndarray | None]  # parameter role (W_ih, kernel, gamma_state, ...) -> gradient


#: Called by the reference op with its ``SequenceCache`` at the end of its forward pass.
ForwardHook = Callable[[Any], None]
#: Called by the layer with a :class:`BackwardRecord` at the end of one layer-direction's backward pass.
BackwardHook = Callable[[BackwardRecord], None]


class Recorder(Protocol):
    """What a recorder installed in :data:`RECORDER` provides."""

    def forward_hooks(self, module: Any) -> Sequence[Sequence[ForwardHook]]:
        """``hooks[layer][direction]`` for one forward call of the recurrent layer ``module``."""
        ...

    def backward_hooks(self, module: Any) -> Sequence[Sequence[BackwardHook]]:
        """``hooks[layer][direction]`` for one backward call of the recurrent layer ``module``."""
        ...


#: The active recorder (``None``: nothing records).
RECORDER: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("bptt_recorder", default=None)


def active_recorder() -> Recorder | None:
    """The recorder installed in :data:`RECORDER`, ``None`` when nothing records."""
    return RECORDER.get()


def forward_hooks(module: Any) -> Sequence[Sequence[ForwardHook]] | None:
    """The active recorder's forward hooks for ``module`` (``None`` when nothing records)."""
    recorder = RECORDER.get()
    return None if recorder is None else recorder.forward_hooks(module)


def backward_hooks(module: Any) -> Sequence[Sequence[BackwardHook]] | None:
    """The active recorder's backward hooks for ``module`` (``None`` when nothing records)."""
    recorder = RECORDER.get()
    return None if recorder is None else recorder.backward_hooks(module)
