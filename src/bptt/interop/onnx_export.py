"""Export to ONNX with ONNX's native ``LSTM`` / ``GRU`` / ``RNN`` operators: language models
(:func:`language_model_to_onnx`) and bare recurrent stacks (:func:`recurrent_to_onnx`, e.g. a peephole LSTM).

**Language-model graph.** Inputs: ``input_ids`` int64 ``(T, B)`` first, then the optional initial states
``h0`` (and ``c0`` for an LSTM) float32 ``(num_layers, B, H)``; outputs: ``logits`` float32 ``(T, B, V)`` first,
then the final states ``h_n`` (and ``c_n``), which a caller feeds back as ``h0`` / ``c0`` to continue a text.
``T`` and ``B`` are free dimensions. The states are optional because each is a graph input with a default
(an initializer of zeros, shape ``(num_layers, 1, H)``, broadcast over the batch with ``Expand``): a fresh call
feeds ``input_ids`` alone. The vocabulary (a JSON list of the tokens in id order, key ``vocabulary``), its
level (``vocabulary_level``) and the model's configuration (``bptt_config``, JSON) are in the model's
``metadata_props``. One-hot inputs are an ``OneHot`` node, embeddings a ``Gather``, the head a ``MatMul`` and
an ``Add``; everything is float32 (bptt's float32 logits agree to about 1e-6 relative).

**Weight layouts** (ONNX's operator definitions; ``nd`` directions, ``H`` the hidden size):

- LSTM: ``W`` ``[nd, 4H, D]`` and ``R`` ``[nd, 4H, H]`` with gate blocks ``i, o, f, c`` (PyTorch's
  ``i, f, g, o`` reordered: ``c`` is ``g``), ``B`` ``[nd, 8H]`` = ``[Wb, Rb]`` (PyTorch's ``b_ih`` and ``b_hh``,
  each reordered; ``bptt.nn.LSTM``'s ``forget_bias`` added to ``Wb``'s ``f`` block), peepholes ``P``
  ``[nd, 3H]`` in the order ``i, o, f`` (``weight_peep``'s ``p_i, p_f, p_o`` reordered);
- GRU: ``W`` ``[nd, 3H, D]``, ``R`` ``[nd, 3H, H]``, gate blocks ``z, r, h`` (PyTorch's ``r, z, n``),
  ``B`` ``[nd, 6H]`` = ``[Wb, Rb]``, and ``linear_before_reset=1``: ``h = tanh(x W_h + Wb_h + r * (h R_h + Rb_h))``,
  PyTorch's GRU;
- RNN: ``W`` ``[nd, H, D]``, ``R`` ``[nd, H, H]``, ``B`` ``[nd, 2H]``, activation ``Tanh`` or ``Relu``.

Not exportable (refused with the reason): an LSTM projection (``proj_size``: ONNX's LSTM has none), and the
cells without an ONNX operator, ``LayerNormLSTM``, ``MinGRU``, ``MinLSTM``, ``SLSTM`` and ``MLSTM`` (export their
weights as safetensors instead).

Needs the ``onnx`` package (``pip install "bptt[onnx]"``), imported only when a graph is built.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..data import Vocabulary
from ..models import LanguageModel
from ..nn import GRU, LSTM, RNN, LayerNormLSTM, RNNBase

__all__ = ["MISSING_PACKAGE", "OPSET", "export_language_model", "language_model_to_onnx", "recurrent_to_onnx",
           "save_onnx"]

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17 (read by every onnxruntime since 1.12)
MISSING_PACKAGE = 'ONNX export needs the onnx package: pip install "bptt[onnx]"'
LN_LSTM_REFUSED = ("a layer-norm LSTM (LayerNormLSTM) has no ONNX operator and bptt does not export it as a graph "
                   "of primitive ops; export its weights with --format safetensors (bptt.models.load_safetensors "
                   "reads them back)")

# Gate-block permutations: ONNX block k takes PyTorch block PERM[k].
_LSTM_PERM = (0, 3, 1, 2)  # ONNX i, o, f, c  <-  PyTorch i, f, g, o
_GRU_PERM = (1, 0, 2)  # ONNX z, r, h  <-  PyTorch r, z, n
_PEEP_PERM = (0, 2, 1)  # ONNX P i, o, f  <-  bptt weight_peep p_i, p_f, p_o


def _onnx() -> Any:
    try:
        import onnx  # noqa: PLC0415 - optional dependency, needed only to build a graph
    except ImportError:
        raise ImportError(MISSING_PACKAGE) from None
    return onnx


def _blocks(a: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    parts = np.split(a, len(perm), axis=0)
    return np.concatenate([parts[k] for k in perm], axis=0)


class _Graph:
    """Nodes, initializers, inputs and outputs of the graph being built, with fresh names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx, self.h = onnx, onnx.helper
        self.nodes: list = []
        self.inits: list = []
        self.inputs: list = []
        self.outputs: list = []
        self._count = 0

    def name(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.name(base)
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, out: list[str] | None = None, **attrs: Any) -> list[str]:
        outs = out or [self.name(op.lower()) for _ in range(n_out)]
        self.nodes.append(self.h.make_node(op, inputs, outs, name=self.name(op), **attrs))
        return outs

    def value(self, name: str, elem: int, shape: list) -> Any:
        return self.h.make_tensor_value_info(name, elem, shape)


