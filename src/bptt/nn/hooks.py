"""The neutral hook point between the recurrent layers and whatever records them (e.g. :mod:`bptt.trace`).

``nn`` owns this point and never imports a recorder; a recorder imports this module and installs itself::

    token = RECORDER.set(my_recorder)      # bptt.trace.Trace.__enter__ does this
    ...                                    # every recurrent layer called here reports to my_recorder
    RECORDER.reset(token)

**The protocol** (:class:`Recorder`). At the start of a forward call, a recurrent layer (an
:class:`~bptt.nn.RNNBase`) asks the active recorder once for ``forward_hooks(layer)``: one callable per
layer and direction, ``hooks[layer][direction]``, which the functional op calls once, at the end of its
forward pass, with its cache (e.g. a :class:`bptt.functional.lstm.LSTMCache`). At the start of a backward
call it asks for ``backward_hooks(layer)``, called by the op once with ``(cache, arrays)``, where ``arrays``
holds ``"dout"``, ``"grads"`` (the op's gradient tuple) and the op's full-sequence gradient arrays (``"DH"``,
``"DC"``, ``"dA"``, ... see each op). The arrays are the op's buffers and are recycled after the call: a
recorder copies what it keeps. The layer's public ``layer_parameters(layer, direction)`` names the
parameters behind a cache.

When no recorder is active (the default), a layer checks this once per call and passes ``record=None``.
The context variable is the only state, so recording is per thread / per asyncio task.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["BackwardHook", "ForwardHook", "RECORDER", "Recorder", "active_recorder", "backward_hooks",
           "forward_hooks"]

#: Called by a functional op with its cache at the end of its forward pass.
ForwardHook = Callable[[Any], None]
#: Called by a functional op with its cache and its gradient arrays before it recycles them.
BackwardHook = Callable[[Any, dict[str, Any]], None]


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
