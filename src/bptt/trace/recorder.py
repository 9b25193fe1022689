"""The recorder: :class:`Trace` fills bptt.nn's neutral hook point (:mod:`bptt.nn.hooks`) while it is active,
so the recurrent layers called inside ``with Trace():`` run the reference tier and hand it their named
intermediates; and :func:`debug_logging`, a trace that only prints."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..nn import hooks
from ..nn.module import is_grad_enabled
from . import npz
from .layer import LayerTrace, ModuleTrace, backward_record, forward_record
from .names import kind_of
from .steps import TraceError, step_norms
from .text import backward_log, forward_log, log_layer

__all__ = ["KEEP", "Trace", "debug_logging"]

KEEP = ("all", "last", "none")


class Trace:
    """A recorder: ``with Trace() as tr:`` (or ``bptt.trace()``) records every recurrent module called inside.

    ``model`` (optional) names the modules by their attribute path in it (``"rnn"``, ``"encoder.lstm"``);
    otherwise by kind (``"lstm"``, ``"gru"``, ``"rnn"``, ``"layernormlstm"``, then ``"lstm_1"``, ... for
    further modules of the same kind). ``keep`` is ``"all"`` (every call), ``"last"`` (only each module's most
    recent call: for tracing inside a training loop) or ``"none"`` (nothing kept: text logging only).
    """

    def __init__(self, model: Any = None, *, keep: str = "all") -> None:
        if keep not in KEEP:
            raise ValueError(f"trace: keep must be one of {', '.join(KEEP)}, got {keep!r}")
        self.keep = keep
        self.modules: dict[str, ModuleTrace] = {}
        self._model = model
        self._model_names: dict[int, str] | None = None
        self._by_id: dict[int, tuple[Any, ModuleTrace]] = {}
        self._pending: dict[int, tuple[Any, LayerTrace]] = {}
        self._tokens: list[contextvars.Token] = []

    # -- context
    def __enter__(self) -> Trace:
        self._tokens.append(hooks.RECORDER.set(self))
        return self

    def __exit__(self, *exc: Any) -> None:
        hooks.RECORDER.reset(self._tokens.pop())
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
                    norms = " ".join(f"{v:.3g}" for v in step_norms(a))
                    lines.append(f"{lt.module} call {lt.call} l{lt.layer} {'rev' if lt.direction else 'fw'} "
                                 f"{which:<8} {name:<10} {lt.seed_name(name):<12} {str(a.shape[1:]):<14} "
                                 f"|.|_t: {norms}")
        return "\n".join(lines)

    # -- bptt.nn.hooks.Recorder
    def forward_hooks(self, module: Any) -> list[list[Callable]]:
        """One recording callable per layer and direction of one forward call (the reference op's ``record``)."""
        mt = self._module(module)
        idx, call = self._open_call(mt)
        return [[functools.partial(self._on_forward, module, mt, idx, call, layer, d)
                 for d in range(module.num_directions)] for layer in range(module.num_layers)]

    def backward_hooks(self, module: Any) -> list[list[Callable]]:
        """One recording callable per layer and direction of one backward call."""
        mt = self._module(module)
        shared: dict[str, Any] = {}
        return [[functools.partial(self._on_backward, module, mt, shared, layer, d)
                 for d in range(module.num_directions)] for layer in range(module.num_layers)]

    def _module(self, module: Any) -> ModuleTrace:
        entry = self._by_id.get(id(module))
        if entry is not None and entry[0]() is module:
            return entry[1]
        kind = kind_of(module.mode).name
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

    def _new_layer(self, module: Any, mt: ModuleTrace, idx: int, layer: int, d: int, cache: Any) -> LayerTrace:
        arrays, active, meta = forward_record(kind_of(module.mode), cache)
        names = {id(p): n for n, p in module.named_parameters()}
        params, roles = {}, {}
        for role, p in module.layer_parameters(layer, d).items():
            roles[role] = names.get(id(p), role)
            params[roles[role]] = p.data.copy()
        return LayerTrace(mt.name, mt.kind, layer, d, idx, meta, params, roles, arrays, active)

    def _on_forward(self, module: Any, mt: ModuleTrace, idx: int, call: dict, layer: int, d: int,
                    cache: Any) -> None:
        lt = self._new_layer(module, mt, idx, layer, d, cache)
        call[(layer, d)] = lt
        if is_grad_enabled():  # a backward pass may follow: match it to this record by its cache
            self._pending[id(cache)] = (cache, lt)
        log_layer(lt, "forward")

    def _on_backward(self, module: Any, mt: ModuleTrace, shared: dict, layer: int, d: int,
                     rec: hooks.BackwardRecord) -> None:
        entry = self._pending.pop(id(rec.cache), None)
        if entry is not None and entry[0] is rec.cache:
            lt = entry[1]
        else:  # the forward pass ran before the trace started (the layer ran it again in the reference tier)
            if "call" not in shared:
                shared["call"] = self._open_call(mt)
            idx, call = shared["call"]
            lt = self._new_layer(module, mt, idx, layer, d, rec.cache)
            call[(layer, d)] = lt
        lt.set_backward(*backward_record(lt, rec))
        log_layer(lt, "backward")

    # -- files
    def save(self, path: str | Path, *, weight_grads: bool = True) -> Path:
        """Write every recorded array to one ``.npz`` file (see :mod:`bptt.trace.npz`); read it with
        :func:`bptt.trace.load`. ``weight_grads=False`` leaves out the per-step weight-gradient shares."""
        return npz.write(self.modules, path, weight_grads=weight_grads)

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        """Read a file written by :meth:`save` (the result is a plain, inactive trace)."""
        tr = cls()
        tr.modules = npz.read(path)
        return tr

    def __repr__(self) -> str:
        return f"Trace(modules=[{', '.join(self.modules)}], keep={self.keep!r})"


@contextlib.contextmanager
def debug_logging(forward: bool = True, backward: bool = True, *, stream: Any = None,
                  fmt: str = "%(name)s: %(message)s") -> Iterator[Any]:
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
    for logger, on in ((forward_log, forward), (backward_log, backward)):
        if on:
            saved.append((logger, logger.level, logger.propagate))
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(handler)
    tr = hooks.RECORDER.get()
    token = None
    if tr is None:
        tr = Trace(keep="none")
        token = hooks.RECORDER.set(tr)
    try:
        yield tr
    finally:
        if token is not None:
            hooks.RECORDER.reset(token)
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