def _check_stack(rnn: Any, where: str) -> None:
    if isinstance(rnn, LayerNormLSTM):
        raise ValueError(f"{where}: {LN_LSTM_REFUSED}")
    if not isinstance(rnn, (LSTM, GRU, RNN)):
        raise ValueError(f"{where}: a {type(rnn).__name__} has no ONNX operator (ONNX has LSTM, GRU and RNN) and "
                         "bptt does not export it as a graph of primitive ops; export its weights with --format "
                         "safetensors (bptt.models.load_safetensors reads them back)")
    if rnn.proj_size:
        raise ValueError(f"{where}: an LSTM with proj_size={rnn.proj_size} has no ONNX equivalent (ONNX's LSTM "
                         "operator has no projection)")


def _layer_weights(rnn: RNNBase, layer: int) -> dict[str, np.ndarray]:
    """``W``, ``R``, ``B`` (and ``P``) of one layer, both directions stacked, in ONNX's layout, float32."""
    H = rnn.hidden_size
    perm = {"LSTM": _LSTM_PERM, "GRU": _GRU_PERM}.get(rnn.mode, (0,))
    Ws, Rs, Bs, Ps = [], [], [], []
    for d in range(rnn.num_directions):
        p = {k: v.data.astype(np.float64) for k, v in rnn.layer_parameters(layer, d).items()}
        G = p["W_hh"].shape[0]
        Ws.append(_blocks(p["W_ih"], perm))
        Rs.append(_blocks(p["W_hh"], perm))
        b_ih = p.get("b_ih", np.zeros(G))
        b_hh = p.get("b_hh", np.zeros(G))
        if rnn.mode == "LSTM":
            b_ih = b_ih.copy()
            b_ih[H : 2 * H] += rnn.forget_bias  # PyTorch's f block, before reordering
        Bs.append(np.concatenate([_blocks(b_ih, perm), _blocks(b_hh, perm)]))
        if "W_peep" in p:
            Ps.append(_blocks(p["W_peep"], _PEEP_PERM))
    out = {"W": np.stack(Ws), "R": np.stack(Rs), "B": np.stack(Bs)}
    if Ps:
        out["P"] = np.stack(Ps)
    return {k: v.astype(np.float32) for k, v in out.items()}


