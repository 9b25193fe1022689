r"""Attention mechanisms with TensorFlow's semantics (``tf.contrib.seq2seq``): :class:`LuongAttention`,
:class:`BahdanauAttention`, and :class:`AttentionMemory` (a memory prepared once per batch).

The math and the derivatives are in :mod:`bptt.functional.attention`. Memories are batch-major
``(B, S, D_m)`` as in TensorFlow; source lengths mask the memory (probability exactly 0 past the end).

One query::

    mech = LuongAttention(num_units=64, memory_size=128)
    context, alignments = mech(query, memory, memory_lengths)      # (B, 128), (B, S)
    dquery, dmemory = mech.backward(dcontext)                       # dalignments optional

Step API (what :class:`bptt.nn.AttentionWrapper` drives, one decoder step at a time, without validation):
``mem = mech.prepare(memory, lengths)``; ``context, alignments, cache = mech.attend(query, mem)``;
``dquery = mech.attend_backward(dcontext, dalignments, cache, mem)`` (the memory's gradients accumulate in
``mem``); finally ``dmemory = mech.memory_backward(mem)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...functional import attention as FA
from .. import checks as C
from ..layers import Linear
from ..module import Module, Parameter, is_grad_enabled

__all__ = ["AttentionMechanism", "AttentionMemory", "BahdanauAttention", "LuongAttention"]


def _check_lengths(lengths: Any, B: int, S: int, where: str) -> np.ndarray | None:
    if lengths is None:
        return None
    arr = C.as_array(lengths, "memory_lengths", where, f"an integer array of shape ({B},)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{where}: memory_lengths must be an integer array of shape ({B},), "
                        f"got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"{where}: memory_lengths must have shape ({B},) (one length per sequence), "
                         f"got {C.shape_str(arr.shape)}")
    if arr.size and (arr.min() < 1 or arr.max() > S):
        raise ValueError(f"{where}: memory_lengths must be in [1, {S}] (S={S}), got min {int(arr.min())} "
                         f"and max {int(arr.max())}")
    return arr.astype(np.int64)


class AttentionMemory:
    """A memory prepared for attention: masked values ``(B, S, D_m)``, keys ``(B, S, U)``, mask ``(B, S)``.

    Made by :meth:`AttentionMechanism.prepare` (once per batch); during training it also accumulates the
    gradients of the values and keys over the decoder's steps.
    """

    __slots__ = ("values", "keys", "mask", "lengths", "cache", "dvalues", "dkeys")

    def __init__(self, values: np.ndarray, keys: np.ndarray, mask: np.ndarray, lengths: np.ndarray | None,
                 cache: tuple | None) -> None:
        self.values, self.keys, self.mask, self.lengths, self.cache = values, keys, mask, lengths, cache
        self.dvalues: np.ndarray | None = None
        self.dkeys: np.ndarray | None = None

    @property
    def batch_size(self) -> int:
        return self.values.shape[0]

    @property
    def max_length(self) -> int:
        return self.values.shape[1]

    def repeat(self, k: int) -> AttentionMemory:
        """Each sequence repeated ``k`` times in a row (row ``b * k + j``), for beam search (no gradients)."""
        lengths = None if self.lengths is None else np.repeat(self.lengths, k)
        return AttentionMemory(np.repeat(self.values, k, axis=0), np.repeat(self.keys, k, axis=0),
                               np.repeat(self.mask, k, axis=0), lengths, None)

    def _accumulate(self, dvalues: np.ndarray, dkeys: np.ndarray) -> None:
        if self.dvalues is None:
            self.dvalues = dvalues.copy()
        else:
            self.dvalues += dvalues
        if self.dkeys is None:
            self.dkeys = dkeys.copy()
        else:
            self.dkeys += dkeys


class AttentionMechanism(Module):
    """Base class of :class:`LuongAttention` and :class:`BahdanauAttention` (not used directly)."""

    score = "luong"

    def __init__(self, num_units: int, memory_size: int, query_size: int, where: str, dtype: Any) -> None:
        super().__init__()
        self.num_units = C.positive_int(num_units, "num_units", where)
        self.memory_size = C.positive_int(memory_size, "memory_size", where)
        self.query_size = C.positive_int(query_size, "query_size", where)
        self.dtype = C.as_dtype(dtype, where)
        self._where = where

    # the parameters the functional op takes (overridden)
    def _W_m(self) -> np.ndarray | None:
        layer = self.memory_layer
        return None if layer is None else layer.weight.data

    def _score_params(self) -> dict[str, np.ndarray | None]:
        return {}

    def _add_score_grads(self, dparams: dict[str, np.ndarray | None]) -> None:
        pass

    # ------------------------------------------------------------------ memory
    def _check_memory(self, memory: Any, memory_lengths: Any,
                      where: str) -> tuple[np.ndarray, np.ndarray | None]:
        memory = C.float_array(memory, "memory", where, self.dtype)
        if memory.ndim != 3 or memory.shape[2] != self.memory_size:
            raise ValueError(f"{where}: memory must have shape (B, S, {self.memory_size}) (batch-major, "
                             f"memory_size={self.memory_size}), got {C.shape_str(memory.shape)}")
        B, S, _ = memory.shape
        if B == 0 or S == 0:
            raise ValueError(f"{where}: memory must have B >= 1 and S >= 1, got {C.shape_str(memory.shape)}")
        return memory, _check_lengths(memory_lengths, B, S, where)

    def prepare(self, memory: np.ndarray, memory_lengths: Any = None) -> AttentionMemory:
        """Mask the memory and compute the keys (once per batch); see :class:`AttentionMemory`."""
        memory, lengths = self._check_memory(memory, memory_lengths, f"{self._where}.prepare")
        return self._prepare(memory, lengths)

    def _prepare(self, memory: np.ndarray, lengths: np.ndarray | None) -> AttentionMemory:
        B, S, _ = memory.shape
        mask = FA.memory_mask(lengths, B, S)
        (values, keys), cache = FA.memory_forward(memory, mask, self._W_m())
        return AttentionMemory(values, keys, mask, lengths, cache if is_grad_enabled() else None)

    def memory_backward(self, mem: AttentionMemory) -> np.ndarray:
        """``dmemory`` from the gradients ``mem`` accumulated over :meth:`attend_backward` calls; adds the memory
        layer's gradient."""
        if mem.cache is None:
            raise RuntimeError(f"{self._where}: this memory was prepared under no_grad(); it has no gradient")
        dvalues = np.zeros_like(mem.values) if mem.dvalues is None else mem.dvalues
        dmemory, dW_m = FA.memory_backward(dvalues, mem.dkeys, mem.cache)
        if self.memory_layer is not None:
            self.memory_layer.weight.grad += dW_m
        mem.dvalues = mem.dkeys = None
        return dmemory

    # ------------------------------------------------------------------ step API (unvalidated; AttentionWrapper's)
    def attend(self, query: np.ndarray, mem: AttentionMemory) -> tuple[np.ndarray, np.ndarray, FA.AttendCache]:
        """One query ``(B, query_size)`` against a prepared memory: ``(context, alignments, cache)``."""
        (context, alignments), cache = FA.attend_forward(query, mem.values, mem.keys, mem.mask, self.score,
                                                         **self._score_params())
        return context, alignments, cache

    def attend_backward(self, dcontext: np.ndarray, dalignments: np.ndarray | None, cache: FA.AttendCache,
                        mem: AttentionMemory) -> np.ndarray:
        """Backward of one :meth:`attend`: returns ``dquery``; accumulates the memory's gradients in ``mem`` and
        adds the score parameters' gradients."""
        dquery, dvalues, dkeys, dparams = FA.attend_backward(dcontext, dalignments, cache)
        mem._accumulate(dvalues, dkeys)
        self._add_score_grads(dparams)
        return dquery

    # ------------------------------------------------------------------ module API: one query
    def forward(self, query: np.ndarray, memory: np.ndarray, memory_lengths: Any = None) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
        """``context`` ``(B, D_m)`` and ``alignments`` ``(B, S)`` of one query ``(B, query_size)``."""
        where = f"{self._where}.forward"
        memory, lengths = self._check_memory(memory, memory_lengths, where)
        query = C.float_array(query, "query", where, self.dtype)
        C.expect_shape(query, (memory.shape[0], self.query_size), "query", where, "batch, query_size")
        mem = self._prepare(memory, lengths)
        context, alignments, cache = self.attend(query, mem)
        self._save((mem, cache))
        return context, alignments

    def backward(self, dcontext: np.ndarray, dalignments: np.ndarray | None = None) -> tuple[np.ndarray,
                                                                                             np.ndarray]:
        """Return ``(dquery, dmemory)``; adds into the parameters' gradients."""
        where = f"{self._where}.backward"
        mem, cache = self._peek()
        B, S, D = mem.values.shape
        dcontext = C.float_array(dcontext, "dcontext", where, self.dtype)
        C.expect_shape(dcontext, (B, D), "dcontext", where, "the context's shape")
        if dalignments is not None:
            dalignments = C.float_array(dalignments, "dalignments", where, self.dtype)
            C.expect_shape(dalignments, (B, S), "dalignments", where, "the alignments' shape")
        self._pop()
        dquery = self.attend_backward(dcontext, dalignments, cache, mem)
        return dquery, self.memory_backward(mem)


