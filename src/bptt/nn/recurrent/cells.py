"""One step of a recurrent layer: ``LSTMCell``, ``GRUCell``, ``RNNCell`` (PyTorch's ``torch.nn.*Cell``).

Each runs its functional op over a sequence of length 1. Parameters ``weight_ih`` ``(G * H, D)``,
``weight_hh`` ``(G * H, H)``, ``bias_ih``, ``bias_hh`` ``(G * H,)`` (``G`` gate blocks: 4, 3, 1), initialised
:math:`U(-1/\\sqrt{H}, 1/\\sqrt{H})` as in PyTorch. Hierarchy::

    RNNCellBase                 parameters, input/state checks
    +-- LSTMCell                state (h, c)
    +-- HiddenStateCell         state h: one forward/backward for
        +-- GRUCell                 the GRU step
        +-- RNNCell                 the Elman step (tanh or ReLU)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import functional as F
from .. import checks as C
from ..module import Module, Parameter


class RNNCellBase(Module):
    """Parameters and checks shared by the cells (not used directly)."""

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


class LSTMCell(RNNCellBase):
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
        B = cache.x.shape[1]
        dh1 = None if dh1 is None else self._check_h(dh1, "dh1", B, unbatched, where)
        dc1 = None if dc1 is None else self._check_h(dc1, "dc1", B, unbatched, where)
        self._pop()
        g = F.lstm.backward((None, dh1, dc1), cache)
        self._accumulate(g.dW_ih, g.dW_hh, g.db_ih, g.db_hh)
        dx, dh0, dc0 = g.dx[0], g.dh0, g.dc0
        if unbatched:
            return dx[0], (dh0[0], dc0[0])
        return dx, (dh0, dc0)


class HiddenStateCell(RNNCellBase):
    """A cell whose state is ``h`` alone: ``h1 = cell(x, h0)``; ``dx, dh0 = cell.backward(dh1)``. Subclasses
    give the functional op's step (``_step``) and its backward (``_step_backward``)."""

    def _step(self, x: np.ndarray, h0: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], Any]:
        raise NotImplementedError

    def _step_backward(self, dh1: np.ndarray, cache: Any) -> F.sequence.HiddenGrads:
        raise NotImplementedError

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
        B = cache.x.shape[1]
        dh1 = self._check_h(dh1, "dh1", B, unbatched, where)
        self._pop()
        g = self._step_backward(dh1, cache)
        self._accumulate(g.dW_ih, g.dW_hh, g.db_ih, g.db_hh)
        dx, dh0 = g.dx[0], g.dh0
        return (dx[0], dh0[0]) if unbatched else (dx, dh0)


class GRUCell(HiddenStateCell):
    """One GRU step: ``h1 = cell(x, h0)``; ``dx, dh0 = cell.backward(dh1)``."""

    _gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, dtype: Any = np.float32,
                 rng: Any = None) -> None:
        super().__init__("GRUCell", input_size, hidden_size, bias, dtype, rng)

    def _step(self, x: np.ndarray, h0: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], F.gru.GRUCache]:
        return F.gru.forward(x[None], h0, *self._params())

    def _step_backward(self, dh1: np.ndarray, cache: F.gru.GRUCache) -> F.sequence.HiddenGrads:
        return F.gru.backward((None, dh1), cache)


class RNNCell(HiddenStateCell):
    """One Elman RNN step (``nonlinearity`` ``'tanh'`` or ``'relu'``): ``h1 = cell(x, h0)``."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", *,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        C.choice(nonlinearity, ("tanh", "relu"), "nonlinearity", "RNNCell")
        super().__init__("RNNCell", input_size, hidden_size, bias, dtype, rng)
        self.nonlinearity = nonlinearity

    def _step(self, x: np.ndarray, h0: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], F.rnn.RNNCache]:
        return F.rnn.forward(x[None], h0, *self._params(), nonlinearity=self.nonlinearity)

    def _step_backward(self, dh1: np.ndarray, cache: F.rnn.RNNCache) -> F.sequence.HiddenGrads:
        return F.rnn.backward((None, dh1), cache)
