"""The run directory is owned: bptt writes only into a directory it created, an empty one or its own run of
the same kind; one process at a time (an OS lock); stale temporary files cleaned; files with the user's umask.

Every refusal is checked with its exact message and with a snapshot of the directory: nothing the user owned
changed, and nothing was created.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from bptt.data import DataError
from bptt.data.files import file_mode, temp_affixes, write_atomic, write_bytes_atomic
from bptt.models import checkpoint as ckpt
from bptt.training import RunDirectory, RunDirectoryError, RunInUse
from bptt.training.lm import TrainConfig, train
from bptt.training.seq2seq import Seq2SeqConfig
from cases.cli import env, snapshot
from cases.lm import small_cfg, word_text, write_corpus

LM = TrainConfig.KIND


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path, word_text(200))


def test_a_users_directory_is_refused_and_left_untouched(tmp_path, corpus):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text('{"my": "settings"}\n')
    (out / "metrics.jsonl").write_text("my own metrics\n")
    before = snapshot(out)
    with pytest.raises(RunDirectoryError) as exc:
        train(small_cfg(corpus, steps=4), out)
    assert str(exc.value) == (f"{out} is not empty and holds no bptt run (config.json, metrics.jsonl); bptt writes "
                              "only into a new or empty directory or its own run: choose another --out")
    assert snapshot(out) == before
    with pytest.raises(RunDirectoryError, match="holds no bptt run"):
        train(small_cfg(corpus, steps=4), out, resume=True)
    assert snapshot(out) == before


def test_a_file_or_a_path_under_a_file_is_refused(tmp_path, corpus):
    f = tmp_path / "afile"
    f.write_text("mine\n")
    with pytest.raises(RunDirectoryError) as exc:
        train(small_cfg(corpus, steps=4), f)
    assert str(exc.value) == f"the output directory {f} is a file, not a directory; choose another --out"
    with pytest.raises(RunDirectoryError) as exc:
        train(small_cfg(corpus, steps=4), f / "sub" / "run")
    assert str(exc.value) == f"cannot create the output directory {f / 'sub' / 'run'}: {f} is a file"
    assert f.read_text() == "mine\n"


def test_new_and_empty_directories_are_taken_and_marked(tmp_path, corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (tmp_path / "a" / "b" / "new", empty):
        train(small_cfg(corpus, steps=4, eval_every=4), out)
        names = sorted(os.listdir(out))
        assert names == [".bptt-run", ".bptt.lock", "checkpoint.npz", "config.json", "metrics.jsonl"]
        assert RunDirectory(out, LM)._manifest_kind() == LM


def test_a_saved_run_is_resumed_never_restarted(tmp_path, corpus):
    out = tmp_path / "run"
    train(small_cfg(corpus, steps=4, eval_every=4), out)
    before = snapshot(out)
    with pytest.raises(RunDirectoryError) as exc:
        train(small_cfg(corpus, steps=4), out)
    assert str(exc.value) == (f"{out} already holds a language-model run with a checkpoint; pass --resume to "
                              "continue it, or choose another --out")
    assert snapshot(out) == before
    train(small_cfg(corpus, steps=8, eval_every=4), out, resume=True)
    assert ckpt.load(out)[0]["step"] == 8


def test_a_run_of_another_kind_is_refused(tmp_path, corpus):
    out = tmp_path / "run"
    train(small_cfg(corpus, steps=4, eval_every=4), out)
    before = snapshot(out)
    rd = RunDirectory(out, Seq2SeqConfig.KIND)
    for resume in (False, True):
        with pytest.raises(RunDirectoryError) as exc:
            rd.check(resume)
        assert str(exc.value) == (f"{out} holds a language-model run, not a translation run; choose another --out")
    assert snapshot(out) == before


def test_resume_needs_a_checkpoint(tmp_path):
    for path, why in ((tmp_path / "none", "the directory does not exist"),
                      (tmp_path, "start the run without --resume")):
        with pytest.raises(RunDirectoryError) as exc:
            RunDirectory(path, LM).check(resume=True)
        assert str(exc.value) == f"cannot resume: no checkpoint in {path} ({why})"


def test_a_foreign_manifest_or_checkpoint_is_not_taken_for_a_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".bptt-run").write_text("not json")
    with pytest.raises(RunDirectoryError) as exc:
        RunDirectory(out, LM).check(resume=False)
    assert str(exc.value) == (f"{out / '.bptt-run'} is not a bptt run manifest; bptt does not write into {out}: "
                              "choose another --out")
    (out / ".bptt-run").unlink()
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RunDirectoryError, match="so .* holds no bptt run, and bptt does not write into it"):
        RunDirectory(out, LM).check(resume=True)


def test_a_run_of_an_older_bptt_without_manifest_is_resumed_and_adopted(tmp_path, corpus):
    out = tmp_path / "run"
    train(small_cfg(corpus, steps=4, eval_every=4), out)
    (out / ".bptt-run").unlink()
    (out / ".bptt.lock").unlink()
    train(small_cfg(corpus, steps=8, eval_every=4), out, resume=True)
    assert (out / ".bptt-run").exists()
    (out / ".bptt-run").unlink()
    (out / "notes.txt").write_text("mine")  # not only bptt's files: not a run
    listed = r"no bptt run \(checkpoint.npz, config.json, metrics.jsonl, notes.txt\)"
    with pytest.raises(RunDirectoryError, match=listed):
        train(small_cfg(corpus, steps=12, eval_every=4), out, resume=True)


def test_nothing_is_created_when_the_run_fails_before_it_starts(tmp_path):
    tiny = write_corpus(tmp_path, "too short\n")
    with pytest.raises(DataError):
        train(small_cfg(tiny, steps=4), tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------- the lock
def test_a_second_run_directory_on_the_same_run_is_refused_until_the_first_closes(tmp_path, corpus):
    out = tmp_path / "run"
    first = RunDirectory(out, LM)
    first.start(None)
    second = RunDirectory(out, LM)
    message = (f"{out} is in use by another bptt process (pid {os.getpid()}); wait for it to finish, or choose "
               "another --out")
    for attempt in (lambda: second.check(resume=False), lambda: second.start(None)):
        with pytest.raises(RunInUse) as exc:
            attempt()
        assert str(exc.value) == message
    with pytest.raises(RunInUse):
        train(small_cfg(corpus, steps=4), out)
    first.close()
    train(small_cfg(corpus, steps=4, eval_every=4), out)


HOLDER = textwrap.dedent("""
    import sys, time
    from bptt.training import RunDirectory
    rd = RunDirectory(sys.argv[1], "language_model")
    rd.start(None)
    print("locked", flush=True)
    time.sleep(600)