class LuongAttention(AttentionMechanism):
    r"""Luong's multiplicative attention, TensorFlow's ``LuongAttention``: :math:`e_s = g\, q^\top W_m m_s`.

    ``score="general"`` (default, TensorFlow's): keys from a memory layer ``memory_layer.weight``
    ``(num_units, memory_size)`` without bias; ``score="dot"``: no memory layer (``memory_size`` must equal
    ``num_units``). ``scale=True`` adds the learned scalar ``attention_g`` (initialised to 1; TensorFlow
    NMT's ``scaled_luong``). The query (the decoder's output) must have ``num_units`` features.
    """

    score = "luong"

    def __init__(self, num_units: int, memory_size: int, *, scale: bool = False, score: str = "general",
                 dtype: Any = np.float32, rng: Any = None) -> None:
        where = "LuongAttention"
        super().__init__(num_units, memory_size, num_units, where, dtype)
        self.scale = C.boolean(scale, "scale", where)
        self.score_type = C.choice(score, ("general", "dot"), "score", where)
        gen = C.as_rng(rng, where)
        if self.score_type == "dot":
            if self.memory_size != self.num_units:
                raise ValueError(f"{where}: score='dot' needs memory_size == num_units, got memory_size="
                                 f"{self.memory_size} and num_units={self.num_units} (use score='general')")
            self.memory_layer = None
        else:
            self.memory_layer = Linear(self.memory_size, self.num_units, bias=False, dtype=self.dtype,
                                       rng=gen)
        self.attention_g = Parameter(np.ones(1, dtype=self.dtype)) if self.scale else None

    def _score_params(self) -> dict[str, np.ndarray | None]:
        return {"g": None if self.attention_g is None else self.attention_g.data}

    def _add_score_grads(self, dparams: dict[str, np.ndarray | None]) -> None:
        if self.attention_g is not None:
            self.attention_g.grad += dparams["g"]

    def extra_repr(self) -> str:
        s = f"num_units={self.num_units}, memory_size={self.memory_size}"
        if self.score_type != "general":
            s += f", score={self.score_type!r}"
        return s + (", scale=True" if self.scale else "")


