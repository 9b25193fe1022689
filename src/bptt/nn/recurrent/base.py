r"""``RNNBase``: what every stacked recurrent layer shares -- settings and their validation, parameter creation in
PyTorch's names and order, stacking, bidirectional layers, ``lengths``, dropout between layers, the state
checks, the hook point for recorders, and the public per-layer API.

``LSTM``, ``GRU``, ``RNN``, ``LayerNormLSTM``, ``MinGRU`` and ``MinLSTM`` stack ``num_layers`` layers, each
optionally bidirectional; layer ``k > 0`` reads the concatenated ``[forward; reverse]`` outputs of layer ``k - 1``
(PyTorch's interleaved stacking). Call contract::

    out, (h_n, c_n) = lstm(x, (h0, c0))            # hx optional (zeros)
    dx, (dh0, dc0) = lstm.backward(dout, (dh_n, dc_n))   # second argument optional
    out, h_n = gru(x, h0);   dx, dh0 = gru.backward(dout, dh_n)      # same for RNN

``x`` is ``(T, B, D)`` (``(B, T, D)`` with ``batch_first``, or unbatched ``(T, D)``); ``out`` is
``(T, B, num_directions * H)``; ``h_n`` is ``(num_layers * num_directions, B, H)`` ordered layer-major
(``l0``, ``l0_reverse``, ``l1``, ...), exactly as PyTorch. ``backward`` adds into every ``Parameter.grad``.

**Per-layer API** (for code that drives one layer at a time, e.g. :class:`bptt.nn.AttentionWrapper`'s decoder
steps, and for recorders): :meth:`RNNBase.layer_parameters` names one layer-direction's parameters by their role
in the functional op; :meth:`RNNBase.layer_forward` runs one layer-direction over a sequence (``T = 1`` for one
step) and returns its cache; :meth:`RNNBase.layer_backward` differentiates that cache, adds into the
parameters' gradients and returns the gradients of the input and the initial state.

**Two tiers.** A layer runs its fused op (``_op``, e.g. :mod:`bptt.functional.lstm`) unless a recorder is
active (:mod:`bptt.nn.hooks`) or ``layer_forward(..., reference=True)`` asks for the textbook twin
(``_reference_op``, e.g. :mod:`bptt.functional.reference.lstm`: same arguments minus ``ws``, same results to
1e-12 in float64). The cache says which tier made it and ``layer_backward`` differentiates it with the same
tier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ... import functional as F
from ...functional.workspace import Workspace
from .. import checks as C
from .. import hooks
from ..module import Module, Parameter, is_grad_enabled
from .layer_api import LayerGrads, LayerInputs, LayerOutput, check_input, check_lengths


class RNNBase(Module):
    """Shared machinery for ``LSTM``, ``GRU``, ``RNN`` and ``LayerNormLSTM`` (not used directly).

    A subclass names its functional op (``_op``) and, for PyTorch-layout parameters, its number of gate
    blocks (``_gates``); one whose op takes other parameters overrides :meth:`_make_params`,
    :meth:`_run_forward` and :meth:`_run_backward`.
    """

    #: Roles of one layer-direction's parameters, in the order the functional op takes them.
    PARAMETER_ROLES: tuple[str, ...] = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr")
    #: The functional op (a module of bptt.functional with ``forward`` / ``backward``).
    _op: Any = None
    #: Its textbook twin in bptt.functional.reference (run while a recorder is active).
    _reference_op: Any = None
    #: Number of gate blocks of ``hidden_size`` rows in ``weight_ih`` / ``weight_hh``.
    _gates = 1
    #: Whether ``layer_forward`` takes a recurrent-dropout mask (``LayerNormLSTM``).
    _recurrent_dropout = False

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = np.float32,
        rng: Any = None,
        forget_bias: float = 0.0,
        proj_size: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """``options``: the subclass's own (validated) settings, set as attributes before the parameters are
        made (e.g. ``LayerNormLSTM``'s ``layer_norm``)."""
        super().__init__()
        for key, value in (options or {}).items():
            setattr(self, key, value)
        name = {"LSTM": "LSTM", "GRU": "GRU", "LNLSTM": "LayerNormLSTM", "MinGRU": "MinGRU",
                "MinLSTM": "MinLSTM"}.get(mode, "RNN")
        self._name = name
        self.mode = mode
        self.input_size = C.positive_int(input_size, "input_size", name)
        self.hidden_size = C.positive_int(hidden_size, "hidden_size", name)
        self.num_layers = C.positive_int(num_layers, "num_layers", name)
        self.bias = C.boolean(bias, "bias", name)
        self.batch_first = C.boolean(batch_first, "batch_first", name)
        self.bidirectional = C.boolean(bidirectional, "bidirectional", name)
        self.dropout = C.probability(dropout, "dropout", name)
        self.forget_bias = C.finite_float(forget_bias, "forget_bias", name)
        self.dtype = C.as_dtype(dtype, name)
        gen = C.as_rng(rng, name)
        self._dropout_rng = np.random.default_rng(gen.integers(2**63))
        self.num_directions = 2 if self.bidirectional else 1
        self.proj_size = 0 if proj_size is None else C.nonnegative_int(proj_size, "proj_size", name)
        if self.proj_size:
            self._check_proj_size()
        self._ws = Workspace()  # recycled forward/backward buffers (see bptt.functional.workspace)
        self._layer_params: list[list[dict[str, Parameter]]] = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.output_size * self.num_directions
            row = []
            for direction in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                row.append(self._make_params(sfx, in_size, gen))
            self._layer_params.append(row)

    def _make_params(self, sfx: str, in_size: int, gen: np.random.Generator) -> dict[str, Parameter]:
        """Create and register one layer-direction's parameters in PyTorch's names and order, initialised
        U(-1/sqrt(H), 1/sqrt(H)); return them by role."""
        G = self._gates * self.hidden_size
        H, P = self.hidden_size, self.output_size
        k = 1.0 / math.sqrt(H)
        shapes = [("W_ih", "weight_ih", (G, in_size)), ("W_hh", "weight_hh", (G, P))]
        if self.bias:
            shapes += [("b_ih", "bias_ih", (G,)), ("b_hh", "bias_hh", (G,))]
        if self.proj_size:
            shapes += [("W_hr", "weight_hr", (P, H))]
        made = {}
        for role, pname, shape in shapes:
            made[role] = Parameter(gen.uniform(-k, k, shape).astype(self.dtype))
            setattr(self, pname + sfx, made[role])
        return made

    def _check_proj_size(self) -> None:
        """PyTorch's rule: only an LSTM projects, and to fewer units than ``hidden_size``."""
        if self.mode != "LSTM":
            raise ValueError(f"{self._name}: proj_size is only supported by LSTM, got proj_size={self.proj_size}")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"{self._name}: proj_size must be smaller than hidden_size={self.hidden_size}, got {self.proj_size}"
            )

    # ------------------------------------------------------------------ facts
    @property
    def has_cell_state(self) -> bool:
        """Whether the state is a pair ``(h, c)`` (LSTMs) rather than ``h`` alone (GRU, RNN)."""
        return self.mode in ("LSTM", "LNLSTM")

    @property
    def output_size(self) -> int:
        """Size of each direction's output: ``proj_size`` if set, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    @property
    def state_size(self) -> int:
        """Size of the state ``h`` (``h0``, ``h_n``): ``output_size`` for PyTorch's layers (an LSTM's projection
        is its ``h``); :class:`~bptt.nn.MinGRU` / :class:`~bptt.nn.MinLSTM` keep ``hidden_size``."""
        return self.output_size

    # ------------------------------------------------------------------ per-layer API
    def layer_parameters(self, layer: int, direction: int = 0) -> dict[str, Parameter]:
        """One layer-direction's parameters by role (see :attr:`PARAMETER_ROLES`; absent ones, e.g. biases with
        ``bias=False``, are left out), in the order the functional op takes them."""
        where = f"{self._name}.layer_parameters"
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < self.num_layers:
            raise ValueError(f"{where}: layer must be an int in [0, {self.num_layers - 1}], got {layer!r}")
        if direction not in range(self.num_directions) or isinstance(direction, bool):
            raise ValueError(f"{where}: direction must be 0 (forward)"
                             f"{' or 1 (reverse)' if self.bidirectional else ''}, got {direction!r}")
        return dict(self._layer_params[layer][direction])

    def layer_forward(self, layer: int, direction: int, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None = None,
                      *, lengths: np.ndarray | None = None, dropout_mask: np.ndarray | None = None,
                      record: hooks.ForwardHook | None = None, reference: bool = False) -> LayerOutput:
        """Run one layer-direction over ``x`` ``(T, B, D)`` (C-contiguous, the module's dtype) from ``h0``
        ``(B, P)`` (and ``c0`` ``(B, H)`` for LSTMs); ``T = 1`` is one step. Nothing is validated here (the
        module's ``forward`` does that); ``lengths`` is an int64 ``(B,)`` array or None, ``dropout_mask`` the
        recurrent-dropout mask ``(T, B, H)`` (``LayerNormLSTM`` only). ``reference=True`` runs the textbook
        twin instead of the fused op (``record``, the op's record callback, is then called with its
        ``SequenceCache``). Keeps no cache in the module: pass the returned one to :meth:`layer_backward` (at
        most once: the module's workspace recycles it)."""
        if dropout_mask is not None and not self._recurrent_dropout:
            raise ValueError(f"{self._name}.layer_forward: dropout_mask is only for LayerNormLSTM (recurrent "
                             "dropout), got an array")
        params = self._layer_params[layer][direction]
        ws = self._ws if (is_grad_enabled() and not reference) else None
        return self._run_forward(params, x, h0, c0, direction == 1, lengths, dropout_mask, ws, record, reference)

    def layer_backward(self, layer: int, direction: int, cache: Any, dy: np.ndarray | None, dh_n: np.ndarray | None,
                       dc_n: np.ndarray | None = None, *, need_dx: bool = True,
                       record: hooks.BackwardHook | None = None) -> LayerGrads:
        """Differentiate a :meth:`layer_forward` of the same layer-direction, with the tier that made ``cache``:
        ``dy`` ``(T, B, P)``, ``dh_n``, ``dc_n`` (each ``None`` for zero). Adds into the layer's
        ``Parameter.grad`` and returns the input's and the initial state's gradients (``dx`` is ``None`` with
        ``need_dx=False``). ``record`` (a :data:`~bptt.nn.hooks.BackwardHook`) needs a cache of the reference
        tier and receives a :class:`~bptt.nn.hooks.BackwardRecord`."""
        steps: list = []
        step_sink = None
        if record is not None:
            if not self.is_reference_cache(cache):
                raise ValueError(f"{self._name}.layer_backward: record needs a cache made by "
                                 "layer_forward(..., reference=True) (the textbook tier)")
            step_sink = lambda _cache, grads: steps.append(grads)  # noqa: E731 - the reference's record callback
        dx, dh0, dc0, grads = self._run_backward(cache, dy, dh_n, dc_n, need_dx, step_sink)
        for role, param in self._layer_params[layer][direction].items():
            param.grad += grads[role]
        if record is not None:
            record(hooks.BackwardRecord(cache, steps[0], dy, dh_n, dc_n, dx, dh0, dc0, grads))
        self._ws.give(*(g for g in grads.values() if g is not None and g.ndim == 2))
        return LayerGrads(dx, dh0, dc0)

    def is_reference_cache(self, cache: Any) -> bool:
        """Whether ``cache`` was made by the textbook twin (``layer_forward(..., reference=True)``)."""
        return isinstance(cache, self._reference_op.SequenceCache)

    def _tier(self, reference: bool, ws: Workspace | None) -> tuple[Any, dict[str, Any]]:
        """The op of a tier and the keywords only the fused op takes (its workspace)."""
        return (self._reference_op, {}) if reference else (self._op, {"ws": ws})

    def _op_arrays(self, params: dict[str, Parameter]) -> list[np.ndarray | None]:
        """The parameters' arrays in the functional op's argument order (``None`` for absent ones)."""
        return [None if role not in params else params[role].data for role in self.PARAMETER_ROLES]

    def _op_options(self) -> dict[str, Any]:
        """Keyword arguments of the op's forward beyond sequence, state, weights and direction."""
        return {}

    def _run_forward(self, params: dict[str, Parameter], x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                     reverse: bool, lengths: np.ndarray | None, dropout_mask: np.ndarray | None,
                     ws: Workspace | None, record: hooks.ForwardHook | None, reference: bool) -> LayerOutput:
        """One call of the op's forward (PyTorch-layout ops: ``op.forward(x, h0[, c0], W_ih, ...)``)."""
        op, tier_kwargs = self._tier(reference, ws)
        state = (h0, c0) if self.has_cell_state else (h0,)
        out, cache = op.forward(x, *state, *self._op_arrays(params), reverse=reverse, lengths=lengths,
                                record=record, **tier_kwargs, **self._op_options())
        y, h_n, c_n = out if self.has_cell_state else (*out, None)
        return LayerOutput(y, h_n, c_n, cache)

    def _run_backward(self, cache: Any, dy: np.ndarray | None, dh_n: np.ndarray | None, dc_n: np.ndarray | None,
                      need_dx: bool, record: Any
                      ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None, dict[str, np.ndarray | None]]:
        """One call of the op's backward (the tier that made ``cache``): ``(dx, dh0, dc0, gradients by role)``."""
        op, tier_kwargs = self._tier(self.is_reference_cache(cache), self._ws)
        dout = (dy, dh_n, dc_n) if self.has_cell_state else (dy, dh_n)
        g = op.backward(dout, cache, need_dx=need_dx, record=record, **tier_kwargs)
        dc0 = g.dc0 if self.has_cell_state else None
        return g.dx, g.dh0, dc0, dict(zip(self.PARAMETER_ROLES, g[len(dout):]))  # weights follow dx, dh0[, dc0]

    def _replay_reference(self, layer: int, direction: int, inputs: LayerInputs) -> Any:
        """The reference tier's cache of a layer-direction whose forward ran the fused op (before a recorder
        was installed): its forward again, from the inputs the layer kept and the current parameters."""
        params = self._layer_params[layer][direction]
        return self._run_forward(params, inputs.x, inputs.h0, inputs.c0, direction == 1, inputs.lengths,
                                 inputs.dropout_mask, None, None, True).cache

    def _dropout_masks(self, T: int, B: int) -> list[np.ndarray] | None:
        """Per layer-direction masks for recurrent dropout (none for PyTorch's layers)."""
        return None

    def _uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        """U[0, 1) draws of a time-major ``(T, B, F)`` shape for a dropout mask: drawn for the whole batch and
        this module's rows kept when it computes a shard of the batch (:meth:`Module.shard_batch`)."""
        if self.batch_shard is None:
            return self._dropout_rng.random(shape)
        return self.batch_shard.random(self._dropout_rng, shape, axis=1)

    # ------------------------------------------------------------------ checks
    def _state_shape(self, B: int | None, size: int) -> tuple:
        n = self.num_layers * self.num_directions
        return (n, size) if B is None else (n, B, size)

    def _check_state(self, s: Any, name: str, B: int | None, where: str) -> np.ndarray:
        s = C.float_array(s, name, where, self.dtype)
        is_h = name.lstrip("d").startswith("h")
        size = self.state_size if is_h else self.hidden_size
        size_name = "proj_size" if (is_h and self.state_size != self.hidden_size) else "hidden_size"
        if B is None:
            note = f"num_layers * num_directions, {size_name} for unbatched input"
        else:
            note = f"num_layers * num_directions, batch, {size_name}"
            if self.batch_first:
                note += "; batch is x.shape[0] since batch_first=True"
        C.expect_shape(s, self._state_shape(B, size), name, where, note)
        return s if B is not None else s[:, None, :]

    def _check_input(self, x: Any, where: str) -> tuple[np.ndarray, bool]:
        """``x`` as a C-contiguous time-major ``(T, B, D)`` array, and whether it was unbatched."""
        return check_input(x, self.input_size, self.batch_first, self.dtype, where)

    def _initial_state(self, hx: Any, B: int, unbatched: bool, where: str) -> tuple[np.ndarray, np.ndarray | None]:
        """``(h0, c0)`` as ``(L * nd, B, size)`` arrays (zeros for ``hx=None``; ``c0`` None for GRU/RNN)."""
        Bs = None if unbatched else B
        if hx is None:
            n = self.num_layers * self.num_directions
            h0 = np.zeros((n, B, self.state_size), dtype=self.dtype)
            c0 = np.zeros((n, B, self.hidden_size), dtype=self.dtype) if self.has_cell_state else None
            return h0, c0
        if self.has_cell_state:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{where}: hx must be a tuple (h0, c0) for LSTM, got {C.describe_pair(hx)}")
            return self._check_state(hx[0], "h0", Bs, where), self._check_state(hx[1], "c0", Bs, where)
        if isinstance(hx, (tuple, list)):
            raise TypeError(f"{where}: hx must be a single array h0 for {self._name}, got a {type(hx).__name__}")
        return self._check_state(hx, "h0", Bs, where), None

    # ------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray, hx: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
        where = f"{self._name}.forward"
        xt, unbatched = self._check_input(x, where)
        T, B, _ = xt.shape
        h0, c0 = self._initial_state(hx, B, unbatched, where)
        lens = check_lengths(lengths, T, B, where, "; batch is x.shape[0] since batch_first=True"
                             if self.batch_first and not unbatched else "")
        shard = self.batch_shard
        if shard is not None and self.training and shard.stop - shard.start != B:  # eval mode draws nothing
            raise ValueError(f"{where}: the batch has {B} sequences, but the module computes rows "
                             f"{shard.start}:{shard.stop} of a batch of {shard.size} (shard_batch)")

        nd = self.num_directions
        record = hooks.forward_hooks(self)  # the active recorder, if any: one check per call
        reference = record is not None  # recording runs the textbook tier
        inp = xt
        caches = []
        h_n = np.empty((self.num_layers * nd, B, self.state_size), dtype=self.dtype)
        c_n = np.empty((self.num_layers * nd, B, self.hidden_size), dtype=self.dtype) if self.has_cell_state else None
        masks = self._dropout_masks(T, B) if self.training else None
        for layer in range(self.num_layers):
            outs = []
            layer_caches = []
            layer_inputs = []
            for d in range(nd):
                idx = layer * nd + d
                inputs = LayerInputs(inp, h0[idx], None if c0 is None else c0[idx], lens,
                                     None if masks is None else masks[idx])
                y, hn, cn, cache = self.layer_forward(
                    layer, d, inputs.x, inputs.h0, inputs.c0, lengths=lens, dropout_mask=inputs.dropout_mask,
                    record=None if record is None else record[layer][d], reference=reference,
                )
                h_n[idx] = hn
                if cn is not None:
                    c_n[idx] = cn
                outs.append(y)
                layer_caches.append(cache)
                layer_inputs.append(inputs)
            out = np.concatenate(outs, axis=2) if nd == 2 else outs[0]
            drop_cache = None
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                out, drop_cache = F.dropout.forward(out, self.dropout, self._dropout_rng, True,
                                                    uniform=self._uniform(out.shape))
            caches.append((layer_caches, layer_inputs, drop_cache))
            inp = out
        if nd == 1 and lens is None:
            out = out.copy()  # the top layer's output is a view of its cache: never hand that out
        if unbatched:
            out = out[:, 0, :]
            h_n, c_n = h_n[:, 0, :], (None if c_n is None else c_n[:, 0, :])
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        self._save((caches, unbatched, T, B))
        if self.has_cell_state:
            return out, (h_n, c_n)
        return out, h_n

    # ------------------------------------------------------------------ backward
    def backward(self, dout: np.ndarray | None, dhx: Any = None, *, input_grad: bool = True) -> tuple[Any, Any]:
        """Backpropagate the last forward call; add into every ``Parameter.grad``.

        LSTM-like layers: ``dx, (dh0, dc0) = m.backward(dout, (dh_n, dc_n))``; GRU/RNN:
        ``dx, dh0 = m.backward(dout, dh_n)``. The state gradients are optional (``None`` means zeros), and so
        is ``dout`` (``None``: only the final states feed the loss). ``input_grad=False`` skips computing
        ``dx`` (returned as ``None``), as PyTorch does for inputs that do not require a gradient.
        """
        where = f"{self._name}.backward"
        if not self.has_cell_state:
            if isinstance(dhx, (tuple, list)):
                raise TypeError(f"{where}: dh_n must be a single array for {self._name}, got a {type(dhx).__name__}")
            dx, dh0, _ = self._backward(dout, dhx, None, input_grad)
            return dx, dh0
        if dhx is None:
            dh_n = dc_n = None
        elif isinstance(dhx, (tuple, list)) and len(dhx) == 2:
            dh_n, dc_n = dhx
        else:
            raise TypeError(f"{where}: dhx must be a tuple (dh_n, dc_n), got {C.describe_pair(dhx)}")
        dx, dh0, dc0 = self._backward(dout, dh_n, dc_n, input_grad)
        return dx, (dh0, dc0)

    def _backward(
        self, dout: Any, dh_n: Any, dc_n: Any, input_grad: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
        where = f"{self._name}.backward"
        caches, unbatched, T, B = self._peek()
        H = self.output_size
        nd = self.num_directions
        if dout is not None:
            dout = C.float_array(dout, "dout", where, self.dtype)
            exp = (T, nd * H) if unbatched else ((B, T, nd * H) if self.batch_first else (T, B, nd * H))
            C.expect_shape(dout, exp, "dout", where, "the output's shape")
            if unbatched:
                dout = dout[:, None, :]
            elif self.batch_first:
                dout = dout.transpose(1, 0, 2)
        Bs = None if unbatched else B
        dh_n = None if dh_n is None else self._check_state(dh_n, "dh_n", Bs, where)
        dc_n = None if dc_n is None else self._check_state(dc_n, "dc_n", Bs, where)
        self._pop()  # validated: now consume the forward cache
        record = hooks.backward_hooks(self)
        dh0 = np.empty((self.num_layers * nd, B, self.state_size), dtype=self.dtype)
        dc0 = np.empty((self.num_layers * nd, B, self.hidden_size), dtype=self.dtype) if self.has_cell_state else None
        dlayer = dout
        for layer in range(self.num_layers - 1, -1, -1):
            layer_caches, layer_inputs, drop_cache = caches[layer]
            if drop_cache is not None and dlayer is not None:
                dlayer = F.dropout.backward(dlayer, drop_cache)
            dx_total = None
            for d in range(nd):
                idx = layer * nd + d
                dy = None if dlayer is None else (dlayer[:, :, d * H : (d + 1) * H] if nd == 2 else dlayer)
                cache = layer_caches[d]
                if record is not None and not self.is_reference_cache(cache):  # forward ran before the recorder
                    cache = self._replay_reference(layer, d, layer_inputs[d])
                dx, dh0[idx], dc0_ = self.layer_backward(
                    layer, d, cache, dy,
                    None if dh_n is None else dh_n[idx],
                    None if dc_n is None else dc_n[idx],
                    need_dx=input_grad or layer > 0,
                    record=None if record is None else record[layer][d],
                )
                if dc0 is not None:
                    dc0[idx] = dc0_
                if dx_total is None:
                    dx_total = dx
                elif dx is not None:
                    dx_total += dx
            dlayer = dx_total
        dx = dlayer
        if unbatched:
            dx = None if dx is None else dx[:, 0, :]
            dh0 = dh0[:, 0, :]
            dc0 = None if dc0 is None else dc0[:, 0, :]
        elif self.batch_first and dx is not None:
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx, dh0, dc0

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.dtype != np.float32:
            s += f", dtype={self.dtype}"
        return s