""")


def test_the_lock_is_released_when_its_process_is_killed(tmp_path, corpus):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunInUse, match=rf"in use by another bptt process \(pid {holder.pid}\)"):
            RunDirectory(out, LM).start(None)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    train(small_cfg(corpus, steps=4, eval_every=4), out)
    assert ckpt.load(out)[0]["step"] == 4


def test_a_checkpoint_that_changed_after_it_was_read_is_not_resumed(tmp_path, corpus):
    out = tmp_path / "run"
    train(small_cfg(corpus, steps=4, eval_every=4), out)
    rd = RunDirectory(out, LM)
    rd.load_checkpoint(LM, {})
    time.sleep(0.01)
    train(small_cfg(corpus, steps=8, eval_every=4), out, resume=True)  # another process continued the run
    with pytest.raises(RunDirectoryError) as exc:
        rd.start(4)
    assert str(exc.value) == (f"the checkpoint in {out} changed after it was read (another process continued the "
                              "run); run --resume again")
    assert ckpt.load(out)[0]["step"] == 8


# ---------------------------------------------------------------------------------------------- files
def test_stale_temporary_files_are_removed_on_the_next_start_and_only_those(tmp_path, corpus):
    out = tmp_path / "run"
    train(small_cfg(corpus, steps=4, eval_every=4), out)
    stale = [out / ".checkpoint-k2j4x9.npz.tmp", out / ".config-abc.json.tmp", out / ".metrics-x.jsonl.tmp",
             out / ".bptt-run-q.tmp"]
    kept = [out / ".mine.tmp", out / "checkpoint-x.npz.tmp", out / ".checkpoint-.npz.tmp"]
    for p in stale + kept:
        p.write_bytes(b"half a file")
    assert RunDirectory(out, LM)._state() == "owned"
    train(small_cfg(corpus, steps=8, eval_every=4), out, resume=True)
    assert [p.name for p in stale if p.exists()] == []
    assert [p.name for p in kept if p.exists()] == [p.name for p in kept]


def test_a_directory_holding_only_stale_temporary_files_counts_as_empty(tmp_path, corpus):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint-dead.npz.tmp").write_bytes(b"x")
    (out / ".bptt.lock").write_bytes(b"")
    train(small_cfg(corpus, steps=4, eval_every=4), out)
    assert not (out / ".checkpoint-dead.npz.tmp").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002, 0o077])
def test_every_file_gets_the_users_umask(tmp_path, corpus, umask):
    old = os.umask(umask)
    try:
        assert file_mode() == 0o666 & ~umask
        out = tmp_path / "run"
        train(small_cfg(corpus, steps=4, eval_every=4), out)
        modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    finally:
        os.umask(old)
    assert modes == dict.fromkeys([".bptt-run", ".bptt.lock", "checkpoint.npz", "config.json", "metrics.jsonl"],
                                  0o666 & ~umask)


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"old")

    def failing(fh):
        fh.write(b"new, half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as exc:
        write_atomic(target, failing)
    assert (exc.value.errno, exc.value.filename) == (28, str(target))
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert temp_affixes("checkpoint.npz") == (".checkpoint-", ".npz.tmp")
    assert temp_affixes(".bptt-run") == (".bptt-run-", ".tmp")


def test_metrics_records_with_non_finite_numbers_are_refused(tmp_path):
    rd = RunDirectory(tmp_path / "run", LM)
    rd.start(None)
    with pytest.raises(ValueError, match="the metrics record of step 3 has val_loss = nan, which is not a finite"):
        rd.append_metrics({"step": 3, "val_loss": float("nan")})
    rd.close()
    assert rd.metrics_path.read_text() == ""
