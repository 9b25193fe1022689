"""docs/interop.md's NumPy and ONNX examples run as written (each in an empty directory); the torch example
is run by test_interop_docs_torch.py and the TensorFlow one by test_interop_tensorflow.py."""

from __future__ import annotations

import pytest

from cases.docs import all_tags, examples, run_example


def test_every_example_is_tagged_with_what_runs_it():
    tags = all_tags("interop.md")
    assert set(tags) == {"numpy", "onnx", "torch", "tensorflow"}, tags
    assert tags.count("numpy") >= 4


@pytest.mark.parametrize("index", range(len(examples("interop.md", "numpy"))))
def test_numpy_examples_run(index, tmp_path, capsys):
    pytest.importorskip("safetensors", reason='the safetensors example needs: pip install "bptt[safetensors]"')
    pytest.importorskip("onnx", reason='the peephole example exports to ONNX: pip install "bptt[onnx]"')
    run_example(examples("interop.md", "numpy")[index], tmp_path)


def test_onnx_example_runs(tmp_path, capsys):
    pytest.importorskip("onnx", reason='ONNX export needs: pip install "bptt[onnx]"')
    pytest.importorskip("onnxruntime", reason="the example runs the graph: pip install onnxruntime")
    (code,) = examples("interop.md", "onnx")
    ns = run_example(code, tmp_path)
    assert (tmp_path / "model.onnx").exists()
    assert ns["logits"].shape == (1, 1, len(ns["tokens"])) and capsys.readouterr().out.strip() in ns["tokens"]
