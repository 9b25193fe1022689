"""Data-parallel training under ``mpiexec -n 2``: the run IS the one-process run.

Every test launches ``mpiexec -n 2 python -m bptt ...`` in a subprocess (with a timeout, so a hang fails) and
compares with the same command in one process, run in this process:

* float64, the train loss of every logged step (and the validation loss, the gradient norm, the final weights,
  the carried state and the random generators in the checkpoint, the samples) equal the one-process run's to
  <= 1e-9 relative: character LM with and without dropout, with an uneven split (batch 5 on 2 processes), with
  embedding inputs and LayerNormLSTM, and the translator (variable-length batches, token-weighted);
* ``--resume`` from 1 process to 2 and from 2 to 1 continues the one-process run;
* rank 0 alone writes: the other process runs in its own working directory and leaves it empty;
* a process failing during training aborts the run (no hang) with its error on stderr, the last checkpoint
  intact; a failure before the first step on one process, and bad input (every process), are one error line;
* Ctrl-C (SIGINT to mpiexec) stops both processes at one step and leaves that step's checkpoint.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from bptt import cli
from bptt.data.default_corpus import default_corpus_text
from bptt.models import checkpoint as ckpt
from mpi_helpers import SRC, clean_env, mpi_command, mpiexec_path, run_mpi

pytestmark = pytest.mark.mpi

TOLERANCE = 1e-9
LM = ["--hidden-size", "12", "--num-layers", "2", "--seq-length", "8", "--log-every", "4", "--eval-every", "12",
      "--sample-every", "12", "--sample-length", "24", "--dtype", "float64", "--seed", "5"]
LM_CASES = {
    "one-hot LSTM": ["--batch-size", "6"],
    "dropout, uneven split 3+2": ["--batch-size", "5", "--dropout", "0.3"],
    "embedding, LayerNormLSTM, dropout": ["--batch-size", "6", "--embedding-dim", "7", "--model", "lnlstm",
                                          "--dropout", "0.25"],
}
INJECT = '''
import sys
from bptt import cli
from bptt.data import DataError
from bptt.training import lm
from bptt.training.distributed import launcher_rank

where, at = sys.argv[1], int(sys.argv[2])
if launcher_rank() == 1:
    if where == "step":
        original, calls = lm.LanguageModelTask.step, [0]

        def step(self):
            calls[0] += 1
            if calls[0] == at:
                raise RuntimeError(f"injected fault at step {at}")
            return original(self)

        lm.LanguageModelTask.step = step
    else:
        def load_corpus(corpus):
            raise DataError("injected: the corpus cannot be read here")

        lm.load_corpus = load_corpus
sys.exit(cli.main(sys.argv[3:]))
'''


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(default_corpus_text()[:12000], encoding="utf-8")
    return str(path)


def one_process(*args: str) -> str:
    """``bptt ARGS`` in this process (no launcher: one process); its stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(list(args)) == 0
    return out.getvalue()


