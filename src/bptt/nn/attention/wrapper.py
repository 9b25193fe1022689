r"""TensorFlow NMT's decoder loop (``tf.contrib.seq2seq.AttentionWrapper``, ``attention_architecture
standard``): :class:`AttentionWrapper` (input feeding, attention layer, alignment history) around a stacked
recurrent layer, driven one step at a time through the layer's public per-layer API
(:meth:`bptt.nn.RNNBase.layer_forward` / :meth:`~bptt.nn.RNNBase.layer_backward` with ``T = 1``).

A whole decoder (teacher forcing), TensorFlow's ``AttentionWrapper`` around a stacked cell::

    cell = LSTM(E + 64, 64, num_layers=2)              # input feeding: [y_{t-1} embedding; attention_{t-1}]
    dec = AttentionWrapper(cell, mech, attention_layer_size=64)
    outputs, final_state, alignment_history = dec(inputs, memory, memory_lengths, initial_state)
    dinputs, dmemory, dinitial_state = dec.backward(doutputs)

Per step ``t`` (``cell_output`` is the top layer's ``h``):

.. math::

    x'_t = [x_t; \alpha_{t-1}], \quad (o_t, s_t) = \mathrm{cell}(x'_t, s_{t-1}), \quad
    (c_t, a_t) = \mathrm{attend}(o_t, \text{memory}), \quad \alpha_t = W_c [o_t; c_t]

with :math:`\alpha_0 = 0`; the output is :math:`\alpha_t` (``output_attention=True``, TensorFlow's
default) or :math:`o_t`. The backward pass walks the steps in reverse carrying :math:`d\alpha` (input feeding)
and the cell's state gradients; the memory's gradient is accumulated over all steps and pushed through the
memory layer once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ...functional import attention as FA
from .. import checks as C
from ..layers import Linear
from ..module import Module
from ..recurrent import RNNBase
from .mechanisms import AttentionMechanism, AttentionMemory

__all__ = ["AttentionWrapper", "AttentionWrapperState"]


class AttentionWrapperState(NamedTuple):
    """The decoder's state between steps: the cell's state (``(h, c)`` of shapes ``(L, B, H)`` for LSTMs,
    ``h`` for GRUs), the last attention vector ``(B, A)`` and the last alignments ``(B, S)`` (None at
    first)."""

    cell_state: Any
    attention: np.ndarray
    alignments: np.ndarray | None = None


class AttentionWrapper(Module):
    """TensorFlow's ``AttentionWrapper`` around a stacked unidirectional ``LSTM``, ``GRU`` or
    ``LayerNormLSTM`` (``cell``), run step by step.

    The cell's input size must be ``input_size + attention_size`` (input feeding), where ``attention_size``
    is ``attention_layer_size`` or, without an attention layer, the memory size (the attention is the
    context). ``attention_layer.weight`` is ``(attention_layer_size, H + memory_size)`` without bias;
    ``attention_tanh=True`` applies Luong's tanh. See the module docstring for the equations.
    """

    def __init__(
        self,
        cell: Module,
        attention_mechanism: AttentionMechanism,
        attention_layer_size: int | None = None,
        *,
        attention_tanh: bool = False,
        output_attention: bool = True,
        rng: Any = None,
    ) -> None:
        super().__init__()
        where = "AttentionWrapper"
        if not isinstance(cell, RNNBase) or cell.mode not in ("LSTM", "GRU", "LNLSTM"):
            raise TypeError(f"{where}: cell must be a bptt.nn LSTM, GRU or LayerNormLSTM, "
                            f"got {type(cell).__name__}")
        if cell.bidirectional:
            raise ValueError(f"{where}: the decoder cell must be unidirectional (bidirectional=False)")
        if cell.dropout or getattr(cell, "dropout_keep_prob", 1.0) < 1.0:
            raise ValueError(f"{where}: the decoder cell must not use dropout (step-by-step decoding)")
        if not isinstance(attention_mechanism, AttentionMechanism):
            raise TypeError(f"{where}: attention_mechanism must be a LuongAttention or BahdanauAttention, "
                            f"got {type(attention_mechanism).__name__}")
        self.dtype = cell.dtype
        if attention_mechanism.dtype != self.dtype:
            raise TypeError(f"{where}: the cell ({self.dtype}) and the mechanism "
                            f"({attention_mechanism.dtype}) must have the same dtype")
        H = cell.output_size
        if attention_mechanism.query_size != H:
            raise ValueError(f"{where}: the mechanism's query size {attention_mechanism.query_size} must "
                             f"equal the cell's output size {H}")
        self.cell = cell
        self.attention_mechanism = attention_mechanism
        self.attention_tanh = C.boolean(attention_tanh, "attention_tanh", where)
        self.output_attention = C.boolean(output_attention, "output_attention", where)
        Dm = attention_mechanism.memory_size
        if attention_layer_size is None:
            self.attention_layer = None
            self.attention_size = Dm
        else:
            size = C.positive_int(attention_layer_size, "attention_layer_size", where)
            gen = C.as_rng(rng, where)
            self.attention_layer = Linear(H + Dm, size, bias=False, dtype=self.dtype, rng=gen)
            self.attention_size = size
        self.input_size = cell.input_size - self.attention_size
        if self.input_size <= 0:
            raise ValueError(f"{where}: cell.input_size={cell.input_size} must be input_size + "
                             f"attention_size (attention_size={self.attention_size}, input feeding)")
        self.output_size = self.attention_size if self.output_attention else H

    @property
    def num_layers(self) -> int:
        return self.cell.num_layers

    @property
    def has_cell_state(self) -> bool:
        """Whether the cell's state is a pair ``(h, c)`` (LSTMs) rather than ``h`` alone (GRU)."""
        return self.cell.has_cell_state

    # ------------------------------------------------------------------ states
    def zero_state(self, batch_size: int) -> AttentionWrapperState:
        """Zero cell state and zero attention (TensorFlow's ``zero_state``)."""
        L, H = self.cell.num_layers, self.cell.hidden_size
        h = np.zeros((L, batch_size, self.cell.output_size), dtype=self.dtype)
        cs = (h, np.zeros((L, batch_size, H), dtype=self.dtype)) if self.has_cell_state else h
        return AttentionWrapperState(cs, np.zeros((batch_size, self.attention_size), dtype=self.dtype), None)

    def _check_state(self, state: Any, B: int, where: str) -> AttentionWrapperState:
        if state is None:
            return self.zero_state(B)
        if not isinstance(state, tuple) or len(state) not in (2, 3):
            raise TypeError(f"{where}: initial_state must be an AttentionWrapperState (cell_state, "
                            f"attention), got {C.describe_pair(state)}")
        cs, att = state[0], state[1]
        L = self.cell.num_layers
        P, H = self.cell.output_size, self.cell.hidden_size
        if self.has_cell_state:
            if not (isinstance(cs, (tuple, list)) and len(cs) == 2):
                raise TypeError(f"{where}: cell_state must be a tuple (h, c) for an LSTM cell, "
                                f"got {C.describe_pair(cs)}")
            h = C.float_array(cs[0], "cell_state h", where, self.dtype)
            c = C.float_array(cs[1], "cell_state c", where, self.dtype)
            C.expect_shape(h, (L, B, P), "cell_state h", where, "num_layers, batch, hidden_size")
            C.expect_shape(c, (L, B, H), "cell_state c", where, "num_layers, batch, hidden_size")
            cs = (h, c)
        else:
            cs = C.float_array(cs, "cell_state", where, self.dtype)
            C.expect_shape(cs, (L, B, P), "cell_state", where, "num_layers, batch, hidden_size")
        att = np.zeros((B, self.attention_size), dtype=self.dtype) if att is None else C.float_array(
            att, "attention", where, self.dtype)
        C.expect_shape(att, (B, self.attention_size), "attention", where, "batch, attention_size")
        return AttentionWrapperState(cs, att, None)

    def _split(self, cs: Any) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        if self.has_cell_state:
            return list(cs[0]), list(cs[1])
        return list(cs), None

    def _join(self, hs: list[np.ndarray], cs: list[np.ndarray] | None) -> Any:
        h = np.stack(hs)
        return (h, np.stack(cs)) if cs is not None else h

    # ------------------------------------------------------------------ one step (internal)
    def _step(self, x: np.ndarray, hs: list, cs: list | None, att: np.ndarray, mem: AttentionMemory):
        """One step: returns ``(output, hs, cs, attention, alignments, cache)``."""
        cell = self.cell
        inp = np.concatenate([x, att], axis=1)
        layer_caches = []
        new_hs, new_cs = [], ([] if cs is not None else None)
        for layer in range(cell.num_layers):
            c0 = None if cs is None else cs[layer]
            _, h_n, c_n, cache = cell.layer_forward(layer, 0, inp[None], hs[layer], c0)
            h = h_n.copy()  # views of the (recycled) cache buffers: copy
            new_hs.append(h)
            if new_cs is not None:
                new_cs.append(c_n.copy())
            layer_caches.append(cache)
            inp = h
        q = inp
        context, alignments, att_cache = self.attention_mechanism.attend(q, mem)
        if self.attention_layer is None:
            attention, al_cache = context, None
        else:
            attention, al_cache = FA.attention_layer_forward(q, context, self.attention_layer.weight.data,
                                                             self.attention_tanh)
        output = attention if self.output_attention else q
        return output, new_hs, new_cs, attention, alignments, (layer_caches, att_cache, al_cache)

    def _step_backward(self, doutput: np.ndarray | None, dattention: np.ndarray, dhs: list, dcs: list | None,
                       cache: tuple, mem: AttentionMemory) -> tuple[np.ndarray, np.ndarray]:
        """Backward of one step; updates ``dhs``/``dcs`` in place to the previous step's state gradients and
        returns ``(dx, dattention_prev)``."""
        layer_caches, att_cache, al_cache = cache
        cell = self.cell
        dq = None
        if doutput is not None:
            if self.output_attention:
                dattention = dattention + doutput
            else:
                dq = doutput
        if al_cache is None:
            dcontext = dattention
        else:
            dq_al, dcontext, dW_c = FA.attention_layer_backward(dattention, al_cache)
            self.attention_layer.weight.grad += dW_c
            dq = dq_al if dq is None else dq + dq_al
        dq_att = self.attention_mechanism.attend_backward(dcontext, None, att_cache, mem)
        dq = dq_att if dq is None else dq + dq_att
        dinp = dq
        for layer in range(cell.num_layers - 1, -1, -1):
            dh_n = dhs[layer] + dinp
            dx, dh0, dc0 = cell.layer_backward(layer, 0, layer_caches[layer], None, dh_n,
                                               None if dcs is None else dcs[layer])
            dhs[layer] = dh0.copy()
            if dcs is not None:
                dcs[layer] = dc0.copy()
            dinp = dx[0]
        E = self.input_size
        return dinp[:, :E], dinp[:, E:]

    # ------------------------------------------------------------------ inference API
    def prepare(self, memory: np.ndarray, memory_lengths: Any = None) -> AttentionMemory:
        """The memory prepared once for :meth:`step` (see :meth:`AttentionMechanism.prepare`)."""
        return self.attention_mechanism.prepare(memory, memory_lengths)

    def step(self, x: np.ndarray, state: AttentionWrapperState, memory: AttentionMemory) -> tuple[
            np.ndarray, AttentionWrapperState]:
        """One decoding step for inference (keeps no cache): ``output, next_state = dec.step(x_t, state,
        dec.prepare(memory, lengths))``; ``x_t`` is ``(B, input_size)``."""
        where = "AttentionWrapper.step"
        x = C.float_array(x, "x", where, self.dtype)
        B = memory.batch_size
        C.expect_shape(x, (B, self.input_size), "x", where, "batch, input_size")
        state = self._check_state(state, B, where)
        hs, cs = self._split(state.cell_state)
        output, hs, cs, attention, alignments, _ = self._step(x, hs, cs, state.attention, memory)
        return output, AttentionWrapperState(self._join(hs, cs), attention, alignments)

    # ------------------------------------------------------------------ whole sequence
    def forward(self, inputs: np.ndarray, memory: np.ndarray, memory_lengths: Any = None,
                initial_state: Any = None) -> tuple[np.ndarray, AttentionWrapperState, np.ndarray]:
        """Run the decoder over ``inputs`` ``(T, B, input_size)`` (time-major) attending to ``memory``
        ``(B, S, memory_size)``.

        Returns ``(outputs (T, B, output_size), final_state, alignment_history (T, B, S))``.
        ``initial_state`` is an :class:`AttentionWrapperState` (``alignments`` ignored) or None for zeros.
        """
        where = "AttentionWrapper.forward"
        inputs = C.float_array(inputs, "inputs", where, self.dtype)
        if inputs.ndim != 3 or inputs.shape[2] != self.input_size:
            raise ValueError(f"{where}: inputs must have shape (T, B, {self.input_size}) (time-major, "
                             f"input_size={self.input_size}), got {C.shape_str(inputs.shape)}")
        T, B, _ = inputs.shape
        if T == 0:
            raise ValueError(f"{where}: inputs must have at least one step, got {C.shape_str(inputs.shape)}")
        mech = self.attention_mechanism
        memory, lengths = mech._check_memory(memory, memory_lengths, where)
        if memory.shape[0] != B:
            raise ValueError(f"{where}: memory has batch size {memory.shape[0]}, inputs have {B}")
        state = self._check_state(initial_state, B, where)
        mem = mech._prepare(memory, lengths)
        hs, cs = self._split(state.cell_state)
        att = state.attention
        outputs = np.empty((T, B, self.output_size), dtype=self.dtype)
        history = np.empty((T, B, memory.shape[1]), dtype=self.dtype)
        step_caches = []
        alignments = None
        for t in range(T):
            out, hs, cs, att, alignments, cache = self._step(inputs[t], hs, cs, att, mem)
            outputs[t] = out
            history[t] = alignments
            step_caches.append(cache)
        self._save((mem, step_caches, T, B))
        return outputs, AttentionWrapperState(self._join(hs, cs), att, alignments), history

    def backward(self, doutputs: np.ndarray | None, dfinal_state: Any = None) -> tuple[
            np.ndarray, np.ndarray, AttentionWrapperState]:
        """Backpropagate the last forward call: ``dinputs, dmemory, dinitial_state = dec.backward(doutputs,
        dfinal_state)``; ``dfinal_state`` (optional) holds the gradients of the final cell state and
        attention; ``dinitial_state`` is an :class:`AttentionWrapperState` of gradients."""
        where = "AttentionWrapper.backward"
        mem, step_caches, T, B = self._peek()
        if doutputs is not None:
            doutputs = C.float_array(doutputs, "doutputs", where, self.dtype)
            C.expect_shape(doutputs, (T, B, self.output_size), "doutputs", where, "the outputs' shape")
        if dfinal_state is None:
            dstate = self.zero_state(B)
        else:
            dstate = self._check_state(dfinal_state, B, where)
        self._pop()
        dhs, dcs = self._split(dstate.cell_state)
        dhs = [d.copy() for d in dhs]
        dcs = None if dcs is None else [d.copy() for d in dcs]
        datt = dstate.attention.copy()
        dinputs = np.empty((T, B, self.input_size), dtype=self.dtype)
        for t in range(T - 1, -1, -1):
            dx, datt = self._step_backward(None if doutputs is None else doutputs[t], datt, dhs, dcs,
                                           step_caches[t], mem)
            dinputs[t] = dx
        dmemory = self.attention_mechanism.memory_backward(mem)
        return dinputs, dmemory, AttentionWrapperState(self._join(dhs, dcs), np.ascontiguousarray(datt), None)

    def extra_repr(self) -> str:
        s = f"attention_size={self.attention_size}"
        if self.attention_layer is None:
            s += ", no attention layer"
        if self.attention_tanh:
            s += ", attention_tanh=True"
        if not self.output_attention:
            s += ", output_attention=False"
        return s
