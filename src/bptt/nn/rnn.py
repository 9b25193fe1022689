r"""Recurrent modules with PyTorch's constructors, parameter names, shapes, init and layouts.

``LSTM``, ``GRU`` and ``RNN`` stack ``num_layers`` layers, each optionally bidirectional; layer ``k > 0``
reads the concatenated ``[forward; reverse]`` outputs of layer ``k - 1`` (PyTorch's interleaved stacking).
Every weight and bias is initialised :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`, as in PyTorch.

Call contract::

    out, (h_n, c_n) = lstm(x, (h0, c0))            # hx optional (zeros)
    dx, (dh0, dc0) = lstm.backward(dout, (dh_n, dc_n))   # second argument optional
    out, h_n = gru(x, h0);   dx, dh0 = gru.backward(dout, dh_n)      # same for RNN

``x`` is ``(T, B, D)`` (``(B, T, D)`` with ``batch_first``, or unbatched ``(T, D)``); ``out`` is
``(T, B, num_directions * H)``; ``h_n`` is ``(num_layers * num_directions, B, H)`` ordered layer-major
(``l0``, ``l0_reverse``, ``l1``, ...), exactly as PyTorch. ``backward`` adds into every ``Parameter.grad``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..functional.workspace import Workspace
from ..trace import _ACTIVE as _TRACE
from . import _checks as C
from .module import Module, Parameter, is_grad_enabled

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _check_lengths(lengths: Any, T: int, B: int, where: str, note: str = "") -> np.ndarray | None:
    if lengths is None:
        return None
    arr = C.as_array(lengths, "lengths", where, f"an integer array of shape ({B},)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{where}: lengths must be an integer array of shape ({B},), got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(
            f"{where}: lengths must have shape ({B},) (one length per sequence{note}), "
            f"got {C.shape_str(arr.shape)}"
        )
    if arr.size and (arr.min() < 1 or arr.max() > T):
        raise ValueError(
            f"{where}: lengths must be in [1, {T}] (T={T}), got min {int(arr.min())} and max {int(arr.max())}"
        )
    if arr.size and arr.min() == T:
        return None  # every sequence is full length: plain (faster) path, identical result
    return arr.astype(np.int64)


class RNNBase(Module):
    """Shared machinery for ``LSTM``, ``GRU`` and ``RNN`` (not used directly)."""

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
    ) -> None:
        super().__init__()
        name = {"LSTM": "LSTM", "GRU": "GRU", "LNLSTM": "LayerNormLSTM"}.get(mode, "RNN")
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
            if mode != "LSTM":
                raise ValueError(f"{name}: proj_size is only supported by LSTM, got proj_size={self.proj_size}")
            if self.proj_size >= self.hidden_size:
                raise ValueError(
                    f"{name}: proj_size must be smaller than hidden_size={self.hidden_size}, got {self.proj_size}"
                )
        self._ws = Workspace()  # recycled forward/backward buffers (see bptt.functional.workspace)
        self._layer_params: list[list[tuple[Parameter | None, ...]]] = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.output_size * self.num_directions
            row = []
            for direction in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                row.append(self._make_params(sfx, in_size, gen))
            self._layer_params.append(row)

    def _make_params(self, sfx: str, in_size: int, gen: np.random.Generator) -> tuple[Parameter | None, ...]:
        """Create and register one layer-direction's parameters in PyTorch's order; return them in the
        order the functional op takes them."""
        G = _GATES[self.mode] * self.hidden_size
        H, P = self.hidden_size, self.output_size
        k = 1.0 / math.sqrt(H)
        shapes = [("weight_ih", (G, in_size)), ("weight_hh", (G, P))]
        if self.bias:
            shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
        if self.proj_size:
            shapes += [("weight_hr", (P, H))]
        made = {}
        for pname, shape in shapes:
            made[pname] = Parameter(gen.uniform(-k, k, shape).astype(self.dtype))
            setattr(self, pname + sfx, made[pname])
        ps = (made["weight_ih"], made["weight_hh"], made.get("bias_ih"), made.get("bias_hh"))
        return ps + ((made["weight_hr"],) if self.proj_size else ())

    # ------------------------------------------------------------------ helpers
    @property
    def _is_lstm(self) -> bool:
        """Whether the state is a pair ``(h, c)``."""
        return self.mode in ("LSTM", "LNLSTM")

    @property
    def output_size(self) -> int:
        """Size of ``h`` (and of each direction's output): ``proj_size`` if set, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    def _state_shape(self, B: int | None, size: int) -> tuple:
        n = self.num_layers * self.num_directions
        return (n, size) if B is None else (n, B, size)

    def _check_state(self, s: Any, name: str, B: int | None, where: str) -> np.ndarray:
        s = C.float_array(s, name, where, self.dtype)
        is_h = name.lstrip("d").startswith("h")
        size = self.output_size if is_h else self.hidden_size
        size_name = "proj_size" if (is_h and self.proj_size) else "hidden_size"
        if B is None:
            note = f"num_layers * num_directions, {size_name} for unbatched input"
        else:
            note = f"num_layers * num_directions, batch, {size_name}"
            if self.batch_first:
                note += "; batch is x.shape[0] since batch_first=True"
        C.expect_shape(s, self._state_shape(B, size), name, where, note)
        return s if B is not None else s[:, None, :]

    def _layer_forward(self, inp, h0, c0, params, reverse, lengths, mask=None, record=None):
        W_ih, W_hh, b_ih, b_hh, *W_hr = (None if p is None else p.data for p in params)
        ws = self._ws if is_grad_enabled() else None
        if self._is_lstm:
            (y, h_n, c_n), cache = F.lstm.forward(
                inp, h0, c0, W_ih, W_hh, b_ih, b_hh, *W_hr,
                forget_bias=self.forget_bias, reverse=reverse, lengths=lengths, ws=ws, record=record,
            )
            return y, h_n, c_n, cache
        if self.mode == "GRU":
            (y, h_n), cache = F.gru.forward(
                inp, h0, W_ih, W_hh, b_ih, b_hh, reverse=reverse, lengths=lengths, ws=ws, record=record
            )
        else:
            nl = "relu" if self.mode == "RNN_RELU" else "tanh"
            (y, h_n), cache = F.rnn.forward(
                inp, h0, W_ih, W_hh, b_ih, b_hh, nonlinearity=nl, reverse=reverse, lengths=lengths, ws=ws,
                record=record,
            )
        return y, h_n, None, cache

    def _layer_backward(self, dy, dh_n, dc_n, cache, need_dx=True, record=None):
        """Return ``(dx, dh0, dc0, grads)`` with ``grads`` aligned with the layer's parameter tuple."""
        if self._is_lstm:
            dx, dh0, dc0, *grads = F.lstm.backward((dy, dh_n, dc_n), cache, ws=self._ws, need_dx=need_dx,
                                                   record=record)
            return dx, dh0, dc0, grads
        mod = F.gru if self.mode == "GRU" else F.rnn
        dx, dh0, *grads = mod.backward((dy, dh_n), cache, ws=self._ws, need_dx=need_dx, record=record)
        return dx, dh0, None, grads

    # ------------------------------------------------------------------ forward
    def forward(self, x: np.ndarray, hx: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
        where = f"{self._name}.forward"
        x = C.float_array(x, "x", where, self.dtype)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            D = self.input_size
            layout = f"(B, T, {D})" if self.batch_first else f"(T, B, {D})"
            raise ValueError(
                f"{where}: x must have shape {layout} or unbatched (T, {D}) (input_size={D}"
                f"{', batch_first=True' if self.batch_first else ''}), got {C.shape_str(x.shape)}"
            )
        unbatched = x.ndim == 2
        if unbatched:
            xt = x[:, None, :]
        elif self.batch_first:
            xt = x.transpose(1, 0, 2)
        else:
            xt = x
        T, B, _ = xt.shape
        if T == 0 or B == 0:
            raise ValueError(
                f"{where}: x must have at least one time step and one sequence (T >= 1, B >= 1), "
                f"got shape {C.shape_str(x.shape)}"
            )
        xt = np.ascontiguousarray(xt)
        Bs = None if unbatched else B
        if hx is None:
            n = self.num_layers * self.num_directions
            h0 = np.zeros((n, B, self.output_size), dtype=self.dtype)
            c0 = np.zeros((n, B, self.hidden_size), dtype=self.dtype) if self._is_lstm else None
        elif self._is_lstm:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{where}: hx must be a tuple (h0, c0) for LSTM, got {C.describe_pair(hx)}")
            h0 = self._check_state(hx[0], "h0", Bs, where)
            c0 = self._check_state(hx[1], "c0", Bs, where)
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{where}: hx must be a single array h0 for {self._name}, got a {type(hx).__name__}")
            h0 = self._check_state(hx, "h0", Bs, where)
            c0 = None
        lens = _check_lengths(lengths, T, B, where, "; batch is x.shape[0] since batch_first=True"
                              if self.batch_first and not unbatched else "")

        nd = self.num_directions
        trace = _TRACE.get()  # the active bptt.trace recorder, if any: one check per call
        hooks = None if trace is None else trace._forward_hooks(self)
        inp = xt
        caches = []
        h_n = np.empty((self.num_layers * nd, B, self.output_size), dtype=self.dtype)
        c_n = np.empty((self.num_layers * nd, B, self.hidden_size), dtype=self.dtype) if self._is_lstm else None
        masks = self._dropout_masks(T, B) if self.training else None
        for layer in range(self.num_layers):
            outs = []
            layer_caches = []
            for d in range(nd):
                idx = layer * nd + d
                y, hn, cn, cache = self._layer_forward(
                    inp, h0[idx], None if c0 is None else c0[idx], self._layer_params[layer][d], d == 1, lens,
                    **({} if masks is None else {"mask": masks[idx]}),
                    record=None if hooks is None else hooks[layer][d],
                )
                h_n[idx] = hn
                if cn is not None:
                    c_n[idx] = cn
                outs.append(y)
                layer_caches.append(cache)
            out = np.concatenate(outs, axis=2) if nd == 2 else outs[0]
            drop_cache = None
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                out, drop_cache = F.dropout.forward(out, self.dropout, self._dropout_rng, True)
            caches.append((layer_caches, drop_cache))
            inp = out
        if nd == 1 and lens is None:
            out = out.copy()  # the top layer's output is a view of its cache: never hand that out
        if unbatched:
            out = out[:, 0, :]
            h_n, c_n = h_n[:, 0, :], (None if c_n is None else c_n[:, 0, :])
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        self._save((caches, unbatched, T, B))
        if self._is_lstm:
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
        if not self._is_lstm:
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
        trace = _TRACE.get()
        hooks = None if trace is None else trace._backward_hooks(self)
        dh0 = np.empty((self.num_layers * nd, B, H), dtype=self.dtype)
        dc0 = np.empty((self.num_layers * nd, B, self.hidden_size), dtype=self.dtype) if self._is_lstm else None
        dlayer = dout
        for layer in range(self.num_layers - 1, -1, -1):
            layer_caches, drop_cache = caches[layer]
            if drop_cache is not None and dlayer is not None:
                dlayer = F.dropout.backward(dlayer, drop_cache)
            dx_total = None
            for d in range(nd):
                idx = layer * nd + d
                dy = None if dlayer is None else (dlayer[:, :, d * H : (d + 1) * H] if nd == 2 else dlayer)
                dx, dh0_, dc0_, grads = self._layer_backward(
                    dy,
                    None if dh_n is None else dh_n[idx],
                    None if dc_n is None else dc_n[idx],
                    layer_caches[d],
                    need_dx=input_grad or layer > 0,
                    record=None if hooks is None else hooks[layer][d],
                )
                for param, grad in zip(self._layer_params[layer][d], grads):
                    if param is not None:
                        param.grad += grad
                self._ws.give(*(g for g in grads if g is not None and g.ndim == 2))
                dh0[idx] = dh0_
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

    def _dropout_masks(self, T: int, B: int) -> list[np.ndarray] | None:
        """Per layer-direction masks for recurrent dropout (none for PyTorch's layers)."""
        return None

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


class LSTM(RNNBase):
    r"""Multi-layer LSTM, PyTorch's ``torch.nn.LSTM`` (gate order i, f, g, o).

    ``forget_bias`` (default 0, PyTorch semantics) is a constant added to the forget gate's pre-activation at
    run time, as TensorFlow's LSTM cells do; it is not a parameter and receives no gradient.
    See :mod:`bptt.functional.lstm` for the equations and their derivatives.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        forget_bias: float = 0.0,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            dtype=dtype, rng=rng, forget_bias=forget_bias, proj_size=proj_size,
        )

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", forget_bias={self.forget_bias}" if self.forget_bias else "")


class GRU(RNNBase):
    """Multi-layer GRU, PyTorch's ``torch.nn.GRU`` (gate order r, z, n; ``b_hn`` inside the reset product)."""

    def __init__(
        self,
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
    ) -> None:
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype=dtype, rng=rng
        )


class RNN(RNNBase):
    """Multi-layer Elman RNN, PyTorch's ``torch.nn.RNN`` (``nonlinearity`` ``'tanh'`` or ``'relu'``)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        C.choice(nonlinearity, ("tanh", "relu"), "nonlinearity", "RNN")
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype=dtype, rng=rng,
        )
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


# ---------------------------------------------------------------------------------------------- cells
class _CellBase(Module):
    """One step of a recurrent layer; parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""

    _gates = 1

    def __init__(self, name: str, input_size: int, hidden_size: int, bias: bool, dtype: Any, rng: Any) -> None:
        super().__init__()
        self._name = name
        self.input_size = C.positive_int(input_size, "input_size", name)
        self.hidden_size = C.positive_int(hidden_size, "hidden_size", name)
        self.bias = C.boolean(bias, "bias", name)
        self.dtype = C.as_dtype(dtype, name)
        gen = C.as_rng(rng, name)
        G, H = self._gates * self.hidden_size, self.hidden_size
        k = 1.0 / math.sqrt(H)
        self.weight_ih = Parameter(gen.uniform(-k, k, (G, self.input_size)).astype(self.dtype))
        self.weight_hh = Parameter(gen.uniform(-k, k, (G, H)).astype(self.dtype))
        if self.bias:
            self.bias_ih = Parameter(gen.uniform(-k, k, G).astype(self.dtype))
            self.bias_hh = Parameter(gen.uniform(-k, k, G).astype(self.dtype))
        else:
            self.bias_ih = self.bias_hh = None

    def _params(self) -> tuple:
        return (
            self.weight_ih.data,
            self.weight_hh.data,
            None if self.bias_ih is None else self.bias_ih.data,
            None if self.bias_hh is None else self.bias_hh.data,
        )

    def _accumulate(self, dW_ih, dW_hh, db_ih, db_hh) -> None:
        self.weight_ih.grad += dW_ih
        self.weight_hh.grad += dW_hh
        if self.bias_ih is not None:
            self.bias_ih.grad += db_ih
            self.bias_hh.grad += db_hh

    def _check_input(self, x: Any) -> tuple[np.ndarray, bool]:
        where = f"{self._name}.forward"
        x = C.float_array(x, "x", where, self.dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{where}: x must have shape (B, {self.input_size}) or ({self.input_size},) "
                f"(input_size={self.input_size}), got {C.shape_str(x.shape)}"
            )
        unbatched = x.ndim == 1
        if not unbatched and x.shape[0] == 0:
            raise ValueError(f"{where}: x must have at least one sequence (B >= 1),"
                             f" got shape {C.shape_str(x.shape)}")
        return (x[None] if unbatched else x), unbatched

    def _check_h(self, h: Any, name: str, B: int, unbatched: bool, where: str) -> np.ndarray:
        h = C.float_array(h, name, where, self.dtype)
        exp = (self.hidden_size,) if unbatched else (B, self.hidden_size)
        C.expect_shape(h, exp, name, where)
        return h[None] if unbatched else h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LSTMCell(_CellBase):
    """One LSTM step: ``h1, c1 = cell(x, (h0, c0))``; ``dx, (dh0, dc0) = cell.backward(dh1, dc1)``."""

    _gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, forget_bias: float = 0.0,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        super().__init__("LSTMCell", input_size, hidden_size, bias, dtype, rng)
        self.forget_bias = C.finite_float(forget_bias, "forget_bias", "LSTMCell")

    def forward(self, x: np.ndarray, hx: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        where = "LSTMCell.forward"
        x, unbatched = self._check_input(x)
        B = x.shape[0]
        if hx is None:
            h0 = np.zeros((B, self.hidden_size), dtype=self.dtype)
            c0 = h0.copy()
        else:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"{where}: hx must be a tuple (h0, c0), got {C.describe_pair(hx)}")
            h0 = self._check_h(hx[0], "h0", B, unbatched, where)
            c0 = self._check_h(hx[1], "c0", B, unbatched, where)
        (_, h1, c1), cache = F.lstm.forward(x[None], h0, c0, *self._params(), forget_bias=self.forget_bias)
        self._save((cache, unbatched))
        h1, c1 = h1.copy(), c1.copy()
        return (h1[0], c1[0]) if unbatched else (h1, c1)

    def backward(self, dh1: np.ndarray | None, dc1: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
        where = "LSTMCell.backward"
        cache, unbatched = self._peek()
        B = cache[0].shape[1]
        dh1 = None if dh1 is None else self._check_h(dh1, "dh1", B, unbatched, where)
        dc1 = None if dc1 is None else self._check_h(dc1, "dc1", B, unbatched, where)
        self._pop()
        dx, dh0, dc0, *grads = F.lstm.backward((None, dh1, dc1), cache)
        self._accumulate(*grads)
        dx = dx[0]
        if unbatched:
            return dx[0], (dh0[0], dc0[0])
        return dx, (dh0, dc0)


class GRUCell(_CellBase):
    """One GRU step: ``h1 = cell(x, h0)``; ``dx, dh0 = cell.backward(dh1)``."""

    _gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, dtype: Any = np.float32,
                 rng: Any = None) -> None:
        super().__init__("GRUCell", input_size, hidden_size, bias, dtype, rng)

    def _step(self, x, h0):
        return F.gru.forward(x[None], h0, *self._params())

    def _step_backward(self, dh1, cache):
        return F.gru.backward((None, dh1), cache)

    def forward(self, x: np.ndarray, hx: np.ndarray | None = None) -> np.ndarray:
        where = f"{self._name}.forward"
        x, unbatched = self._check_input(x)
        B = x.shape[0]
        if isinstance(hx, (tuple, list)):
            got = type(hx).__name__
            raise TypeError(f"{where}: hx must be a single array h0 for {self._name}, got a {got}")
        h0 = np.zeros((B, self.hidden_size), dtype=self.dtype) if hx is None else self._check_h(
            hx, "h0", B, unbatched, where
        )
        (_, h1), cache = self._step(x, h0)
        self._save((cache, unbatched))
        h1 = h1.copy()
        return h1[0] if unbatched else h1

    def backward(self, dh1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        where = f"{self._name}.backward"
        cache, unbatched = self._peek()
        B = cache[0].shape[1]
        dh1 = self._check_h(dh1, "dh1", B, unbatched, where)
        self._pop()
        dx, dh0, *grads = self._step_backward(dh1, cache)
        self._accumulate(*grads)
        dx = dx[0]
        return (dx[0], dh0[0]) if unbatched else (dx, dh0)


class RNNCell(GRUCell):
    """One Elman RNN step (``nonlinearity`` ``'tanh'`` or ``'relu'``): ``h1 = cell(x, h0)``."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", *,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        C.choice(nonlinearity, ("tanh", "relu"), "nonlinearity", "RNNCell")
        _CellBase.__init__(self, "RNNCell", input_size, hidden_size, bias, dtype, rng)
        self.nonlinearity = nonlinearity

    def _step(self, x, h0):
        return F.rnn.forward(x[None], h0, *self._params(), nonlinearity=self.nonlinearity)

    def _step_backward(self, dh1, cache):
        return F.rnn.backward((None, dh1), cache)


# ---------------------------------------------------------------------------------------------- layer norm
_LN_SCOPES = ("input", "transform", "forget", "output", "state")


class LayerNormLSTM(RNNBase):
    r"""TensorFlow 1's ``tf.contrib.rnn.LayerNormBasicLSTMCell`` as a multi-layer, optionally bidirectional layer.

    Per step (see :mod:`bptt.functional.ln_lstm` for the derivatives)::

        [i, j, f, o] = split([x, h] @ kernel (+ bias only when layer_norm=False))
        i, j, f, o   = LN_input(i), LN_transform(j), LN_forget(f), LN_output(o)     (when layer_norm)
        g  = tanh(j)                (recurrent dropout on g when dropout_keep_prob < 1, training mode only)
        c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g
        c' = LN_state(c')           (when layer_norm: the normalised value is the new state)
        h' = tanh(c') * sigmoid(o)

    with ``LN(v) = (v - mean) / sqrt(var + 1e-12) * gamma + beta`` over the ``H`` units (population variance,
    TensorFlow's hard-coded epsilon). Parameters per layer ``k`` and direction (``_reverse`` suffix):
    ``kernel_l{k}`` ``(in + H, 4H)`` with TensorFlow's column blocks ``i, j, f, o``; ``bias_l{k}`` ``(4H,)`` only
    when ``layer_norm=False`` (and ``bias=True``); ``{input,transform,forget,output,state}_{gamma,beta}_l{k}``
    ``(H,)`` only when ``layer_norm=True``, initialised to ``norm_gain`` and ``norm_shift``. The kernel and
    bias are initialised Glorot-uniform, the default of TensorFlow 1's ``get_variable`` that the cell uses.
    Stacking and bidirectional layout follow :class:`LSTM` (PyTorch's interleaved stacking); ``dropout``
    (default 0) is PyTorch-style dropout between layers. Same call/backward contract as :class:`LSTM`,
    including ``lengths``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        forget_bias: float = 1.0,
        layer_norm: bool = True,
        norm_gain: float = 1.0,
        norm_shift: float = 0.0,
        dropout_keep_prob: float = 1.0,
        *,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        Module.__init__(self)  # so the settings below exist before RNNBase creates the parameters
        where = "LayerNormLSTM"
        self.layer_norm = C.boolean(layer_norm, "layer_norm", where)
        self.norm_gain = C.finite_float(norm_gain, "norm_gain", where)
        self.norm_shift = C.finite_float(norm_shift, "norm_shift", where)
        keep = C.finite_float(dropout_keep_prob, "dropout_keep_prob", where)
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"{where}: dropout_keep_prob must be in (0, 1], got {keep}")
        self.dropout_keep_prob = keep
        super().__init__(
            "LNLSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            dtype=dtype, rng=rng, forget_bias=forget_bias,
        )

    def _make_params(self, sfx: str, in_size: int, gen: np.random.Generator) -> tuple[Parameter | None, ...]:
        H = self.hidden_size
        limit = math.sqrt(6.0 / (in_size + H + 4 * H))
        kernel = Parameter(gen.uniform(-limit, limit, (in_size + H, 4 * H)).astype(self.dtype))
        setattr(self, "kernel" + sfx, kernel)
        bias = None
        if self.bias and not self.layer_norm:
            b_limit = math.sqrt(6.0 / (8 * H))
            bias = Parameter(gen.uniform(-b_limit, b_limit, 4 * H).astype(self.dtype))
            setattr(self, "bias" + sfx, bias)
        if not self.layer_norm:
            return (kernel, bias)
        gammas, betas = [], []
        for scope in _LN_SCOPES:
            g = Parameter(np.full(H, self.norm_gain, dtype=self.dtype))
            b = Parameter(np.full(H, self.norm_shift, dtype=self.dtype))
            setattr(self, f"{scope}_gamma{sfx}", g)
            setattr(self, f"{scope}_beta{sfx}", b)
            gammas.append(g)
            betas.append(b)
        return (kernel, bias, *gammas, *betas)

    def _layer_forward(self, inp, h0, c0, params, reverse, lengths, mask=None, record=None):
        kernel, bias = params[0].data, (None if params[1] is None else params[1].data)
        gamma = beta = None
        if self.layer_norm:
            gamma = np.stack([p.data for p in params[2:7]])
            beta = np.stack([p.data for p in params[7:12]])
        (y, h_n, c_n), cache = F.ln_lstm.forward(
            inp, h0, c0, kernel, bias, gamma, beta, forget_bias=self.forget_bias, g_mask=mask,
            reverse=reverse, lengths=lengths, ws=self._ws if is_grad_enabled() else None, record=record,
        )
        return y, h_n, c_n, cache

    def _layer_backward(self, dy, dh_n, dc_n, cache, need_dx=True, record=None):
        dx, dh0, dc0, dkernel, dbias, dgamma, dbeta = F.ln_lstm.backward(
            (dy, dh_n, dc_n), cache, ws=self._ws, need_dx=need_dx, record=record
        )
        grads = [dkernel, dbias]
        if self.layer_norm:
            grads += list(dgamma) + list(dbeta)
        return dx, dh0, dc0, grads

    def _dropout_masks(self, T: int, B: int) -> list[np.ndarray] | None:
        keep = self.dropout_keep_prob
        if keep >= 1.0:
            return None
        H = self.hidden_size
        n = self.num_layers * self.num_directions
        scale = self.dtype.type(1.0 / keep)
        return [(self._dropout_rng.random((T, B, H)) < keep).astype(self.dtype) * scale for _ in range(n)]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        s += f", forget_bias={self.forget_bias}"
        if not self.layer_norm:
            s += ", layer_norm=False"
        if self.dropout_keep_prob < 1.0:
            s += f", dropout_keep_prob={self.dropout_keep_prob}"
        return s