def two_processes(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = run_mpi(2, ["-m", "bptt", *args], cwd)
    assert done.returncode == 0, done.stderr
    return done


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def assert_same_run(got_dir: Path, ref_dir: Path, kind: str, world_sizes: list[int]) -> list[float]:
    """Records, weights, carried state and generators of ``got_dir`` equal ``ref_dir``'s (<= 1e-9 relative);
    returns the train loss's relative difference at every logged step."""
    got, ref = records(got_dir), records(ref_dir)
    assert [r["step"] for r in got] == [r["step"] for r in ref]
    assert [r["world_size"] for r in got] == world_sizes and all(r["world_size"] == 1 for r in ref)
    diffs = [rel(g["train_loss"], r["train_loss"]) for g, r in zip(got, ref)]
    assert max(diffs) <= TOLERANCE, diffs
    for g, r in zip(got, ref):
        assert rel(g["grad_norm"], r["grad_norm"]) <= TOLERANCE
        assert ("val_loss" in g) == ("val_loss" in r)
        if "val_loss" in r:
            assert rel(g["val_loss"], r["val_loss"]) <= TOLERANCE
        for key in ("step", "epoch", "lr", "val_exact_match"):
            assert g.get(key) == r.get(key), key
    meta_g, params_g, arrays_g = ckpt.load(got_dir, kind=kind)
    meta_r, params_r, arrays_r = ckpt.load(ref_dir, kind=kind)
    assert meta_g["step"] == meta_r["step"] and meta_g["rng"] == meta_r["rng"]
    assert meta_g["streams" if "streams" in meta_r else "batches"] == meta_r["streams" if "streams" in meta_r
                                                                             else "batches"]
    for name, value in {**params_r, **arrays_r}.items():
        other = {**params_g, **arrays_g}[name]
        assert other.shape == value.shape, name
        scale = max(float(np.abs(value).max(initial=0.0)), 1e-300)
        assert float(np.abs(other - value).max(initial=0.0)) <= TOLERANCE * scale, name
    return diffs


def samples(stdout: str) -> list[str]:
    return [part.split("\n---")[0] for part in stdout.split("--- sample at step ")[1:]]


# ---------------------------------------------------------------------------------------------- equality
@pytest.mark.parametrize("case", LM_CASES)
def test_the_language_model_on_two_processes_is_the_one_process_run(case, corpus, tmp_path):
    args = ["train", corpus, *LM, *LM_CASES[case], "--steps", "24"]
    ref_out = one_process(*args, "--out", str(tmp_path / "one"))
    done = two_processes(*args, "--out", "two", cwd=tmp_path)
    assert_same_run(tmp_path / "two", tmp_path / "one", "language_model", [2] * 6)
    assert samples(done.stdout) == samples(ref_out) and len(samples(ref_out)) == 2
    assert done.stdout.count("final validation loss") == 1  # rank 0 alone reports


def test_the_translator_on_two_processes_is_the_one_process_run(tmp_path):
    one_process("translate", "dates", str(tmp_path / "data"), "--train-size", "300", "--val-size", "41",
                "--test-size", "5")
    args = ["translate", "train", "--train", str(tmp_path / "data" / "dates_train.tsv"), "--val",
            str(tmp_path / "data" / "dates_val.tsv"), "--level", "char", "--encoder", "bi", "--hidden-size", "8",
            "--embedding-size", "6", "--batch-size", "7", "--steps", "16", "--log-every", "4", "--eval-every", "8",
            "--dtype", "float64"]
    one_process(*args, "--out", str(tmp_path / "one"))
    two_processes(*args, "--out", "two", cwd=tmp_path)
    assert_same_run(tmp_path / "two", tmp_path / "one", "seq2seq", [2] * 4)


@pytest.mark.parametrize(("first", "then"), [(1, 2), (2, 1)], ids=["1->2", "2->1"])
def test_resume_with_another_number_of_processes_continues_the_run(first, then, corpus, tmp_path):
    args = ["train", corpus, *LM, "--batch-size", "6", "--dropout", "0.3"]
    one_process(*args, "--steps", "24", "--out", str(tmp_path / "ref"))
    for steps, n, extra in ((12, first, args), (24, then, ["train", "--resume"])):
        if n == 1:
            one_process(*extra, "--steps", str(steps), "--out", str(tmp_path / "run"))
        else:
            two_processes(*extra, "--steps", str(steps), "--out", "run", cwd=tmp_path)
    assert_same_run(tmp_path / "run", tmp_path / "ref", "language_model", [first] * 3 + [then] * 3)


# ---------------------------------------------------------------------------------------------- rank 0 writes
def test_rank_0_alone_writes_the_run_directory(corpus, tmp_path):
    """Each process runs in its own working directory with the same relative --out: rank 1's stays empty."""
    (tmp_path / "rank0").mkdir()
    (tmp_path / "rank1").mkdir()
    command = ["-m", "bptt", "train", corpus, *LM, "--batch-size", "6", "--steps", "12", "--out", "run"]
    python = mpi_command(1, command)[3:]
    done = subprocess.run([mpiexec_path(), "-n", "1", "-wdir", str(tmp_path / "rank0"), *python, ":",
                           "-n", "1", "-wdir", str(tmp_path / "rank1"), *python],
                          env=clean_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "rank0" / "run").iterdir()) == [".bptt-run", ".bptt.lock",
                                                                              "checkpoint.npz", "config.json",
                                                                              "metrics.jsonl"]
    assert list((tmp_path / "rank1").iterdir()) == []
    assert [r["world_size"] for r in records(tmp_path / "rank0" / "run")] == [2, 2, 2]
    assert done.stdout.count("step 12: train") == 1 and done.stdout.count("--- sample at step 12") == 1


