r"""``XLSTMBase``: what xLSTM's recurrent layers (:class:`~bptt.nn.SLSTM`, :class:`~bptt.nn.MLSTM`) share --
settings and their validation, stacking ``num_layers`` layers with dropout between them, ``batch_first`` and
unbatched input, a state that is a *tuple* of arrays, the hook point for recorders and the per-layer API.

The state of an xLSTM layer is not LSTM's ``(h, c)``: the sLSTM carries ``(h, c, n, m)`` (hidden, cell,
normaliser, stabiliser), the mLSTM ``(C, n, m)`` (a matrix memory per head, no ``h``). So these layers have
their own base next to :class:`~bptt.nn.RNNBase` rather than under it; the call contract is the same with the
state as a tuple::

    out, state = layer(x, state0)                 # state0 optional (zeros); every part (num_layers, B, ...)
    dx, dstate0 = layer.backward(dout, dstate)    # dstate optional, and so is any of its parts (None)

``x`` is ``(T, B, D)`` (``(B, T, D)`` with ``batch_first``, or unbatched ``(T, D)``, when every state part
drops its batch axis too); ``out`` is ``(T, B, H)``. Layers are unidirectional and read whole sequences
(no ``lengths``). ``backward`` adds into every ``Parameter.grad``. Dropout between layers draws its masks for
the whole batch when the module computes a shard of it (:meth:`~bptt.nn.Module.shard_batch`).

**Per-layer API**: :meth:`XLSTMBase.layer_parameters`, :meth:`XLSTMBase.layer_forward` (one layer over a
sequence; ``T = 1`` for one step) and :meth:`XLSTMBase.layer_backward`, as for the PyTorch-style layers.
**Two tiers**: a layer runs its fused op unless a recorder (:mod:`bptt.nn.hooks`) is active or
``layer_forward(..., reference=True)`` asks for the textbook twin (a layer class with ``recordable = False``
ignores recorders); a backward hook receives a
:class:`~bptt.nn.hooks.BackwardRecord` whose ``dh_n``/``dh0`` and ``dc_n``/``dc0`` are the gradients of the
state parts named ``h`` and ``c`` (``None`` for a layer without them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ... import functional as F
from ...functional.workspace import Workspace
from .. import checks as C
from .. import hooks
from ..module import Module, Parameter, is_grad_enabled
from .layer_api import check_input


class XLSTMLayerOutput(NamedTuple):
    """What :meth:`XLSTMBase.layer_forward` returns (``y`` and ``state`` may be views of the cache)."""

    y: np.ndarray  # (T, B, H)
    state: tuple[np.ndarray, ...]  # the final state, one array per part (B, ...)
    cache: Any  # the op's cache, for layer_backward


class XLSTMLayerGrads(NamedTuple):
    """What :meth:`XLSTMBase.layer_backward` returns (the parameter gradients went into ``Parameter.grad``)."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dstate: tuple[np.ndarray, ...]  # the initial state's gradient, one array per part


