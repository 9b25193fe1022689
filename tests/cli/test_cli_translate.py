"""``bptt translate``: dates, train (and --resume), eval, run, attention; checkpoint safety; bad input.

Runs that only need the outcome call the CLI in process; everything about exit codes and stderr runs a
subprocess: every bad input must give a non-zero exit code and exactly one line on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from bptt import cli
from bptt.models import checkpoint as ckpt
from bptt.models.evaluation import evaluate_translator as evaluate
from bptt.models.io import load_translator
from bptt.training import Interrupted
from bptt.training.seq2seq import Seq2SeqConfig, train

SMALL = ["--level", "char", "--hidden-size", "12", "--embedding-size", "6", "--batch-size", "16",
         "--eval-every", "10", "--log-every", "5", "--eval-max", "20", "--seed", "2"]


def main_quiet(*args) -> tuple[int, str]:
    buf = io.StringIO()
    argv = [str(a) for a in args]
    with contextlib.redirect_stdout(buf):
        rc = cli.main(["translate", *argv])
    return rc, buf.getvalue()


def run(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bptt", "translate"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=120, input=stdin)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    err = proc.stderr
    assert proc.returncode != 0, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (Path(out) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def assert_same_params(a: Path, b: Path) -> None:
    pa, pb = ckpt.load(a)[1], ckpt.load(b)[1]
    assert sorted(pa) == sorted(pb)
    for name in pa:
        assert pa[name].dtype == pb[name].dtype and np.array_equal(pa[name], pb[name]), name


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dates")
    rc, out = main_quiet("dates", d, "--train-size", "400", "--val-size", "40", "--test-size", "40",
                         "--seed", "1")
    assert rc == 0 and "dates_train.tsv" in out
    return {k: d / f"dates_{k}.tsv" for k in ("train", "val", "test")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data) -> Path:
    d = tmp_path_factory.mktemp("trained") / "run"
    rc, out = main_quiet("train", "--train", data["train"], "--val", data["val"], *SMALL, "--encoder", "bi",
                         "--steps", "30", "--lr", "0.01", "--out", d)
    assert rc == 0, out
    assert "val exact match" in out and "checkpoint.npz" in out
    return d


# ------------------------------------------------------------------------------------------- train / resume
def test_train_writes_metrics_config_and_checkpoint(trained):
    recs = records(trained)
    assert [r["step"] for r in recs] == [5, 10, 15, 20, 25, 30]
    assert [r["step"] for r in recs if "val_loss" in r] == [10, 20, 30]
    assert all(0.0 <= r["val_exact_match"] <= 1.0 for r in recs if "val_loss" in r)
    conf = json.loads((trained / "config.json").read_text(encoding="utf-8"))
    assert conf["encoder"] == "bi" and conf["level"] == "char" and conf["steps"] == 30
    meta = ckpt.load(trained)[0]
    assert meta["kind"] == "seq2seq" and meta["step"] == 30
    model, src_vocab, tgt_vocab, _ = load_translator(trained)
    assert model.encoder_type == "bi" and "9" in tgt_vocab and " " in src_vocab


@pytest.mark.parametrize("attention", ["scaled_luong", "normed_bahdanau", "none"])
def test_resume_is_bit_identical_to_a_straight_run(tmp_path, data, attention):
    args = ["--train", data["train"], "--val", data["val"], *SMALL, "--attention", attention,
            "--num-layers", "2"]
    if attention == "none":
        args += ["--cell", "gru"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main_quiet("train", *args, "--steps", "20", "--out", a)[0] == 0
    rc, out = main_quiet("train", "--resume", "--steps", "30", "--out", a)
    assert rc == 0 and "steps 20 -> 30" in out
    assert main_quiet("train", *args, "--steps", "30", "--out", b)[0] == 0
    strip = [{k: v for k, v in r.items() if k != "target_tokens_per_s"} for r in records(a)]
    assert strip == [{k: v for k, v in r.items() if k != "target_tokens_per_s"} for r in records(b)]
    assert_same_params(a, b)


def test_interrupted_run_resumes_identically(tmp_path, data):
    cfg = Seq2SeqConfig(train=str(data["train"]), val=str(data["val"]), level="char", hidden_size=10,
                        embedding_size=5, batch_size=16, steps=24, eval_every=8, log_every=4, eval_max=10,
                        encoder="bi", attention="bahdanau", seed=4)

    def stop_at_7(step, total, loss):
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "a", on_progress=stop_at_7)
    assert ckpt.load(tmp_path / "a")[0]["step"] == 7
    rc, out = main_quiet("train", "--resume", "--out", tmp_path / "a")
    assert rc == 0 and "steps 7 -> 24" in out
    train(cfg, tmp_path / "b")
    drop = "target_tokens_per_s"
    assert [{k: v for k, v in r.items() if k != drop} for r in records(tmp_path / "a")] == \
        [{k: v for k, v in r.items() if k != drop} for r in records(tmp_path / "b")]
    assert_same_params(tmp_path / "a", tmp_path / "b")


def test_ctrl_c_saves_a_checkpoint_that_resumes_identically(tmp_path, data):
    """A real SIGINT at an arbitrary moment: exit 130, one line, and a checkpoint of a finished step."""
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--train", data["train"], "--val", data["val"], *SMALL, "--hidden-size", "32", "--encoder", "bi",
            "--log-every", "1"]
    cmd = [sys.executable, "-m", "bptt", "translate", "train",
           *map(str, args), "--steps", "1000000", "--out", str(a)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        metrics = a / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text(encoding="utf-8").count("\n") >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "--resume" in lines[0], err
    k = ckpt.load(a)[0]["step"]
    assert k >= 3 and f"step {k}" in lines[0]
    n = k + 7
    assert main_quiet("train", "--resume", "--steps", n, "--out", a)[0] == 0
    assert main_quiet("train", *args, "--steps", n, "--out", b)[0] == 0
    drop = "target_tokens_per_s"
    ra = [{k2: v for k2, v in r.items() if k2 != drop} for r in records(a)]
    assert [r["step"] for r in ra] == list(range(1, n + 1))
    assert ra == [{k2: v for k2, v in r.items() if k2 != drop} for r in records(b)]
    assert_same_params(a, b)


def test_resume_errors(tmp_path, data, trained):
    before = (trained / "checkpoint.npz").read_bytes()
    assert_one_line_error(run("train", "--resume", "--steps", "30", "--out", trained), "already at step 30")
    assert_one_line_error(run("train", "--resume", "--steps", "40", "--hidden-size", "8", "--out", trained),
                          "conflict", "--hidden-size 8", "12")
    fresh = ["--train", data["train"], "--val", data["val"], *SMALL]
    assert_one_line_error(run("train", *fresh, "--out", trained), "--resume")
    assert (trained / "checkpoint.npz").read_bytes() == before
    # the data changed since the checkpoint
    d = tmp_path / "copy"
    d.mkdir()
    (d / "checkpoint.npz").write_bytes(before)
    train_copy = tmp_path / "train.tsv"
    train_copy.write_text(data["train"].read_text(encoding="utf-8"), encoding="utf-8")
    meta, params, arrays = ckpt.load(d)
    meta["train_config"]["train"] = str(train_copy)
    ckpt.save(d / "checkpoint.npz", {k: v for k, v in meta.items() if k not in ("format", "version")}, params,
              arrays)
    with open(train_copy, "a", encoding="utf-8") as fh:
        fh.write("1 May 2000\t2000-05-01\n")
    assert_one_line_error(run("train", "--resume", "--steps", "40", "--out", d),
                          "changed since the checkpoint")


# ------------------------------------------------------------------------------------ eval / run / attention
def _fake_sacrebleu(calls: list) -> types.ModuleType:
    """A stand-in for sacrebleu (so the 'installed' path is tested whether or not it is installed)."""
    mod = types.ModuleType("sacrebleu")

    def corpus_bleu(hypotheses, references):
        calls.append((list(hypotheses), [list(r) for r in references]))
        return types.SimpleNamespace(score=42.5)

    mod.corpus_bleu = corpus_bleu
    return mod


def test_eval_prints_json_with_and_without_sacrebleu(trained, data, monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "sacrebleu", _fake_sacrebleu(calls))
    rc, out = main_quiet("eval", trained, "--file", data["test"], "--beam", "2")
    assert rc == 0
    res = json.loads(out)
    assert res["examples"] == 40 and res["beam"] == 2 and 0.0 <= res["exact_match"] <= 1.0
    assert res["bleu"] == 42.5 and "note" not in res
    (hyps, refs), = calls  # detokenized strings, one reference stream
    refs_expected = [line.split("\t")[1] for line in data["test"].read_text(encoding="utf-8").splitlines()]
    assert refs == [refs_expected] and len(hyps) == 40 and all(isinstance(h, str) for h in hyps)
    monkeypatch.setitem(sys.modules, "sacrebleu", None)  # import sacrebleu now raises ImportError
    rc, out = main_quiet("eval", trained, "--file", data["test"])
    res2 = json.loads(out)
    assert rc == 0 and res2["bleu"] is None and "sacrebleu is not installed" in res2["note"]
    assert 0.0 <= res2["exact_match"] <= 1.0


def test_exact_match_and_bleu_are_what_they_say(trained, data):
    model, sv, tv, _ = load_translator(trained)
    pairs = [(list("1 May 2000"), list("2000-05-01")), (list("2 May 2000"), list("2000-05-02"))]
    res = evaluate(model, sv, tv, pairs)
    hyps = res["hypotheses"]
    assert res["exact_match"] == sum(h == "".join(t) for h, (_, t) in zip(hyps, pairs, strict=True)) / 2
    try:
        import sacrebleu
    except ImportError:  # the optional extra is absent: BLEU is reported as missing, not guessed
        assert res["bleu"] is None and "not installed" in res["bleu_note"]
    else:
        assert res["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [["2000-05-01", "2000-05-02"]]).score)
    assert evaluate(model, sv, tv, pairs, bleu=False)["bleu"] is None


def test_run_and_stdin(trained):
    rc, out = main_quiet("run", trained, "May 3, 1979", "--scores")
    assert rc == 0
    text, score = out.strip().split("\t")
    assert float(score) <= 0.0 and 1 <= len(text) <= 22
    proc = run("run", trained, "-", "--beam", "3", stdin="May 3, 1979\n\n1 May 2000\n")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 2
    proc = run("run", trained, "May 3, 1979 \u00e9")
    assert proc.returncode == 0 and "read as <unk>" in proc.stderr


def test_attention_heatmaps(trained, tmp_path):
    rc, out = main_quiet("attention", trained, "May 3, 1979", "--out", tmp_path / "a.html")
    assert rc == 0 and "wrote" in out
    doc = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert "<table>" in doc and "rgba(" in doc and doc.count("<tr>") >= 2
    rc, out = main_quiet("attention", trained, "May 3, 1979", "--out", tmp_path / "a.png")
    assert rc == 0 and (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_one_line_error(run("attention", trained, "May 3", "--out", tmp_path / "a.jpg"), ".png or .html")


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_training_files(tmp_path, data):
    good = data["val"]
    o = tmp_path / "o"
    cases = {
        "notab.tsv": ("1 May 2000\t2000-05-01\nno tab here\n", "line 2: no tab"),
        "emptysrc.tsv": ("\t2000-05-01\n", "line 1: empty source side"),
        "emptytgt.tsv": ("1 May 2000\t \n", "line 1: empty target side"),
        "twotabs.tsv": ("a\tb\tc\n", "line 1: 2 tabs"),
        "empty.tsv": ("", "empty"),
    }
    for name, (text, msg) in cases.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        assert_one_line_error(run("train", "--train", p, "--val", good, "--steps", "1", "--out", o),
                              "training file", msg, name)
    assert_one_line_error(run("train", "--train", tmp_path / "missing.tsv", "--val", good, "--out", o),
                          "training file not found")
    assert_one_line_error(run("train", "--train", good, "--out", o), "--val FILE")
    assert_one_line_error(run("train", "--train", good, "--val", good, "--num-layers", "5", "--out", o),
                          "--num-layers must be in [1, 4]")
    assert_one_line_error(run("train", "--train", good, "--val", tmp_path / "notab.tsv", "--out", o),
                          "validation file", "no tab")
    assert not (tmp_path / "o" / "checkpoint.npz").exists()


def test_bad_decoding_input(tmp_path, trained):
    for beam in ("0", "-2", "x"):
        assert_one_line_error(run("run", trained, "May 3", "--beam", beam), "--beam")
        assert_one_line_error(run("eval", trained, "--file", "x.tsv", "--beam", beam), "--beam")
    (tmp_path / "bad.tsv").write_text("May 3, 1979\n", encoding="utf-8")
    assert_one_line_error(run("eval", trained, "--file", tmp_path / "bad.tsv"), "line 1: no tab")
    (tmp_path / "empty.tsv").write_text("\n\n", encoding="utf-8")
    assert_one_line_error(run("eval", trained, "--file", tmp_path / "empty.tsv"), "empty")
    (tmp_path / "unk.tsv").write_text("May 3, 1979 \u00e9\t1979-05-03\n", encoding="utf-8")
    assert_one_line_error(run("eval", trained, "--file", tmp_path / "unk.tsv", "--unk", "error"),
                          "not in the vocabulary", "'\u00e9'")
    rc, out = main_quiet("eval", trained, "--file", tmp_path / "unk.tsv")
    assert rc == 0 and json.loads(out)["unknown_source_tokens"] == 1
    assert_one_line_error(run("run", trained, "May 3 \u00e9", "--unk", "error"), "not in the vocabulary")
    assert_one_line_error(run("run", trained, "   "), "empty")
    assert_one_line_error(run("run", tmp_path / "nowhere", "May 3"), "checkpoint not found")
    assert_one_line_error(run(), "choose a command")


# ------------------------------------------------------------------------------------- hostile checkpoints
class _TouchOnUnpickle:
    """Unpickling this creates ``marker`` (it stands for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = Path(marker)

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_hostile_and_broken_checkpoints_are_refused(tmp_path, trained, data):
    marker = tmp_path / "PWNED"
    full = (trained / "checkpoint.npz").read_bytes()
    # a pickle payload, and a genuine checkpoint plus one object array whose unpickling creates the marker
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "checkpoint.npz").write_bytes(pickle.dumps(_TouchOnUnpickle(marker), protocol=4))
    (tmp_path / "o").mkdir()
    with np.load(trained / "checkpoint.npz", allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    evil = np.empty(1, dtype=object)
    evil[0] = _TouchOnUnpickle(marker)
    entries["param/evil"] = evil
    with open(tmp_path / "o" / "checkpoint.npz", "wb") as fh:
        np.savez(fh, **entries)
    for d in (tmp_path / "p", tmp_path / "o"):
        for args in (["run", d, "May 3"], ["eval", d, "--file", data["test"]],
                     ["train", "--resume", "--steps", "50", "--out", d]):
            assert_one_line_error(run(*args), "pickle")
            assert not marker.exists()
    # truncated, garbage, or a language-model checkpoint
    broken = {"truncated": full[: len(full) // 2], "garbage": b"nonsense\n" * 20, "empty": b""}
    for name, payload in broken.items():
        d = tmp_path / name
        d.mkdir()
        (d / "checkpoint.npz").write_bytes(payload)
        for args in (["run", d, "May 3"], ["train", "--resume", "--steps", "50", "--out", d]):
            assert "checkpoint" in assert_one_line_error(run(*args)), name
        assert (d / "checkpoint.npz").read_bytes() == payload
    d = tmp_path / "lm"
    ckpt.save(d / "checkpoint.npz", {"kind": "language_model", "step": 3}, {"w": np.zeros(2, np.float32)})
    assert_one_line_error(run("run", d, "May 3"), "holds a language model (bptt train), not a translator")
    d = tmp_path / "incomplete"
    ckpt.save(d / "checkpoint.npz", {"kind": "seq2seq", "step": 3}, {"w": np.zeros(2, np.float32)})
    assert_one_line_error(run("run", d, "May 3"), "invalid checkpoint: model_config is missing")
    assert_one_line_error(run("train", "--resume", "--steps", "9", "--out", d), "invalid checkpoint: train_config is "
                                                                                 "missing")
    # well-formed archives whose description has the wrong types or shapes
    meta, params, arrays = ckpt.load(trained)
    meta = {k: v for k, v in meta.items() if k not in ("format", "version")}
    tampered = {
        "config": ({**meta, "train_config": [1, 2]}, params, "train_config must be a mapping, got [1, 2]"),
        "batches": ({**meta, "batches": {"epoch": "x"}}, params,
                    "batches.epoch must be a non-negative integer, got 'x'"),
        "model": ({**meta, "model_config": {**meta["model_config"], "hidden_size": -3}}, params,
                  "model_config.hidden_size must be a positive integer, got -3"),
        "shapes": (meta, {**params, "output_layer.weight": np.zeros((2, 2), np.float32)},
                   "parameter values, but the file stores"),
    }
    for name, (m, p, msg) in tampered.items():
        d = tmp_path / f"tampered_{name}"
        ckpt.save(d / "checkpoint.npz", m, p, arrays)
        if name in ("model", "shapes"):
            assert_one_line_error(run("run", d, "May 3"), msg)
        if name != "model":
            assert_one_line_error(run("train", "--resume", "--steps", "50", "--out", d), msg)


# ---------------------------------------------------------------------------------------------- smoke example
def test_translate_smoke_example(tmp_path, capsys):
    from bptt.examples import translate_smoke

    assert translate_smoke.main(["--fr", str(tmp_path / "missing.txt"), "--en", str(tmp_path / "x.txt")]) == 0
    assert "skipped" in capsys.readouterr().out
    (tmp_path / "fr.txt").write_text("le chat dort\nle chien court\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("the cat sleeps\nthe dog runs\n", encoding="utf-8")
    assert translate_smoke.main(["--fr", str(tmp_path / "fr.txt"), "--en", str(tmp_path / "en.txt"),
                                 "--steps", "60", "--beam", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 pairs" in out and "exact match: greedy 100%, beam 2 100%" in out
