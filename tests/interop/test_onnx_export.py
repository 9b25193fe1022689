"""ONNX export (``bptt.interop.onnx_export``) run in onnxruntime: bptt's float32 logits to <= 1e-5 relative, for
LSTM / GRU / RNN language models with one-hot and embedding inputs and 1 to 3 layers, several shapes, fresh
calls and calls carrying the previous call's states; bare stacks with peepholes, bidirectional layers and
``batch_first``; the graph's interface and metadata; refusals.

Needs ``onnx`` and ``onnxruntime`` (the ``test`` extra); without them the module is skipped with the reason.
Weights are random with non-zero biases (a freshly initialised model would hide bias-layout mistakes less).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason='ONNX export tests need onnx: pip install "bptt[onnx]"')
ort = pytest.importorskip("onnxruntime", reason="ONNX export tests run the graphs in onnxruntime: "
                                                "pip install onnxruntime")

from bptt import nn  # noqa: E402
from bptt.data import Vocabulary  # noqa: E402
from bptt.interop import onnx_export as X  # noqa: E402
from bptt.models import LanguageModel  # noqa: E402
from helpers import assert_close, seeded_rng  # noqa: E402

RTOL = 1e-5
SHAPES = [(1, 1), (7, 3), (33, 5)]
VOCAB = Vocabulary.from_text("the quick brown fox jumps over the lazy dog; THE END.")


def session(proto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the overridable state defaults are initializers listed as inputs (a warning)
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def randomized(module: nn.Module, seed: object, scale: float = 0.5) -> nn.Module:
    rng = seeded_rng("onnx-weights", seed)
    for p in module.parameters():
        p.data[...] = rng.uniform(-scale, scale, p.shape)
    return module


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("embedding_dim", [None, 6])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_language_model_logits_match_onnxruntime(cell, embedding_dim, num_layers):
    model = randomized(LanguageModel(len(VOCAB), 10, num_layers, cell=cell, embedding_dim=embedding_dim, rng=0),
                       (cell, embedding_dim, num_layers))
    model.eval()
    sess = session(X.language_model_to_onnx(model, VOCAB))
    state_names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    rng = seeded_rng("onnx-ids", cell, embedding_dim, num_layers)
    for T, B in SHAPES:
        ids = rng.integers(0, len(VOCAB), (T, B))
        logits, state = model(ids)
        fresh = sess.run(None, {"input_ids": ids})
        assert_close(fresh[0], logits, RTOL, name=f"logits {T}x{B} (fresh)")
        finals = state if cell == "lstm" else (state,)
        for ours, theirs in zip(finals, fresh[1:]):
            assert_close(theirs, ours, RTOL, name=f"final state {T}x{B}")
        more = rng.integers(0, len(VOCAB), (T, B))  # the next chunk, carrying the states
        logits2, _ = model(more, state)
        carried = sess.run(None, {"input_ids": more, **dict(zip(state_names, fresh[1:]))})
        assert_close(carried[0], logits2, RTOL, name=f"logits {T}x{B} (states passed)")
        assert np.abs(carried[0] - sess.run(None, {"input_ids": more})[0]).max() > 1e-4  # the states matter


def test_graph_interface_and_metadata():
    model = LanguageModel(len(VOCAB), 8, 2, cell="lstm", rng=1)
    proto = X.language_model_to_onnx(model, VOCAB)
    onnx.checker.check_model(proto, full_check=True)
    graph = proto.graph
    assert [i.name for i in graph.input] == ["input_ids", "h0", "c0"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["T", "B"]
    assert [o.name for o in graph.output] == ["logits", "h_n", "c_n"]
    dims = [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["T", "B", len(VOCAB)]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["vocabulary"]) == VOCAB.itos and meta["vocabulary_level"] == "char"
    assert json.loads(meta["bptt_config"]) == model.config()
    ops = {n.op_type for n in graph.node}
    assert "LSTM" in ops and "OneHot" in ops and "Loop" not in ops and "Scan" not in ops
    gru = X.language_model_to_onnx(LanguageModel(len(VOCAB), 8, 1, cell="gru", embedding_dim=4, rng=1))
    assert [i.name for i in gru.graph.input] == ["input_ids", "h0"]
    assert [o.name for o in gru.graph.output] == ["logits", "h_n"]
    node = next(n for n in gru.graph.node if n.op_type == "GRU")
    assert onnx.helper.get_attribute_value(next(a for a in node.attribute if a.name == "linear_before_reset")) == 1
    assert "vocabulary" not in {p.key for p in gru.metadata_props}  # no vocab given


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["lstm-peepholes", "lstm", "gru", "rnn-relu"])
def test_bare_stacks_match_onnxruntime(kind, batch_first):
    """Two bidirectional layers; the peephole LSTM with a forget bias (ONNX's P input, order i, o, f)."""
    D, H = 3, 5
    common = dict(num_layers=2, bidirectional=True, batch_first=batch_first, rng=0)
    module = {"lstm-peepholes": lambda: nn.LSTM(D, H, peepholes=True, forget_bias=0.7, **common),
              "lstm": lambda: nn.LSTM(D, H, **common), "gru": lambda: nn.GRU(D, H, **common),
              "rnn-relu": lambda: nn.RNN(D, H, nonlinearity="relu", **common)}[kind]()
    randomized(module, 7, 0.6)
    proto = X.recurrent_to_onnx(module)
    if kind == "lstm-peepholes":
        assert sum(1 for i in proto.graph.initializer if i.name.startswith("P_")) == 2
    sess = session(proto)
    rng = seeded_rng("onnx-bare", kind, batch_first)
    for T, B in SHAPES:
        x = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(np.float32)
        h0 = rng.standard_normal((4, B, H)).astype(np.float32)
        c0 = rng.standard_normal((4, B, H)).astype(np.float32)
        hx = (h0, c0) if kind.startswith("lstm") else h0
        y, finals = module(x, hx)
        feed = {"x": x, "h0": h0, **({"c0": c0} if kind.startswith("lstm") else {})}
        got = sess.run(None, feed)
        assert_close(got[0], y, RTOL, name=f"{kind} y {T}x{B}")
        for ours, theirs in zip(finals if kind.startswith("lstm") else (finals,), got[1:]):
            assert_close(theirs, ours, RTOL, name=f"{kind} final state {T}x{B}")
        y0, _ = module(x)
        assert_close(sess.run(None, {"x": x})[0], y0, RTOL, name=f"{kind} y {T}x{B} (zero states)")


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match=r"^recurrent_to_onnx: an LSTM with proj_size=2 has no ONNX equivalent"):
        X.recurrent_to_onnx(nn.LSTM(3, 4, proj_size=2))
    ln = LanguageModel(len(VOCAB), 8, 1, cell="lnlstm", rng=0)
    with pytest.raises(ValueError, match=r"layer-norm LSTM .* has no ONNX operator .* --format safetensors"):
        X.language_model_to_onnx(ln, VOCAB)
    for cell in ("mingru", "minlstm", "slstm", "mlstm"):
        with pytest.raises(ValueError, match=r"a (MinGRU|MinLSTM|SLSTM|MLSTM) has no ONNX operator .* --format "
                                             r"safetensors"):
            X.language_model_to_onnx(LanguageModel(len(VOCAB), 8, 1, cell=cell, rng=0), VOCAB)
    with pytest.raises(ValueError, match=r"a GRUCell has no ONNX operator"):
        X.recurrent_to_onnx(nn.GRUCell(3, 4))
    with pytest.raises(TypeError, match="model must be a bptt.models.LanguageModel, got LSTM"):
        X.language_model_to_onnx(nn.LSTM(3, 4))
    with pytest.raises(ValueError, match=r"the vocabulary has 3 tokens, the model \d+"):
        X.language_model_to_onnx(LanguageModel(len(VOCAB), 8, 1, rng=0), Vocabulary("abc"))
    target = tmp_path / "model.onnx"
    target.write_text("the user's file")
    with pytest.raises(FileExistsError, match="model.onnx exists"):
        X.export_language_model(LanguageModel(len(VOCAB), 8, 1, rng=0), VOCAB, target)
    assert target.read_text() == "the user's file"
    X.export_language_model(LanguageModel(len(VOCAB), 8, 1, rng=0), VOCAB, target, overwrite=True)
    assert onnx.load(str(target)).graph.input[0].name == "input_ids"


def test_missing_onnx_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r'^ONNX export needs the onnx package: pip install "bptt\[onnx\]"$'):
        X.language_model_to_onnx(LanguageModel(len(VOCAB), 8, 1, rng=0), VOCAB)