def _stack(g: _Graph, rnn: RNNBase, x: str, h0: str, c0: str | None) -> tuple[str, str, str | None]:
    """The nodes of the recurrent stack on ``x`` ``(T, B, D)``: its output ``(T, B, nd * H)`` and the final
    states ``(num_layers * nd, B, H)``."""
    nd, H = rnn.num_directions, rnn.hidden_size
    op = {"LSTM": "LSTM", "GRU": "GRU"}.get(rnn.mode, "RNN")
    attrs: dict[str, Any] = {"hidden_size": H, "direction": "bidirectional" if nd == 2 else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    if op == "RNN":
        attrs["activations"] = ["Relu" if rnn.mode == "RNN_RELU" else "Tanh"] * nd
    hs, cs = [], []
    for layer in range(rnn.num_layers):
        w = _layer_weights(rnn, layer)
        starts, ends, axes = (g.const("start", np.array([layer * nd])), g.const("end", np.array([(layer + 1) * nd])),
                              g.const("axes", np.array([0])))
        init_h = g.node("Slice", [h0, starts, ends, axes])[0]
        args = [x, g.const("W", w["W"]), g.const("R", w["R"]), g.const("B", w["B"]), "", init_h]
        if op == "LSTM":
            args.append(g.node("Slice", [c0, starts, ends, axes])[0])
            if "P" in w:
                args.append(g.const("P", w["P"]))
        y, *finals = g.node(op, args, 3 if op == "LSTM" else 2, **attrs)
        hs.append(finals[0])
        if op == "LSTM":
            cs.append(finals[1])
        if nd == 1:  # Y (T, 1, B, H) -> (T, B, H)
            x = g.node("Squeeze", [y, g.const("axes", np.array([1]))])[0]
        else:  # Y (T, 2, B, H) -> (T, B, 2, H) -> (T, B, 2H): [forward; reverse] as PyTorch concatenates
            t = g.node("Transpose", [y], perm=[0, 2, 1, 3])[0]
            x = g.node("Reshape", [t, g.const("shape", np.array([0, 0, -1]))])[0]
    return x, _concat(g, hs, "h_n"), (_concat(g, cs, "c_n") if cs else None)


def _concat(g: _Graph, names: list[str], out: str) -> str:
    """The per-layer final states ``(nd, B, H)`` concatenated layer-major into ``out``."""
    if len(names) == 1:
        return g.node("Identity", names, out=[out])[0]
    return g.node("Concat", names, out=[out], axis=0)[0]


def _state_inputs(g: _Graph, rnn: RNNBase, batch: str) -> tuple[str, str | None]:
    """Graph inputs ``h0`` (and ``c0``) with zero defaults ``(L * nd, 1, H)`` broadcast to ``(L * nd, B, H)``."""
    n, H = rnn.num_layers * rnn.num_directions, rnn.hidden_size
    shape = g.node("Concat", [g.const("n", np.array([n])), batch, g.const("H", np.array([H]))], axis=0)[0]
    out = []
    for name in ("h0", "c0") if rnn.mode == "LSTM" else ("h0",):
        g.inits.append(g.onnx.numpy_helper.from_array(np.zeros((n, 1, H), dtype=np.float32), name))
        g.inputs.append(g.value(name, g.onnx.TensorProto.FLOAT, [n, "state_batch", H]))
        out.append(g.node("Expand", [name, shape])[0])
    return out[0], (out[1] if len(out) > 1 else None)


def _batch_dim(g: _Graph, tensor: str, axis: int) -> str:
    shape = g.node("Shape", [tensor])[0]
    return g.node("Slice", [shape, g.const("start", np.array([axis])), g.const("end", np.array([axis + 1]))])[0]


def _model(g: _Graph, graph_name: str, doc: str, metadata: dict[str, str]) -> Any:
    h = g.h
    graph = h.make_graph(g.nodes, graph_name, g.inputs, g.outputs, initializer=g.inits, doc_string=doc)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="bptt",
                         producer_version=__version__, ir_version=IR_VERSION)
    h.set_model_props(model, metadata)
    g.onnx.checker.check_model(model, full_check=True)
    return model


