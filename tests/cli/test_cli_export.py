"""``bptt export``: trained runs to ONNX (run in onnxruntime) and safetensors (read back by bptt, ``bptt sample``
on the file), and every refusal as one line on stderr with exit code 2: an existing --out (untouched without
--force), an unknown run, a translator run, a layer-norm LSTM to ONNX, an --out without a known suffix."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bptt import cli
from bptt.models.io import load_language_model

onnx = pytest.importorskip("onnx", reason='bptt export --format onnx needs onnx: pip install "bptt[onnx]"')
ort = pytest.importorskip("onnxruntime", reason="the exported graphs are run in onnxruntime: pip install onnxruntime")
pytest.importorskip("safetensors", reason='bptt export --format safetensors needs: pip install "bptt[safetensors]"')

TEXT = "the cat sat on the mat and the dog ran after the red ball, then both slept in the sun.\n" * 6
TINY = ["--hidden-size", "8", "--num-layers", "2", "--seq-length", "6", "--batch-size", "3", "--steps", "3",
        "--val-fraction", "0.1", "--eval-every", "3", "--sample-every", "1000", "--seed", "1"]


def main_quiet(*args: object) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main([str(a) for a in args])
    return rc, buf.getvalue()


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bptt", *map(str, args)], capture_output=True, text=True, timeout=120)


def error_in_process(capsys, *args: object) -> str:
    """Run ``bptt`` in process; assert exit code 2 and one line on stderr; return that line."""
    try:
        rc = cli.main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, (rc, err)
    return err.strip()


def assert_one_line_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert pattern in lines[0], lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("export-runs")
    corpus = d / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = {}
    for name, extra in {"lstm-char": ["--model", "lstm"], "gru-word": ["--model", "gru", "--level", "word",
                                                                        "--embedding-dim", "5"],
                        "lnlstm": ["--model", "lnlstm"]}.items():
        rc, text = main_quiet("train", corpus, *TINY, *extra, "--out", d / name)
        assert rc == 0, text
        out[name] = d / name
    return out


@pytest.mark.parametrize("name", ["lstm-char", "gru-word"])
def test_export_onnx_runs_in_onnxruntime(runs, tmp_path, name):
    out = tmp_path / "model.onnx"
    rc, text = main_quiet("export", runs[name], "--format", "onnx", "--out", out)
    assert rc == 0 and text.startswith(f"wrote {out} (onnx: ")
    model, vocab, _ = load_language_model(runs[name])
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert json.loads(sess.get_modelmeta().custom_metadata_map["vocabulary"]) == vocab.itos
    ids = np.random.default_rng(0).integers(0, len(vocab), (11, 2))
    got = sess.run(["logits"], {"input_ids": ids})[0]
    ref = model(ids)[0]
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_export_safetensors_and_sample_from_it(runs, tmp_path):
    out = tmp_path / "model.safetensors"
    rc, text = main_quiet("export", runs["gru-word"], "--out", out)  # the format from the suffix
    assert rc == 0 and "(safetensors: gru 2x8" in text
    model, vocab, _ = load_language_model(runs["gru-word"])
    again, vocab2, _ = load_language_model(out)
    ids = np.arange(len(vocab))[:, None] % len(vocab)
    assert vocab2 == vocab and np.array_equal(again(ids)[0], model(ids)[0])
    proc = run("sample", out, "--length", "5", "--prime", "the", "--seed", "3")
    assert proc.returncode == 0 and proc.stdout.startswith("the "), proc.stderr
    assert proc.stdout == run("sample", runs["gru-word"], "--length", "5", "--prime", "the", "--seed", "3").stdout


def test_layer_norm_lstm_exports_as_safetensors_only(runs, tmp_path, capsys):
    line = error_in_process(capsys, "export", runs["lnlstm"], "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert "layer-norm LSTM (LayerNormLSTM) has no ONNX operator" in line
    assert "--format safetensors" in line and not (tmp_path / "m.onnx").exists()
    rc, _ = main_quiet("export", runs["lnlstm"], "--out", tmp_path / "m.safetensors")
    assert rc == 0 and load_language_model(tmp_path / "m.safetensors")[0].cell == "lnlstm"


def test_existing_out_is_kept_unless_force(runs, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_text("the user's file")
    proc = run("export", runs["lstm-char"], "--out", out)
    assert_one_line_error(proc, f"bptt export: error: --out {out} already exists; pass --force to replace it")
    assert out.read_text() == "the user's file"
    rc, _ = main_quiet("export", runs["lstm-char"], "--out", out, "--force")
    assert rc == 0 and onnx.load(str(out)).graph.output[0].name == "logits"


def test_refusals(runs, tmp_path, capsys):
    assert "checkpoint not found" in error_in_process(capsys, "export", tmp_path / "nowhere", "--out",
                                                       tmp_path / "m.onnx")
    assert "no checkpoint in directory" in error_in_process(capsys, "export", tmp_path, "--out", tmp_path / "m.onnx")
    assert "--format is needed: --out" in error_in_process(capsys, "export", runs["lstm-char"], "--out",
                                                           tmp_path / "m.bin")
    assert "is a directory, expected a file path" in error_in_process(capsys, "export", runs["lstm-char"], "--out",
                                                                      tmp_path, "--format", "onnx")
    assert "invalid choice: 'tflite'" in error_in_process(capsys, "export", runs["lstm-char"], "--format", "tflite",
                                                          "--out", tmp_path / "m")
    assert "the following arguments are required: --out" in error_in_process(capsys, "export", runs["lstm-char"])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_translator_runs_are_refused(tmp_path, capsys):
    d = tmp_path / "dates"
    rc, _ = main_quiet("translate", "dates", d, "--train-size", "60", "--val-size", "10", "--test-size", "10")
    assert rc == 0
    rc, text = main_quiet("translate", "train", "--train", d / "dates_train.tsv", "--val", d / "dates_val.tsv",
                          "--level", "char", "--hidden-size", "6", "--embedding-size", "4", "--batch-size", "8",
                          "--steps", "2", "--eval-every", "2", "--eval-max", "4", "--out", tmp_path / "tr")
    assert rc == 0, text
    line = error_in_process(capsys, "export", tmp_path / "tr", "--out", tmp_path / "t.onnx")
    assert "holds a translator (bptt translate train): bptt export exports language models only" in line
