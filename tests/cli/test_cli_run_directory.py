"""The output directory of ``bptt train`` and ``bptt translate train`` from the command line, as a hostile user
meets it: a directory of the user's own files, a file, two processes on one run, SIGKILL and Ctrl-C at random
moments followed by ``--resume``, and a full disk (a small tmpfs, when running as root).

Every refusal: exit code 2, the exact one-line message, and not one byte of the user's files changed.
A run that was killed either resumes to exactly the result of a run that never stopped, or is refused with
one clear line; never a silently different result.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from bptt.data import dates
from bptt.models import checkpoint as ckpt
from cases.cli import assert_error, one_line_error, run_bptt, small_tmpfs, snapshot, start_bptt
from cases.lm import word_text, write_corpus

SMALL = ["--hidden-size", "16", "--num-layers", "2", "--seq-length", "8", "--batch-size", "4", "--val-fraction",
         "0.1", "--sample-every", "10000", "--log-every", "4", "--seed", "3"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"), word_text(300))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return dates.write_tsv(tmp_path_factory.mktemp("dates"), 200, 40, 10, seed=1)


def test_a_directory_of_the_users_own_files_is_refused_and_unchanged(tmp_path, corpus, pairs):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text('{"mine": true}\n')
    (out / "metrics.jsonl").write_text("my notes\n")
    before = snapshot(tmp_path)
    message = (f"{out} is not empty and holds no bptt run (config.json, metrics.jsonl); bptt writes only into a new "
               "or empty directory or its own run: choose another --out")
    for extra in ([], ["--resume"]):
        assert_error(run_bptt("train", corpus, *SMALL, "--steps", "4", "--out", out, *extra),
                     f"bptt train: error: {message}")
        assert_error(run_bptt("translate", "train", "--train", pairs["train"], "--val", pairs["val"], "--steps", "4",
                              "--out", out, *extra), f"bptt translate train: error: {message}")
    assert snapshot(tmp_path) == before


def test_a_file_a_path_under_a_file_and_a_run_of_another_kind_are_refused(tmp_path, corpus, pairs):
    f = tmp_path / "notes.txt"
    f.write_text("mine\n")
    lm = tmp_path / "lm"
    assert run_bptt("train", corpus, *SMALL, "--steps", "4", "--eval-every", "4", "--out", lm).returncode == 0
    before = snapshot(tmp_path)
    assert_error(run_bptt("train", corpus, *SMALL, "--out", f),
                 f"bptt train: error: the output directory {f} is a file, not a directory; choose another --out")
    assert_error(run_bptt("train", corpus, *SMALL, "--out", f / "run"),
                 f"bptt train: error: cannot create the output directory {f / 'run'}: {f} is a file")
    assert_error(run_bptt("translate", "train", "--train", pairs["train"], "--val", pairs["val"], "--out", lm),
                 f"bptt translate train: error: {lm} holds a language-model run, not a translation run; choose "
                 "another --out")
    assert_error(run_bptt("train", corpus, *SMALL, "--steps", "8", "--out", lm),
                 f"bptt train: error: {lm} already holds a language-model run with a checkpoint; pass --resume to "
                 "continue it, or choose another --out")
    assert snapshot(tmp_path) == before


def _wait_for_line(proc: subprocess.Popen, start: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(start):
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no line starting with {start!r}: {proc.stderr.read()}")


@pytest.mark.slow
def test_two_processes_on_one_run(tmp_path, corpus):
    out = tmp_path / "run"
    first = start_bptt("train", corpus, *SMALL, "--hidden-size", "48", "--steps", "100000", "--eval-every", "50",
                       "--out", out)
    try:
        _wait_for_line(first, "model:")
        in_use = (f"bptt train: error: {out} is in use by another bptt process (pid {first.pid}); wait for it to "
                  "finish, or choose another --out")
        assert_error(run_bptt("train", corpus, *SMALL, "--steps", "20", "--out", out), in_use)
        assert_error(run_bptt("train", "--resume", "--steps", "200000", "--out", out), in_use)
        assert_error(run_bptt("train", corpus, *SMALL, "--hidden-size", "8", "--steps", "20", "--out", out), in_use)
    finally:
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    meta = ckpt.load(out)[0]
    config = json.loads((out / "config.json").read_text())
    assert config["hidden_size"] == meta["train_config"]["hidden_size"] == 48  # one run's files, not two
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] <= meta["step"]


# ---------------------------------------------------------------------------------------------- kill and resume
KILL_ARGS = ["--hidden-size", "32", "--num-layers", "2", "--seq-length", "16", "--batch-size", "8", "--val-fraction",
             "0.1", "--sample-every", "100000", "--log-every", "5", "--eval-every", "10", "--seed", "5"]
KILL_STEPS = 80


@pytest.fixture(scope="module")
def straight(tmp_path_factory, corpus):
    """A run that never stopped (in a process like the others): its metrics and final parameters."""
    out = tmp_path_factory.mktemp("straight") / "run"
    assert run_bptt("train", corpus, *KILL_ARGS, "--steps", KILL_STEPS, "--out", out).returncode == 0
    return _figures(out), ckpt.load(out)[1]


def _figures(out: Path) -> list[tuple]:
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["train_loss"], r.get("val_loss"), r["grad_norm"]) for r in recs]


def _finish(out: Path, corpus: str) -> None:
    """Resume a stopped run to the end; a run with nothing to resume is started afresh (both said clearly)."""
    proc = run_bptt("train", "--resume", "--steps", KILL_STEPS, "--out", out)
    if proc.returncode == 0:
        return
    line = one_line_error(proc)
    if line == f"bptt train: error: the checkpoint is already at step {KILL_STEPS}; pass --steps larger than " \
               f"{KILL_STEPS} to go on":
        return
    assert line.startswith(f"bptt train: error: cannot resume: no checkpoint in {out} ("), line
    proc = run_bptt("train", corpus, *KILL_ARGS, "--steps", KILL_STEPS, "--out", out)
    assert proc.returncode == 0, proc.stderr


def _assert_same_as_straight(out: Path, straight) -> None:
    figures, params = straight
    assert _figures(out) == figures
    got = ckpt.load(out)[1]
    assert sorted(got) == sorted(params)
    for k in params:
        np.testing.assert_array_equal(got[k], params[k], err_msg=k)
    leftovers = [n for n in os.listdir(out) if n.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_run_stopped_at_a_random_moment_resumes_to_the_same_result(tmp_path, corpus, straight, sig):
    rnd, stopped_at = random.Random(int(sig)), []
    for trial in range(3):
        out = tmp_path / f"run{trial}"
        proc = start_bptt("train", corpus, *KILL_ARGS, "--steps", KILL_STEPS, "--out", out)
        # SIGKILL: the first time anywhere from the launch on; Ctrl-C and the other times once the run has
        # started (before that, Python itself is still starting up)
        if sig == signal.SIGINT or trial > 0:
            _wait_for_line(proc, "model:")
        time.sleep(rnd.uniform(0.0, 2.0 if trial == 0 else 1.0))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if sig == signal.SIGINT and proc.returncode == -signal.SIGINT:
            assert err == ""  # the signal came as Python was exiting, after a complete run: the shell says 130
        elif sig == signal.SIGINT and proc.returncode != 0:  # else it had finished
            lines = err.strip().splitlines()
            assert proc.returncode == 130 and len(lines) == 1, err
            assert re.fullmatch(f"bptt train: interrupted at step [0-9]+; checkpoint saved to "
                                f"{re.escape(str(out / 'checkpoint.npz'))}; continue with --resume", lines[0]), err
        stopped_at.append(ckpt.load(out)[0]["step"] if (out / "checkpoint.npz").exists() else None)
        _finish(out, corpus)
        _assert_same_as_straight(out, straight)


# ---------------------------------------------------------------------------------------------- a full disk
def test_a_full_disk_while_checkpointing(tmp_path, corpus):
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        out = disk / "run"
        args = ["train", corpus, *KILL_ARGS, "--out", out]
        assert run_bptt(*args, "--steps", "10").returncode == 0
        size = (out / "checkpoint.npz").stat().st_size
        free = shutil.disk_usage(disk).free
        filler = disk / "my-big-file"
        filler.write_bytes(b"\1" * (free - size // 2))
        before = snapshot(disk)
        proc = run_bptt("train", "--resume", "--steps", "30", "--out", out)
        assert_error(proc, f"bptt train: error: cannot write {out / 'checkpoint.npz'}: no space left on device; the "
                           f"last good checkpoint (step 10) is kept in {out}: free some space and continue with "
                           "--resume")
        after = snapshot(disk)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        # the lock (its holder's pid), config.json (the new total of steps) and the records of steps 11-20: the
        # run's own files; the checkpoint is the old one, the user's file untouched
        assert changed == ["run/.bptt.lock", "run/config.json", "run/metrics.jsonl"]
        filler.unlink()
        assert run_bptt("train", "--resume", "--steps", "30", "--out", out).returncode == 0
        assert ckpt.load(out)[0]["step"] == 30
        assert [n for n in os.listdir(out) if n.endswith(".tmp")] == []


def test_a_full_disk_before_the_first_checkpoint(tmp_path, corpus):
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        out = disk / "run"
        proc = run_bptt("train", corpus, *KILL_ARGS, "--hidden-size", "96", "--steps", "10", "--out", out)
        assert_error(proc, f"bptt train: error: cannot write {out / 'checkpoint.npz'}: no space left on device; no "
                           "checkpoint had been saved yet: free some space and start the run again")
        assert sorted(os.listdir(out)) == [".bptt-run", ".bptt.lock", "config.json", "metrics.jsonl"]