def language_model_to_onnx(model: LanguageModel, vocab: Vocabulary | None = None) -> Any:
    """The ONNX ``ModelProto`` of a language model (module docstring), checked with ``onnx.checker``.
    ``vocab`` (its tokens go into the metadata) must have ``model.vocab_size`` tokens."""
    where = "language_model_to_onnx"
    if not isinstance(model, LanguageModel):
        raise TypeError(f"{where}: model must be a bptt.models.LanguageModel, got {type(model).__name__}")
    _check_stack(model.rnn, where)
    if vocab is not None and len(vocab) != model.vocab_size:
        raise ValueError(f"{where}: the vocabulary has {len(vocab)} tokens, the model {model.vocab_size}")
    onnx = _onnx()
    g = _Graph(onnx)
    F32, V = onnx.TensorProto.FLOAT, model.vocab_size
    g.inputs.append(g.value("input_ids", onnx.TensorProto.INT64, ["T", "B"]))
    if model.embedding is not None:
        x = g.node("Gather", [g.const("embedding", model.embedding.weight.data.astype(np.float32)), "input_ids"])[0]
    else:
        x = g.node("OneHot", ["input_ids", g.const("depth", np.array(V, dtype=np.int64)),
                              g.const("values", np.array([0.0, 1.0], dtype=np.float32))], axis=-1)[0]
    h0, c0 = _state_inputs(g, model.rnn, _batch_dim(g, "input_ids", 1))
    y, h_n, c_n = _stack(g, model.rnn, x, h0, c0)
    head_w = model.head.weight.data.T.astype(np.float32)
    logits = g.node("MatMul", [y, g.const("head_weight_t", head_w)])[0]
    g.node("Add", [logits, g.const("head_bias", model.head.bias.data.astype(np.float32))], out=["logits"])
    L, H = model.num_layers, model.hidden_size
    g.outputs += [g.value("logits", F32, ["T", "B", V]), g.value("h_n", F32, [L, "B", H])]
    if c_n is not None:
        g.outputs.append(g.value("c_n", F32, [L, "B", H]))
    metadata = {"bptt_config": json.dumps(model.config())}
    if vocab is not None:
        metadata.update(vocabulary=json.dumps(list(vocab.itos), ensure_ascii=False), vocabulary_level=vocab.level)
    states = "h0, c0" if c_n is not None else "h0"
    doc = (f"bptt language model ({model.cell}, {L}x{H}, vocabulary {V}). Inputs: input_ids int64 (T, B), optional "
           f"{states} float32 ({L}, B, {H}) (zeros when not fed). Outputs: logits (T, B, {V}), final states.")
    return _model(g, "bptt_language_model", doc, metadata)


def recurrent_to_onnx(module: RNNBase) -> Any:
    """The ONNX ``ModelProto`` of a bare ``bptt.nn.LSTM`` (also with peepholes), ``GRU`` or ``RNN`` stack:
    input ``x`` float32 ``(T, B, D)`` (``(B, T, D)`` with ``batch_first``), optional ``h0`` (and ``c0``)
    ``(num_layers * num_directions, B, H)``; outputs ``y`` and the final states ``h_n`` (and ``c_n``),
    PyTorch's shapes and order."""
    where = "recurrent_to_onnx"
    _check_stack(module, where)
    onnx = _onnx()
    g = _Graph(onnx)
    F32 = onnx.TensorProto.FLOAT
    T, B = ("B", "T") if module.batch_first else ("T", "B")
    g.inputs.append(g.value("x", F32, [T, B, module.input_size]))
    x = g.node("Transpose", ["x"], perm=[1, 0, 2])[0] if module.batch_first else "x"
    h0, c0 = _state_inputs(g, module, _batch_dim(g, "x", 0 if module.batch_first else 1))
    y, h_n, c_n = _stack(g, module, x, h0, c0)
    if module.batch_first:
        g.node("Transpose", [y], out=["y"], perm=[1, 0, 2])
    else:
        g.node("Identity", [y], out=["y"])
    n, H = module.num_layers * module.num_directions, module.hidden_size
    g.outputs += [g.value("y", F32, [T, B, module.num_directions * H]), g.value("h_n", F32, [n, "B", H])]
    if c_n is not None:
        g.outputs.append(g.value("c_n", F32, [n, "B", H]))
    return _model(g, f"bptt_{module.mode.lower()}", f"bptt.nn.{module._name}: {module.extra_repr()}", {})


def save_onnx(proto: Any, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write an ONNX ``ModelProto`` to ``path`` atomically; an existing file is refused (``FileExistsError``)
    unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".onnx.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(proto.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_language_model(model: LanguageModel, vocab: Vocabulary, path: str | Path, *,
                          overwrite: bool = False) -> Path:
    """:func:`language_model_to_onnx` then :func:`save_onnx` (what ``bptt export --format onnx`` runs)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    return save_onnx(language_model_to_onnx(model, vocab), path, overwrite=overwrite)