class XLSTMBase(Module):
    """Shared machinery of :class:`~bptt.nn.SLSTM` and :class:`~bptt.nn.MLSTM` (not used directly).

    A subclass names its state parts (``STATE_NAMES``), its parameters' roles in the op's argument order
    (``PARAMETER_ROLES``), its ops (``_op``, ``_reference_op``), and implements :meth:`state_shapes`,
    :meth:`_make_params` and :meth:`_op_options`.
    """

    STATE_NAMES: tuple[str, ...] = ()
    PARAMETER_ROLES: tuple[str, ...] = ()
    _op: Any = None
    _reference_op: Any = None
    #: the layers' kind for recorders (:func:`bptt.trace.names.kind_of`)
    mode = ""
    #: whether a recorder (bptt.trace) records these layers; False: they run unrecorded while one is active
    recordable = True
    num_directions = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
                 dropout: float, num_heads: int, *, dtype: Any, rng: Any, options: Mapping[str, Any]) -> None:
        """``options``: the subclass's own validated settings, set as attributes before the parameters."""
        super().__init__()
        name = type(self).__name__
        self._name = name
        for key, value in options.items():
            setattr(self, key, value)
        self.input_size = C.positive_int(input_size, "input_size", name)
        self.hidden_size = C.positive_int(hidden_size, "hidden_size", name)
        self.num_layers = C.positive_int(num_layers, "num_layers", name)
        self.num_heads = C.positive_int(num_heads, "num_heads", name)
        if self.hidden_size % self.num_heads:
            raise ValueError(f"{name}: hidden_size={self.hidden_size} must be divisible by num_heads="
                             f"{self.num_heads} (each head has hidden_size / num_heads units)")
        self.bias = C.boolean(bias, "bias", name)
        self.batch_first = C.boolean(batch_first, "batch_first", name)
        self.dropout = C.probability(dropout, "dropout", name)
        self.dtype = C.as_dtype(dtype, name)
        gen = C.as_rng(rng, name)
        self._dropout_rng = np.random.default_rng(gen.integers(2**63))
        self._ws = Workspace()
        self._layer_params: list[dict[str, Parameter]] = []
        for layer in range(self.num_layers):
            made = self._make_params(layer, self.input_size if layer == 0 else self.hidden_size, gen)
            for pname, (_, param) in made.items():
                setattr(self, pname, param)
            self._layer_params.append({role: param for _, (role, param) in made.items()})

    # ------------------------------------------------------------------ to implement
    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shape of each state part for one sequence (without the layer and batch axes)."""
        raise NotImplementedError

    def _make_params(self, layer: int, in_size: int, gen: np.random.Generator) -> dict[str, tuple[str, Parameter]]:
        """One layer's parameters: ``{parameter name: (role, Parameter)}`` in ``PARAMETER_ROLES`` order."""
        raise NotImplementedError

    def _op_options(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------ facts
    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_state(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """The zero state for ``batch_size`` sequences: one ``(num_layers, batch_size, ...)`` array per part."""
        return tuple(np.zeros((self.num_layers, batch_size) + s, dtype=self.dtype) for s in self.state_shapes())

    # ------------------------------------------------------------------ per-layer API
    def layer_parameters(self, layer: int, direction: int = 0) -> dict[str, Parameter]:
        """One layer's parameters by role (``PARAMETER_ROLES``; absent ones, e.g. biases with ``bias=False``,
        are left out), in the order the functional op takes them. ``direction`` is always 0."""
        where = f"{self._name}.layer_parameters"
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < self.num_layers:
            raise ValueError(f"{where}: layer must be an int in [0, {self.num_layers - 1}], got {layer!r}")
        if direction != 0 or isinstance(direction, bool):
            raise ValueError(f"{where}: direction must be 0 ({self._name} layers are unidirectional), got "
                             f"{direction!r}")
        return dict(self._layer_params[layer])

    def layer_forward(self, layer: int, x: np.ndarray, state0: tuple[np.ndarray, ...], *,
                      record: hooks.ForwardHook | None = None, reference: bool = False) -> XLSTMLayerOutput:
        """Run one layer over ``x`` ``(T, B, D)`` (C-contiguous, the module's dtype) from ``state0`` (one
        ``(B, ...)`` array per part; not validated here). ``reference=True`` runs the textbook twin (``record``
        is its record callback). Pass the returned cache to :meth:`layer_backward` at most once."""
        params = self._layer_params[layer]
        ws = self._ws if (is_grad_enabled() and not reference) else None
        op, tier = (self._reference_op, {}) if reference else (self._op, {"ws": ws})
        arrays = [None if role not in params else params[role].data for role in self.PARAMETER_ROLES]
        (y, *state), cache = op.forward(x, *state0, *arrays, record=record, **tier, **self._op_options())
        return XLSTMLayerOutput(y, tuple(state), cache)

    def layer_backward(self, layer: int, cache: Any, dy: np.ndarray | None,
                       dstate: tuple[np.ndarray | None, ...] | None = None, *, need_dx: bool = True,
                       record: hooks.BackwardHook | None = None) -> XLSTMLayerGrads:
        """Differentiate a :meth:`layer_forward` of the same layer with the tier that made ``cache``: ``dy``
        ``(T, B, H)`` and the final state's gradient ``dstate`` (``None``, or any part ``None``, for zero). Adds
        into the layer's ``Parameter.grad``; returns the input's and the initial state's gradients."""
        dstate = (None,) * len(self.STATE_NAMES) if dstate is None else tuple(dstate)
        reference = self.is_reference_cache(cache)
        if record is not None and not reference:
            raise ValueError(f"{self._name}.layer_backward: record needs a cache made by "
                             "layer_forward(..., reference=True) (the textbook tier)")
        steps: list = []
        op, tier = (self._reference_op, {}) if reference else (self._op, {"ws": self._ws})
        sink = None if record is None else (lambda _cache, grads: steps.append(grads))
        g = op.backward((dy, *dstate), cache, need_dx=need_dx, record=sink, **tier)
        n = len(self.STATE_NAMES)
        dstate0 = tuple(g[1:1 + n])
        grads = dict(zip(self.PARAMETER_ROLES, g[1 + n:]))
        for role, param in self._layer_params[layer].items():
            param.grad += grads[role]
        if record is not None:
            part = dict(zip(self.STATE_NAMES, zip(dstate, dstate0)))
            h, c = part.get("h", (None, None)), part.get("c", (None, None))
            record(hooks.BackwardRecord(cache, steps[0], dy, h[0], c[0], g.dx, h[1], c[1], grads))
        self._ws.give(*(a for a in grads.values() if a is not None and a.ndim >= 2))
        return XLSTMLayerGrads(g.dx, dstate0)

    def is_reference_cache(self, cache: Any) -> bool:
        """Whether ``cache`` was made by the textbook twin."""
        return isinstance(cache, self._reference_op.SequenceCache)

    # ------------------------------------------------------------------ checks
    def _check_state(self, state: Any, B: int, unbatched: bool, where: str, grad: bool = False) -> list:
        """The state (or its gradient, parts may be ``None``) as ``(L, B, ...)`` arrays."""
        names = tuple(("d" if grad else "") + n + ("_n" if grad else "0") for n in self.STATE_NAMES)
        what = "dstate" if grad else "state"
        k = len(names)
        if not (isinstance(state, (tuple, list)) and len(state) == k):
            raise TypeError(f"{where}: {what} must be a tuple ({', '.join(names)}) of {k} arrays, got "
                            f"{C.describe_pair(state) if isinstance(state, (tuple, list)) else type(state).__name__}")
        out = []
        for name, part, shape in zip(names, state, self.state_shapes()):
            if part is None and grad:
                out.append(None)
                continue
            part = C.float_array(part, name, where, self.dtype)
            L = self.num_layers
            expected = (L,) + shape if unbatched else (L, B) + shape
            axes = "num_layers, " + ("" if unbatched else "batch, ") + ", ".join(self._shape_names(shape))
            C.expect_shape(part, expected, name, where, axes)
            out.append(part[:, None] if unbatched else part)
        return out

    def _shape_names(self, shape: tuple[int, ...]) -> list[str]:
        names = {(self.hidden_size,): ["hidden_size"], (self.num_heads,): ["num_heads"],
                 (self.num_heads, self.head_size): ["num_heads", "head_size"],
                 (self.num_heads, self.head_size, self.head_size): ["num_heads", "head_size", "head_size"]}
        return names.get(shape, [str(s) for s in shape])

    # ------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray, state: Any = None) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        where = f"{self._name}.forward"
        xt, unbatched = check_input(x, self.input_size, self.batch_first, self.dtype, where)
        T, B, _ = xt.shape
        state0 = self.initial_state(B) if state is None else self._check_state(state, B, unbatched, where)
        shard = self.batch_shard
        if shard is not None and self.training and shard.stop - shard.start != B:  # eval mode draws nothing
            raise ValueError(f"{where}: the batch has {B} sequences, but the module computes rows "
                             f"{shard.start}:{shard.stop} of a batch of {shard.size} (shard_batch)")
        record = hooks.forward_hooks(self) if self.recordable else None  # the active recorder, if any
        reference = record is not None
        final = [np.empty((self.num_layers, B) + s, dtype=self.dtype) for s in self.state_shapes()]
        caches = []
        inp = xt
        for layer in range(self.num_layers):
            layer_state0 = tuple(np.ascontiguousarray(s[layer]) for s in state0)
            y, state_n, cache = self.layer_forward(layer, inp, layer_state0, record=None if record is None
                                                   else record[layer][0], reference=reference)
            for f, s in zip(final, state_n):
                f[layer] = s
            drop_cache = None
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                uniform = (self._dropout_rng.random(y.shape) if shard is None
                           else shard.random(self._dropout_rng, y.shape, axis=1))  # whole-batch draws, our rows
                y, drop_cache = F.dropout.forward(y, self.dropout, self._dropout_rng, True, uniform=uniform)
            caches.append((cache, (inp, layer_state0), drop_cache))
            inp = y
        out = inp.copy()  # the top layer's output may be a view of its cache: never hand that out
        if unbatched:
            out, final = out[:, 0], [f[:, 0] for f in final]
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        self._save((caches, unbatched, T, B))
        return out, tuple(final)

    # ------------------------------------------------------------------ backward
    def backward(self, dout: np.ndarray | None, dstate: Any = None, *,
                 input_grad: bool = True) -> tuple[np.ndarray | None, tuple[np.ndarray, ...]]:
        """Backpropagate the last forward call: ``dx, dstate0 = layer.backward(dout, dstate)``; adds into every
        ``Parameter.grad``. ``dout`` ``None`` means only the final state feeds the loss; ``dstate`` ``None``
        (or a part ``None``) means zero; ``input_grad=False`` skips ``dx`` (returned as ``None``)."""
        where = f"{self._name}.backward"
        caches, unbatched, T, B = self._peek()
        H = self.hidden_size
        if dout is not None:
            dout = C.float_array(dout, "dout", where, self.dtype)
            exp = (T, H) if unbatched else ((B, T, H) if self.batch_first else (T, B, H))
            C.expect_shape(dout, exp, "dout", where, "the output's shape")
            dout = dout[:, None] if unbatched else (dout.transpose(1, 0, 2) if self.batch_first else dout)
        dfinal = [None] * len(self.STATE_NAMES) if dstate is None else self._check_state(dstate, B, unbatched, where,
                                                                                          grad=True)
        self._pop()  # validated: now consume the forward cache
        record = hooks.backward_hooks(self) if self.recordable else None
        dstate0 = [np.empty((self.num_layers, B) + s, dtype=self.dtype) for s in self.state_shapes()]
        dlayer = dout
        for layer in range(self.num_layers - 1, -1, -1):
            cache, inputs, drop_cache = caches[layer]
            if drop_cache is not None and dlayer is not None:
                dlayer = F.dropout.backward(dlayer, drop_cache)
            if record is not None and not self.is_reference_cache(cache):  # forward ran before the recorder
                cache = self.layer_forward(layer, *inputs, reference=True).cache
            dx, ds0 = self.layer_backward(layer, cache, dlayer, tuple(None if d is None else d[layer] for d in dfinal),
                                          need_dx=input_grad or layer > 0,
                                          record=None if record is None else record[layer][0])
            for d0, d in zip(dstate0, ds0):
                d0[layer] = d
            dlayer = dx
        dx = dlayer
        if unbatched:
            dx = None if dx is None else dx[:, 0]
            dstate0 = [d[:, 0] for d in dstate0]
        elif self.batch_first and dx is not None:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx, tuple(dstate0)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        s += f", num_heads={self.num_heads}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.dtype != np.float32:
            s += f", dtype={self.dtype}"
        return s