class BahdanauAttention(AttentionMechanism):
    r"""Bahdanau's additive attention, TensorFlow's ``BahdanauAttention``:
    :math:`e_s = v^\top \tanh(W_q q + W_m m_s)`.

    Parameters: ``query_layer.weight`` ``(num_units, query_size)``, ``memory_layer.weight``
    ``(num_units, memory_size)`` (no biases), ``attention_v`` ``(num_units,)`` (Glorot-uniform as TensorFlow).
    ``normalize=True`` is the weight-normalised form: :math:`\hat v = g\,v/\lVert v\rVert` with the scalar
    ``attention_g`` (initialised to :math:`\sqrt{1/\text{num\_units}}`) and the bias ``attention_b``
    ``(num_units,)`` (zeros) inside the tanh.
    """

    score = "bahdanau"

    def __init__(self, num_units: int, memory_size: int, query_size: int | None = None, *,
                 normalize: bool = False, dtype: Any = np.float32, rng: Any = None) -> None:
        where = "BahdanauAttention"
        query_size = num_units if query_size is None else query_size
        super().__init__(num_units, memory_size, query_size, where, dtype)
        self.normalize = C.boolean(normalize, "normalize", where)
        gen = C.as_rng(rng, where)
        U = self.num_units
        self.query_layer = Linear(self.query_size, U, bias=False, dtype=self.dtype, rng=gen)
        self.memory_layer = Linear(self.memory_size, U, bias=False, dtype=self.dtype, rng=gen)
        limit = math.sqrt(3.0 / U)  # glorot_uniform of a 1-D variable: fan_in = fan_out = U
        self.attention_v = Parameter(gen.uniform(-limit, limit, U).astype(self.dtype))
        if self.normalize:
            self.attention_g = Parameter(np.full(1, math.sqrt(1.0 / U), dtype=self.dtype))
            self.attention_b = Parameter(np.zeros(U, dtype=self.dtype))
        else:
            self.attention_g = self.attention_b = None

    def _score_params(self) -> dict[str, np.ndarray | None]:
        return {
            "W_q": self.query_layer.weight.data,
            "v": self.attention_v.data,
            "g": None if self.attention_g is None else self.attention_g.data,
            "b": None if self.attention_b is None else self.attention_b.data,
        }

    def _add_score_grads(self, dparams: dict[str, np.ndarray | None]) -> None:
        self.query_layer.weight.grad += dparams["W_q"]
        self.attention_v.grad += dparams["v"]
        if self.attention_g is not None:
            self.attention_g.grad += dparams["g"]
            self.attention_b.grad += dparams["b"]

    def extra_repr(self) -> str:
        s = f"num_units={self.num_units}, memory_size={self.memory_size}, query_size={self.query_size}"
        return s + (", normalize=True" if self.normalize else "")
