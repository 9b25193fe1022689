"""The language-model commands of the ``bptt`` CLI: train (and --resume), sample, evaluate, plot.

Runs that only need the outcome call ``bptt.cli.main`` in process (fast); everything about exit codes and
stderr runs ``python -m bptt`` in a subprocess: every bad input must give a non-zero exit code and exactly one
line on stderr, never a traceback. Hostile checkpoints (a pickle payload, an object array) must be refused
without ever being unpickled: the file their unpickling would create must never appear.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bptt import cli
from bptt.data import Vocabulary
from bptt.models import checkpoint as ckpt
from bptt.models.evaluation import evaluate_loss
from bptt.models.io import load_language_model as load_model
from bptt.training import Interrupted
from bptt.training.lm import TrainConfig, train

WORDS = "the cat sat on a mat while the dog ran to the big red ball and then slept".split()
SMALL = ["--hidden-size", "16", "--num-layers", "2", "--seq-length", "8", "--batch-size", "4",
         "--val-fraction", "0.1", "--sample-every", "10000", "--seed", "3"]


def word_text(n_words: int = 200, seed: int = 0) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) for _ in range(n_words)) + "\n"


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bptt", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def main_quiet(*args: str) -> tuple[int, str]:
    """``bptt.cli.main`` in process; return (exit code, stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main([str(a) for a in args])
    return rc, buf.getvalue()


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
    text = (Path(out) / "metrics.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def losses(out: Path) -> list[tuple]:
    return [(r["step"], r["train_loss"], r.get("val_loss"), r["grad_norm"]) for r in records(out)]


def assert_same_params(a: Path, b: Path) -> None:
    pa, pb = ckpt.load(a)[1], ckpt.load(b)[1]
    assert sorted(pa) == sorted(pb)
    for name in pa:
        assert pa[name].dtype == pb[name].dtype and np.array_equal(pa[name], pb[name]), name


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    return write(tmp_path_factory.mktemp("corpus") / "corpus.txt", word_text(200))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus) -> Path:
    d = tmp_path_factory.mktemp("trained") / "run"
    rc, _ = main_quiet("train", corpus, *SMALL, "--steps", "30", "--eval-every", "10", "--lr", "0.01",
                       "--out", d)
    assert rc == 0
    return d


# ------------------------------------------------------------------------------------------ train / resume
@pytest.mark.parametrize("model", ["lstm", "gru", "minlstm", "mlstm"])
def test_resume_is_bit_identical_to_a_straight_run(tmp_path, corpus, model):
    args = [corpus, *SMALL, "--model", model, "--dropout", "0.3", "--eval-every", "10", "--log-every", "5"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main_quiet("train", *args, "--steps", "20", "--out", a)[0] == 0
    assert ckpt.load(a)[0]["step"] == 20
    rc, out = main_quiet("train", "--steps", "40", "--resume", "--out", a)
    assert rc == 0 and "steps 20 -> 40" in out
    assert main_quiet("train", *args, "--steps", "40", "--out", b)[0] == 0
    assert [r[0] for r in losses(b)] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert losses(a) == losses(b)
    assert_same_params(a, b)


def test_resume_of_a_finished_run_errors_clearly(tmp_path, corpus):
    a = tmp_path / "a"
    assert main_quiet("train", corpus, *SMALL, "--steps", "10", "--eval-every", "5", "--out", a)[0] == 0
    before = (a / "checkpoint.npz").read_bytes()
    for extra in (["--steps", "10"], ["--steps", "4"], []):
        proc = run("train", "--resume", "--out", a, *extra)
        assert_one_line_error(proc, "already at step 10", "--steps")
    assert (a / "checkpoint.npz").read_bytes() == before
    assert [r["step"] for r in records(a)] == [5, 10]


def test_resume_with_conflicting_settings_errors_clearly(tmp_path, corpus):
    a = tmp_path / "a"
    assert main_quiet("train", corpus, *SMALL, "--steps", "10", "--eval-every", "5", "--out", a)[0] == 0
    before = (a / "checkpoint.npz").read_bytes()
    assert_one_line_error(run("train", "--resume", "--steps", "20", "--hidden-size", "8", "--out", a),
                          "conflict", "--hidden-size 8", "16")
    assert_one_line_error(run("train", "--resume", "--steps", "20", "--model", "gru", "--seq-length", "9",
                              "--out", a), "--model gru", "--seq-length 9")
    other = write(tmp_path / "other.txt", word_text(200, seed=1))
    assert_one_line_error(run("train", other, "--resume", "--steps", "20", "--out", a), "CORPUS", other)
    assert (a / "checkpoint.npz").read_bytes() == before
    # settings equal to the checkpoint's are not conflicts; schedule settings may change
    rc, _ = main_quiet("train", corpus, "--resume", "--steps", "12", "--hidden-size", "16", "--lr", "1e-3",
                       "--out", a)
    assert rc == 0 and ckpt.load(a)[0]["step"] == 12


def test_training_into_a_directory_with_a_checkpoint_needs_resume(trained, corpus):
    before = (trained / "checkpoint.npz").read_bytes()
    assert_one_line_error(run("train", corpus, *SMALL, "--steps", "5", "--out", trained), "--resume")
    assert (trained / "checkpoint.npz").read_bytes() == before


def test_resume_alone_continues_an_interrupted_run_to_its_target(tmp_path, corpus):
    cfg = TrainConfig(corpus=corpus, hidden_size=16, num_layers=2, seq_length=8, batch_size=4, steps=30,
                      eval_every=10, log_every=5, val_fraction=0.1, sample_every=10000, seed=3)

    def stop_at_7(step, total, loss):
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        train(cfg, tmp_path / "a", on_progress=stop_at_7)
    rc, out = main_quiet("train", "--resume", "--out", tmp_path / "a")
    assert rc == 0 and "steps 7 -> 30" in out
    train(cfg, tmp_path / "b")
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert_same_params(tmp_path / "a", tmp_path / "b")


def test_metrics_config_and_summary(tmp_path, corpus):
    d = tmp_path / "run"
    rc, out = main_quiet("train", corpus, *SMALL, "--steps", "13", "--eval-every", "6", "--log-every", "4",
                         "--out", d)
    assert rc == 0
    recs = records(d)
    assert [r["step"] for r in recs] == [4, 6, 8, 12, 13]
    assert [r["step"] for r in recs if "val_loss" in r] == [6, 12, 13]
    for r in recs:
        assert {"step", "train_loss", "tokens_per_s", "grad_norm"} <= set(r), r
    conf = json.loads((d / "config.json").read_text(encoding="utf-8"))
    assert conf["corpus"] == corpus and conf["steps"] == 13 and conf["hidden_size"] == 16
    assert conf["total_steps"] == 13 and conf["seq_length"] == 8 and conf["log_every"] == 4
    m = re.search(r"final validation loss: ([0-9.]+) nats/token = ([0-9.]+) bits/token", out)
    assert m, out
    nats, bits = float(m.group(1)), float(m.group(2))
    assert nats == pytest.approx(recs[-1]["val_loss"], abs=1e-4)
    assert bits == pytest.approx(recs[-1]["val_loss"] / math.log(2), abs=1e-4)
    assert "checkpoint.npz" in out


def test_train_without_corpus_uses_the_embedded_default(tmp_path):
    d = tmp_path / "run"
    rc, out = main_quiet("train", "--steps", "3", "--hidden-size", "8", "--num-layers", "1",
                         "--seq-length", "16", "--batch-size", "32", "--out", d)
    assert rc == 0
    assert "embedded default corpus" in out
    recs = records(d)
    assert recs[-1]["step"] == 3 and "val_loss" in recs[-1]
    assert json.loads((d / "config.json").read_text(encoding="utf-8"))["corpus"] is None
    assert ckpt.load(d)[0]["step"] == 3
    model, vocab, _ = load_model(d)
    assert len(vocab) > 30 and model.hidden_size == 8


# ---------------------------------------------------------------------------------------------- sample
def sample(d: Path, *args: str) -> str:
    rc, out = main_quiet("sample", d, *args)
    assert rc == 0
    assert out.endswith("\n")
    return out[:-1]


def test_sample_is_reproducible_per_seed(trained):
    a = sample(trained, "--length", "80", "--seed", "1")
    assert sample(trained, "--length", "80", "--seed", "1") == a
    assert sample(trained, "--length", "80", "--seed", "2") != a
    meta = ckpt.load(trained)[0]
    assert a.startswith(meta["default_prime"]) and len(a) == len(meta["default_prime"]) + 80
    p = sample(trained, "--length", "50", "--prime", "the dog ", "--seed", "4")
    assert p.startswith("the dog ") and len(p) == len("the dog ") + 50
    assert sample(trained, "--length", "0", "--prime", "the") == "the"


def test_sample_top_k_1_is_argmax_and_low_temperature_approaches_it(trained):
    model, vocab, _ = load_model(trained)
    prime = "the cat "
    ids = vocab.encode(prime)
    logits, state = model(ids[:, None])
    greedy = []
    for _ in range(60):
        tok = int(np.argmax(logits[-1, 0]))
        greedy.append(tok)
        logits, state = model(np.array([[tok]]), state)
    expected = prime + vocab.decode(greedy)
    for seed in ("0", "1", "12345"):
        base = ["--length", "60", "--prime", prime, "--seed", seed]
        assert sample(trained, *base, "--top-k", "1") == expected
        assert sample(trained, *base, "--temperature", "1e-6") == expected
    assert sample(trained, "--length", "60", "--prime", prime, "--temperature", "1e-300") == expected
    # a high temperature spreads the choice out: many more distinct tokens than the greedy text
    hot = sample(trained, "--length", "200", "--prime", prime, "--temperature", "50", "--seed", "1")
    assert len(set(hot[len(prime):])) > len(set(expected[len(prime):]))


# ----------------------------------------------------------------------------------------- evaluate / plot
def test_evaluate_prints_nats_bits_and_perplexity(trained, tmp_path):
    text = word_text(120, seed=5)
    path = write(tmp_path / "eval.txt", text)
    rc, out = main_quiet("evaluate", trained, path)
    assert rc == 0
    res = json.loads(out)
    model, vocab, meta = load_model(trained)
    ids = vocab.encode(text)
    assert res["tokens"] == len(ids)
    cfg = TrainConfig.from_dict(meta["train_config"])
    assert res["nats_per_token"] == evaluate_loss(model, ids, cfg.batch_size, cfg.seq_length)
    assert res["bits_per_token"] == pytest.approx(res["nats_per_token"] / math.log(2), rel=1e-12)
    assert res["perplexity"] == pytest.approx(math.exp(res["nats_per_token"]), rel=1e-12)
    assert 0 < res["nats_per_token"] < math.log(len(vocab)) + 1


def test_plot_writes_a_png(trained, tmp_path):
    rc, out = main_quiet("plot", trained)
    assert rc == 0
    png = trained / "loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    other = tmp_path / "curves.png"
    assert main_quiet("plot", trained, "--out", other)[0] == 0
    assert other.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_fails_with_one_line(trained, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" now raises ImportError
    out = tmp_path / "never.png"
    rc = cli.main(["plot", str(trained), "--out", str(out)])
    captured = capsys.readouterr()
    assert rc != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "matplotlib" in lines[0], captured.err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.txt").write_bytes(b"  \n\n \t\n")
    (d / "binary.bin").write_bytes(b"abc\x00\x01\x02" * 50)
    (d / "latin1.txt").write_bytes("caf\u00e9 cr\u00e8me br\u00fbl\u00e9e ".encode("latin-1") * 20)
    (d / "short.txt").write_text("tiny text here\n", encoding="utf-8")
    (d / "unknown.txt").write_text("the cat \u00e9\u00e9 QQQ\n", encoding="utf-8")
    (d / "nockpt").mkdir()
    return {p.stem: str(p) for p in d.iterdir()}


BAD_TRAIN = {
    "missing file": (["{d}/does-not-exist.txt"], ["not found"]),
    "empty file": (["{empty}"], ["empty"]),
    "blank file": (["{blank}"], ["empty"]),
    "binary file": (["{binary}"], ["binary"]),
    "non-UTF-8 file": (["{latin1}"], ["UTF-8"]),
    "directory as corpus": (["{nockpt}"], ["directory"]),
    "fewer tokens than one sequence": (["{short}", "--seq-length", "16", "--batch-size", "4"],
                                       ["fewer than one batch"]),
    "hidden-size 0": (["{corpus}", "--hidden-size", "0"], ["--hidden-size"]),
    "hidden-size not a number": (["{corpus}", "--hidden-size", "big"], ["--hidden-size"]),
    "lr 0": (["{corpus}", "--lr", "0"], ["lr must be > 0"]),
    "lr negative": (["{corpus}", "--lr", "-0.5"], ["lr must be > 0"]),
    "lr nan": (["{corpus}", "--lr", "nan"], ["lr must be > 0"]),
    "seq-length 0": (["{corpus}", "--seq-length", "0"], ["--seq-length"]),
    "batch-size negative": (["{corpus}", "--batch-size", "-2"], ["--batch-size"]),
    "steps 0": (["{corpus}", "--steps", "0"], ["--steps"]),
    "epochs 0": (["{corpus}", "--epochs", "0"], ["epochs"]),
    "dropout 1": (["{corpus}", "--dropout", "1"], ["dropout"]),
    "dropout with one layer": (["{corpus}", "--num-layers", "1", "--dropout", "0.2"], ["num-layers"]),
    "val-fraction 0": (["{corpus}", "--val-fraction", "0"], ["val-fraction"]),
    "clip-norm negative": (["{corpus}", "--clip-norm", "-1"], ["clip-norm"]),
    "unknown model": (["{corpus}", "--model", "transformer"], ["--model"]),
    "resume without checkpoint": (["--resume"], ["cannot resume", "no checkpoint"]),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAIN))
def test_bad_train_input_is_one_line_on_stderr(case, bad, corpus, tmp_path):
    args, needles = BAD_TRAIN[case]
    subs = {**bad, "d": str(tmp_path), "corpus": corpus}
    args = [a.format(**subs) for a in args]
    out = tmp_path / "out"
    out.mkdir()
    extra = [] if "--steps" in args or "--epochs" in args else ["--steps", "3"]
    extra += [] if "--hidden-size" in args else ["--hidden-size", "8"]
    proc = run("train", *args, *extra, "--out", out)
    assert_one_line_error(proc, *needles)
    assert not (out / "checkpoint.npz").exists()


BAD_USE = {
    "sample temperature 0": (["sample", "{run}", "--temperature", "0"], ["--temperature"]),
    "sample temperature negative": (["sample", "{run}", "--temperature", "-1"], ["--temperature"]),
    "sample length -1": (["sample", "{run}", "--length", "-1"], ["--length"]),
    "sample top-k 0": (["sample", "{run}", "--top-k", "0"], ["--top-k"]),
    "sample prime with unknown characters": (["sample", "{run}", "--prime", "the Z\u00e9bra"],
                                             ["--prime", "2 characters", "'Z'", "'\u00e9'"]),
    "sample empty prime": (["sample", "{run}", "--prime", ""], ["--prime"]),
    "sample dir without checkpoint": (["sample", "{nockpt}"], ["no checkpoint"]),
    "sample missing dir": (["sample", "{nockpt}/nowhere"], ["not found"]),
    "evaluate dir without checkpoint": (["evaluate", "{nockpt}", "{corpus}"], ["no checkpoint"]),
    "evaluate missing corpus": (["evaluate", "{run}", "{nockpt}/none.txt"], ["not found"]),
    "evaluate binary corpus": (["evaluate", "{run}", "{binary}"], ["binary"]),
    "evaluate empty corpus": (["evaluate", "{run}", "{empty}"], ["empty"]),
    "evaluate unknown characters": (["evaluate", "{run}", "{unknown}"], ["'Q'", "vocabulary"]),
    "plot dir without metrics": (["plot", "{nockpt}"], ["metrics.jsonl"]),
}


@pytest.mark.parametrize("case", sorted(BAD_USE))
def test_bad_sample_evaluate_plot_input_is_one_line_on_stderr(case, bad, corpus, trained):
    args, needles = BAD_USE[case]
    subs = {**bad, "corpus": corpus, "run": str(trained)}
    assert_one_line_error(run(*[a.format(**subs) for a in args]), *needles)


# ------------------------------------------------------------------------------------- hostile checkpoints
class _TouchOnUnpickle:
    """Unpickling this creates ``marker`` (it stands for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = Path(marker)

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _hostile_pickle(d: Path, marker: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "checkpoint.npz").write_bytes(pickle.dumps(_TouchOnUnpickle(marker), protocol=4))


def _hostile_object_npz(d: Path, marker: Path, real: Path) -> None:
    """A genuine checkpoint plus one object array whose unpickling creates ``marker``."""
    d.mkdir(parents=True, exist_ok=True)
    with np.load(real / "checkpoint.npz", allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    evil = np.empty(1, dtype=object)
    evil[0] = _TouchOnUnpickle(marker)
    entries["param/evil"] = evil
    with open(d / "checkpoint.npz", "wb") as fh:
        np.savez(fh, **entries)


def test_hostile_payloads_are_live(tmp_path, trained):
    """Sanity check of the payloads themselves: unpickled, they do create the marker file."""
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    _hostile_pickle(tmp_path / "p", m1)
    pickle.loads((tmp_path / "p" / "checkpoint.npz").read_bytes())
    assert m1.exists()
    _hostile_object_npz(tmp_path / "o", m2, trained)
    with np.load(tmp_path / "o" / "checkpoint.npz", allow_pickle=True) as z:
        z["param/evil"]
    assert m2.exists()


@pytest.mark.parametrize("kind", ["pickle", "object-array"])
def test_hostile_checkpoints_are_refused_without_unpickling(tmp_path, trained, corpus, kind):
    d = tmp_path / "run"
    marker = tmp_path / "PWNED"
    if kind == "pickle":
        _hostile_pickle(d, marker)
    else:
        _hostile_object_npz(d, marker, trained)
    for args in (["sample", d], ["train", "--resume", "--steps", "50", "--out", d], ["evaluate", d, corpus],
                 ["sample", d / "checkpoint.npz"]):
        assert_one_line_error(run(*args), "pickle")
        assert not marker.exists()
    with pytest.raises(ckpt.CheckpointError, match="pickle"):
        load_model(d)
    assert not marker.exists()


def test_truncated_and_incomplete_checkpoints_are_refused(tmp_path, trained, corpus):
    full = (trained / "checkpoint.npz").read_bytes()
    cases = {
        "truncated": full[: len(full) // 2],
        "header only": full[:10],
        "empty": b"",
        "garbage": b"not a checkpoint at all\n" * 10,
    }
    for name, payload in cases.items():
        d = tmp_path / name.replace(" ", "_")
        d.mkdir()
        (d / "checkpoint.npz").write_bytes(payload)
        commands = [["sample", d]]
        if name == "truncated":
            commands += [["train", "--resume", "--steps", "50", "--out", d], ["evaluate", d, corpus]]
        for args in commands:
            line = assert_one_line_error(run(*args))
            assert "checkpoint" in line, (name, line)
        assert (d / "checkpoint.npz").read_bytes() == payload
    # a well-formed bptt archive whose description is incomplete
    d = tmp_path / "incomplete"
    meta = {"kind": "language_model", "step": 3}
    ckpt.save(d / "checkpoint.npz", meta, {"head.weight": np.zeros((2, 2), np.float32)})
    for args in (["sample", d], ["train", "--resume", "--steps", "50", "--out", d]):
        assert_one_line_error(run(*args), "checkpoint", "incomplete" if args[0] == "train" else "")


# ---------------------------------------------------------------------------------------------- robustness
def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path, corpus):
    d = tmp_path / "run"
    rc, _ = main_quiet("train", corpus, *SMALL, "--optimizer", "sgd", "--lr", "0.5", "--steps", "10",
                       "--eval-every", "5", "--out", d)
    assert rc == 0
    before = (d / "checkpoint.npz").read_bytes()
    proc = run("train", "--resume", "--steps", "30", "--lr", "1e300", "--clip-norm", "1e300", "--out", d)
    assert_one_line_error(proc, "not finite", "step 10")
    assert (d / "checkpoint.npz").read_bytes() == before
    assert ckpt.load(d)[0]["step"] == 10
    # the kept checkpoint is good: it resumes and trains on with a sane learning rate
    rc, _ = main_quiet("train", "--resume", "--steps", "15", "--out", d)
    assert rc == 0 and math.isfinite(records(d)[-1]["val_loss"])


def test_ctrl_c_saves_a_checkpoint_that_resumes_identically(tmp_path, corpus):
    """A real SIGINT at an arbitrary moment: exit 130, one line, and a checkpoint of a finished step."""
    a, b = tmp_path / "a", tmp_path / "b"
    # big enough that most of the time goes into the forward/backward passes (where Ctrl-C usually lands)
    args = [corpus, *SMALL, "--hidden-size", "96", "--seq-length", "24", "--batch-size", "8",
            "--dropout", "0.3", "--eval-every", "10", "--log-every", "1"]
    cmd = [sys.executable, "-m", "bptt", "train", *args, "--steps", "1000000", "--out", str(a)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        metrics = a / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text(encoding="utf-8").count("\n") >= 5):
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "--resume" in lines[0], err
    k = ckpt.load(a)[0]["step"]
    assert k >= 5 and f"step {k}" in lines[0]
    n = k + 12
    assert main_quiet("train", "--resume", "--steps", n, "--out", a)[0] == 0
    assert main_quiet("train", *args, "--steps", n, "--out", b)[0] == 0
    assert [r[0] for r in losses(b)] == list(range(1, n + 1))
    assert losses(a) == losses(b)
    assert_same_params(a, b)


def test_vocabulary_is_saved_with_the_model(trained, corpus):
    _, vocab, meta = load_model(trained)
    assert vocab == Vocabulary.from_text(Path(corpus).read_text(encoding="utf-8"), "char")
    assert meta["train_config"]["corpus"] == corpus