# ---------------------------------------------------------------------------------------------- faults
def test_a_process_failing_during_training_aborts_the_run(corpus, tmp_path):
    (tmp_path / "inject.py").write_text(INJECT)
    done = run_mpi(2, ["inject.py", "step", "5", "train", corpus, *LM, "--batch-size", "6", "--eval-every", "3",
                       "--steps", "50", "--out", "run"], tmp_path, timeout=60)
    assert done.returncode != 0
    assert ("bptt train: error: process 1 of 2 failed (RuntimeError: injected fault at step 5); aborting the run"
            in done.stderr.splitlines())
    assert ckpt.load(tmp_path / "run", kind="language_model")[0]["step"] == 3  # the last good checkpoint


def test_a_process_failing_before_training_is_one_error_and_no_hang(corpus, tmp_path):
    (tmp_path / "inject.py").write_text(INJECT)
    done = run_mpi(2, ["inject.py", "setup", "0", "train", corpus, *LM, "--batch-size", "6", "--steps", "5",
                       "--out", "run"], tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "bptt train: error: injected: the corpus cannot be read here\n"
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.parametrize(("flags", "start", "end"), [
    (["--batch-size", "1"], "bptt train: error: batch-size 1 is smaller than the number of processes (2): each "
                            "process needs at least one stream", ""),
    (["--hidden-size", "0"], "bptt train: error: --hidden-size must be a positive integer, got 0",
     " (see bptt train --help)"),  # argparse
])
def test_bad_input_is_refused_alike_on_every_process_and_reported_once(flags, start, end, corpus, tmp_path):
    done = run_mpi(2, ["-m", "bptt", "train", corpus, *LM, "--steps", "5", "--out", "run", *flags], tmp_path,
                   timeout=60)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start) and lines[0].endswith(end), done.stderr
    assert not (tmp_path / "run").exists()


def test_ctrl_c_on_mpiexec_stops_every_process_at_one_step_with_its_checkpoint(corpus, tmp_path):
    args = ["train", corpus, *LM, "--batch-size", "6", "--eval-every", "100000", "--sample-every", "100000"]
    with open(tmp_path / "stdout", "w") as out, open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen(mpi_command(2, ["-m", "bptt", *args, "--steps", "100000", "--out", "run"]),
                                cwd=tmp_path, env=clean_env(), stdout=out, stderr=err, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            metrics = tmp_path / "run" / "metrics.jsonl"
            while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
                assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    stderr = (tmp_path / "stderr").read_text()
    ours = [line for line in stderr.splitlines() if line.startswith("bptt train")]
    assert rc == 130 and len(ours) == 1, stderr
    step = int(ours[0].split("interrupted at step ")[1].split(";")[0])
    assert ours[0] == (f"bptt train: interrupted at step {step}; checkpoint saved to run/checkpoint.npz; continue "
                       "with --resume")
    assert ckpt.load(tmp_path / "run", kind="language_model")[0]["step"] == step
    # the checkpoint is the state after that step of the one-process run: resuming continues it
    one_process("train", "--resume", "--steps", str(step + 8), "--out", str(tmp_path / "run"))
    one_process(*args, "--steps", str(step + 8), "--out", str(tmp_path / "ref"))
    got, ref = records(tmp_path / "run")[-2:], records(tmp_path / "ref")[-2:]
    assert [r["step"] for r in got] == [r["step"] for r in ref] and got[-1]["step"] == step + 8
    assert all(rel(g["train_loss"], r["train_loss"]) <= TOLERANCE for g, r in zip(got, ref))


def test_the_subprocesses_import_this_bptt():
    """The launched processes run the code under test (the source tree first on PYTHONPATH)."""
    assert clean_env()["PYTHONPATH"].split(":")[0] == SRC
