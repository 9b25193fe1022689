"""The command line as a hostile user meets it: every flag checked before work starts (finite, in range,
within the memory the machine has), one error path (one line on stderr, exit 2; 1 for a bug; 130 for Ctrl-C;
a traceback only with --debug), broken pipes, non-finite results, files the user owns never replaced, and
--help that describes every option with its default.

In-process runs (``cli.main``) check the messages quickly; subprocesses check what only a real process shows
(no traceback, exit codes, a closed pipe, Ctrl-C).
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from bptt import cli
from bptt.cli.errors import HelpFormatter, run_command
from bptt.cli.outputs import MARK, is_bptt_output
from bptt.data import dates
from bptt.models import checkpoint as ckpt
from bptt.models.io import load_language_model
from bptt.nn.checks import MemoryLimitError, format_bytes
from bptt.training.lm import train
from bptt.training.seq2seq import Seq2SeqConfig
from bptt.training.seq2seq import train as train_translator
from cases.cli import assert_error, bptt_command, env, one_line_error, run_bptt, small_tmpfs, snapshot
from cases.lm import small_cfg, word_text, write_corpus


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    corpus = write_corpus(d, word_text(300))
    train(small_cfg(corpus, steps=20, eval_every=10, log_every=5), d / "run")
    return d / "run", corpus


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    d = tmp_path_factory.mktemp("seq2seq")
    paths = dates.write_tsv(d, 60, 20, 5, seed=1)
    cfg = Seq2SeqConfig(train=str(paths["train"]), val=str(paths["val"]), level="char", hidden_size=8,
                        embedding_size=4, batch_size=8, steps=6, eval_every=3, log_every=3)
    train_translator(cfg, d / "run")
    return d / "run", paths


def error_of(capsys, *argv: object) -> tuple[int, str]:
    """Exit code and stderr of ``bptt ARGV`` run in process (a usage error exits through SystemExit)."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err


# ---------------------------------------------------------------------------------------------- flags
BAD_FLAGS = [
    (["train", "--epochs", "inf"], "bptt train: error: --epochs must be in (0, 1000000], got inf (see bptt train "
     "--help)"),
    (["train", "--epochs", "nan"], "bptt train: error: --epochs must be in (0, 1000000], got nan (see bptt train "
     "--help)"),
    (["train", "--lr", "-1"], "bptt train: error: --lr must be > 0, got -1 (see bptt train --help)"),
    (["train", "--lr", "1e999"], "bptt train: error: --lr must be > 0, got 1e999 (see bptt train --help)"),
    (["train", "--hidden-size", "1.5"], "bptt train: error: --hidden-size must be an integer, got '1.5' (see bptt "
     "train --help)"),
    (["train", "--steps", str(10**13)], "bptt train: error: --steps must be in [1, 1000000000000], got "
     "10000000000000 (see bptt train --help)"),
    (["train", "--sample-length", str(10**9)], "bptt train: error: --sample-length must be in [1, 100000], got "
     "1000000000 (see bptt train --help)"),
    (["train", "--dropout", "1"], "bptt train: error: --dropout must be in [0, 1), got 1 (see bptt train --help)"),
    (["sample", "x", "--seed", "-1"], "bptt sample: error: --seed must be a non-negative integer, got -1 (see bptt "
     "sample --help)"),
    (["sample", "x", "--temperature", "nan"], "bptt sample: error: --temperature must be > 0, got nan (see bptt "
     "sample --help)"),
    (["sample", "x", "--length", "-1"], "bptt sample: error: --length must be a non-negative integer, got -1 (see "
     "bptt sample --help)"),
    (["translate", "run", "x", "y", "--length-penalty", "1e308"], "bptt translate run: error: --length-penalty must "
     "be in [0, 10], got 1e308 (see bptt translate run --help)"),
    (["translate", "run", "x", "y", "--beam", "100000"], "bptt translate run: error: --beam must be in [1, 1000], "
     "got 100000 (see bptt translate run --help)"),
    (["explain", "--length", str(10**6)], "bptt explain: error: --length must be in [1, 2000], got 1000000 (see "
     "bptt explain --help)"),
    (["gradcheck", "--hidden-size", "1000"], "bptt gradcheck: error: --hidden-size must be in [1, 64], got 1000 "
     "(see bptt gradcheck --help)"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS, ids=[" ".join(a[:3]) for a, _ in BAD_FLAGS])
def test_a_bad_flag_is_refused_before_any_work(capsys, argv, message):
    code, err = error_of(capsys, *argv)
    assert (code, err) == (2, message + "\n")


def test_an_unknown_choice_names_the_flag(capsys):
    code, err = error_of(capsys, "evaluate", "x", "--unk", "replace")
    assert code == 2
    assert err.startswith("bptt evaluate: error: argument --unk: invalid choice: 'replace' (choose from ")
    assert err.endswith(" (see bptt evaluate --help)\n") and err.count("\n") == 1


def test_settings_too_big_for_the_memory_are_refused_with_the_number(lm, capsys, tmp_path):
    _, corpus = lm
    code, err = error_of(capsys, "train", corpus, "--hidden-size", 10**9, "--num-layers", "2", "--seq-length", "8",
                         "--batch-size", "4", "--val-fraction", "0.1", "--out", tmp_path / "big")
    assert code == 2
    assert err.startswith("bptt train: error: training this model (12,000,000,111,000,000,019 parameters: "
                          "--hidden-size 1000000000, --num-layers 2, vocabulary 19; batch 4 x 8 tokens) needs about ")
    assert err.endswith(" available: choose a smaller --hidden-size, --num-layers, --batch-size or --seq-length\n")
    assert not (tmp_path / "big").exists()


def test_memory_messages_and_library_refusals(lm):
    assert format_bytes(640 * 2**30) == "640.0 GiB"
    assert format_bytes(10**30).endswith(" EiB")
    model, vocab, _ = load_language_model(lm[0])
    with pytest.raises(MemoryLimitError, match=r"LanguageModel.generate: 1,000,000,000,000,000,000 token ids needs "
                                               r"about 6.9 EiB of memory"):
        model.generate(vocab.encode("the"), 10**18)
    assert len(list(zip(range(5), model.sample(vocab.encode("the"), rng=0), strict=False))) == 5


def test_decoding_longer_than_the_memory_is_refused(translator, capsys):
    run_dir, _ = translator
    code, err = error_of(capsys, "translate", "run", run_dir, "May 3", "--max-length", 10**15)
    assert code == 2
    assert err.startswith("bptt translate run: error: decoding up to 1,000,000,000,000,000 tokens needs about ")
    assert err.endswith(" available: lower --max-length\n")


def test_a_huge_length_penalty_ranks_stably_without_warnings(translator):
    run_dir, _ = translator
    from bptt.models.io import load_translator

    model, src, _, _ = load_translator(run_dir)
    ids = [src.encode(list("May 3, 1979"), unk="replace")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy overflow warning would fail here
        with np.errstate(all="raise"):
            huge = model.translate(ids, beam_width=4, length_penalty=1e300, max_length=12)
            usual = model.translate(ids, beam_width=4, length_penalty=0.6, max_length=12)
    assert np.isfinite(huge.scores).all() and np.isfinite(usual.scores).all()
    assert not np.isnan(huge.normalized_scores).any()
    # a huge penalty prefers the longest hypothesis: none of the kept beams is longer
    assert len(huge.tokens[0]) >= len(usual.tokens[0])


# ---------------------------------------------------------------------------------------------- one error path
def _failing(exc: BaseException, debug: bool = False) -> argparse.Namespace:
    def func(args: argparse.Namespace) -> int:
        raise exc

    return argparse.Namespace(func=func, prog="bptt demo", debug=debug)


def test_one_error_path_sorts_every_failure(capsys):
    cases = [
        (OSError(28, "No space left on device", "/x/ckpt.npz"), 2,
         "bptt demo: error: /x/ckpt.npz: no space left on device (free some space or write elsewhere)"),
        (PermissionError(13, "Permission denied", "/etc/x"), 2,
         "bptt demo: error: /etc/x: permission denied (check its permissions or choose another path)"),
        (NotADirectoryError(20, "Not a directory", "f/x"), 2,
         "bptt demo: error: f/x: a component of the path is a file, not a directory (check the path)"),
        (IsADirectoryError(21, "Is a directory", "d"), 2, "bptt demo: error: d: is a directory (give a file name)"),
        (MemoryError(), 2, "bptt demo: error: not enough memory; use smaller settings or a bigger machine"),
        (MemoryLimitError("x needs about 1.0 GiB"), 2, "bptt demo: error: x needs about 1.0 GiB"),
        (KeyboardInterrupt(), 130, "bptt demo: interrupted"),
        (KeyError("oops"), 1, "bptt demo: internal error (a bug in bptt): KeyError: 'oops'; run the command again "
                              "with --debug for the traceback, and please report it"),
    ]
    for exc, code, message in cases:
        assert run_command(_failing(exc)) == code
        assert capsys.readouterr().err == message + "\n"
    with pytest.raises(KeyError):
        run_command(_failing(KeyError("oops"), debug=True))


def test_debug_shows_the_traceback_and_only_then(tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"junk")
    plain = run_bptt("sample", tmp_path)
    assert_error(plain, f"bptt sample: error: {tmp_path / 'checkpoint.npz'} is not a bptt checkpoint: it is not a "
                        "zip (.npz) file")
    for argv in (["--debug", "sample", tmp_path], ["sample", tmp_path, "--debug"]):
        debug = run_bptt(*argv)
        assert debug.returncode == 1 and debug.stderr.startswith("Traceback (most recent call last)")
        assert debug.stderr.endswith("is not a bptt checkpoint: it is not a zip (.npz) file\n")


# ---------------------------------------------------------------------------------------------- pipes and Ctrl-C
def _closed_early(argv: list, read: int) -> subprocess.CompletedProcess:
    """Run ``bptt ARGV`` reading only ``read`` bytes of its output, then close the pipe (like ``| head -c``)."""
    proc = subprocess.Popen(bptt_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    first = proc.stdout.read(read)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first
    return subprocess.CompletedProcess(argv, proc.returncode, first.decode(errors="replace"), err)


@pytest.mark.parametrize("argv", [["belling-the-cat"], ["gradcheck"], ["sample", "LM", "--length", str(10**12)]],
                         ids=["belling-the-cat", "gradcheck", "sample"])
def test_a_closed_pipe_is_one_line(lm, argv):
    argv = [str(lm[0]) if a == "LM" else a for a in argv]
    proc = _closed_early(argv, 10)
    assert_error(proc, f"bptt {argv[0]}: error: the output was closed before the command finished (broken pipe); "
                       "the rest was not written")


def test_ctrl_c_stops_an_endless_sample(lm):
    proc = subprocess.Popen(bptt_command("sample", lm[0], "--length", 10**12), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env())
    assert proc.stdout.read(200)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (130, "bptt sample: interrupted\n")


# ---------------------------------------------------------------------------------------------- non-finite results
def test_a_model_whose_outputs_overflow_is_an_error_not_nan(lm, tmp_path):
    run_dir, corpus = lm
    meta, params, arrays = ckpt.load(run_dir)
    for name in params:  # every gate open, the cell saturated (h = 1): logits 16 x 3e38 overflow float32
        if name.startswith("rnn.bias"):
            params[name] = np.full_like(params[name], 50.0)
    params["head.weight"] = np.full_like(params["head.weight"], 3e38)
    bad = tmp_path / "bad"
    ckpt.save(bad / "checkpoint.npz", {k: v for k, v in meta.items() if k not in ("format", "version")}, params,
              arrays)
    # in a real process: exactly one line, no NumPy overflow warnings
    assert_error(run_bptt("evaluate", bad, corpus), f"bptt evaluate: error: the model's loss on {corpus} is not "
                                                    "finite (nan): the model is damaged or diverged")
    assert_error(run_bptt("sample", bad, "--length", "5"), f"bptt sample: error: {bad}: the model's logits are not "
                                                           "finite at sampled token 0 (the model is damaged or "
                                                           "diverged)")


def test_evaluate_defaults_to_the_runs_validation_split_and_has_unk(lm, tmp_path, capsys):
    run_dir, corpus = lm
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert cli.main(["evaluate", str(run_dir)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["text"] == f"the validation split of {corpus}"
    assert result["nats_per_token"] == records[-1]["val_loss"]
    other = write_corpus(tmp_path, "the cat sat on a mat QQ\n", "other.txt")
    code, err = error_of(capsys, "evaluate", run_dir, other)
    assert (code, err) == (2, f"bptt evaluate: error: {other}: 1 characters not in the model's vocabulary: 'Q' (pass "
                              "--unk skip to leave them out)\n")
    assert cli.main(["evaluate", str(run_dir), other, "--unk", "skip"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["tokens"], result["skipped_tokens"]) == (22, 2)


# ---------------------------------------------------------------------------------------------- files the user owns
def test_plot_never_replaces_a_users_file(lm, tmp_path, capsys):
    run_dir, _ = lm
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my holiday picture")
    before = snapshot(tmp_path)
    code, err = error_of(capsys, "plot", run_dir, "--out", mine)
    assert (code, err) == (2, f"bptt plot: error: --out {mine} exists and was not written by bptt; pass --force to "
                              "replace it, or choose another file\n")
    for out, message in ((tmp_path / "x.jpg", f"--out {tmp_path / 'x.jpg'}: unsupported file type .jpg; use .png or "
                                              ".svg or .pdf"),
                         (tmp_path, f"--out {tmp_path} is a directory; give a file name such as "
                                    f"{tmp_path / 'output.png'}"),
                         (tmp_path / "no" / "x.png", f"--out {tmp_path / 'no' / 'x.png'}: the directory "
                                                     f"{tmp_path / 'no'} does not exist (create it first)"),
                         (mine / "x.png", f"--out {mine / 'x.png'}: {mine} is a file, not a directory")):
        code, err = error_of(capsys, "plot", run_dir, "--out", out)
        assert (code, err) == (2, f"bptt plot: error: {message}\n")
    assert snapshot(tmp_path) == before
    for fmt in ("png", "svg", "pdf"):
        out = tmp_path / f"curves.{fmt}"
        assert cli.main(["plot", str(run_dir), "--out", str(out)]) == 0
        assert is_bptt_output(out)
        assert cli.main(["plot", str(run_dir), "--out", str(out)]) == 0  # bptt's own file: replaced
    assert cli.main(["plot", str(run_dir), "--out", str(mine), "--force"]) == 0
    assert mine.read_bytes().startswith(b"\x89PNG") and MARK.encode() in mine.read_bytes()[:4096]
    capsys.readouterr()


def test_plot_refuses_metrics_that_bptt_did_not_write(tmp_path, capsys):
    d = tmp_path / "run"
    d.mkdir()
    cases = {
        b'{"step": 1, "train_loss": 2.0}\n{"step": 2}\n': "metrics.jsonl, line 2: train_loss must be a finite "
                                                          "number, got None",
        b'{"step": 1, "train_loss": 2.0}\n[1, 2]\n': "metrics.jsonl, line 2: not a JSON object",
        b'{"step": -1, "train_loss": 2.0}\n': "metrics.jsonl, line 1: step must be a non-negative integer, got -1",
        b"\xff\xfe\x00": "metrics.jsonl is not UTF-8 text (byte 0)",
    }
    for payload, message in cases.items():
        (d / "metrics.jsonl").write_bytes(payload)
        code, err = error_of(capsys, "plot", d)
        assert (code, err) == (2, f"bptt plot: error: {d / message}; it is not a metrics file bptt wrote\n")
    (d / "metrics.jsonl").write_bytes(b'{"step": 1, "train_loss": 2.0}\n{"step": 2, "train_lo')  # a killed writer
    assert cli.main(["plot", str(d)]) == 0
    (d / "metrics.jsonl").unlink()
    (d / "metrics.jsonl").mkdir()
    assert error_of(capsys, "plot", d) == (2, f"bptt plot: error: {d / 'metrics.jsonl'} is a directory, not a "
                                              "metrics file\n")
    assert error_of(capsys, "plot", tmp_path / "none") == (2, f"bptt plot: error: {tmp_path / 'none'} does not "
                                                               "exist\n")


def test_explain_and_attention_outputs_follow_the_same_rule(translator, tmp_path, capsys):
    run_dir, _ = translator
    mine = tmp_path / "page.html"
    mine.write_text("<p>my page</p>")
    code, err = error_of(capsys, "explain", "--out", mine)
    assert (code, err) == (2, f"bptt explain: error: --out {mine} exists and was not written by bptt; pass --force "
                              "to replace it, or choose another file\n")
    assert mine.read_text() == "<p>my page</p>"
    page = tmp_path / "explain.html"
    assert cli.main(["explain", "--out", str(page), "--variant", "bimulti"]) == 0
    assert cli.main(["explain", "--out", str(page)]) == 0  # its own page: replaced
    assert page.read_text().endswith(f"<!-- {MARK} -->\n")
    heat = tmp_path / "heat.png"
    heat.write_bytes(b"mine")
    code, err = error_of(capsys, "translate", "attention", run_dir, "May 3", "--out", heat)
    assert (code, err) == (2, f"bptt translate attention: error: --out {heat} exists and was not written by bptt; "
                              "pass --force to replace it, or choose another file\n")
    assert cli.main(["translate", "attention", str(run_dir), "May 3", "--out", str(heat), "--force"]) == 0
    assert cli.main(["translate", "attention", str(run_dir), "May 3", "--out", str(heat)]) == 0
    assert is_bptt_output(heat)
    capsys.readouterr()


def test_translate_dates_never_replaces_other_content(tmp_path, capsys):
    d = tmp_path / "data"
    assert cli.main(["translate", "dates", str(d), "--train-size", "50", "--val-size", "5", "--test-size", "5"]) == 0
    assert cli.main(["translate", "dates", str(d), "--train-size", "50", "--val-size", "5", "--test-size", "5"]) == 0
    before = snapshot(d)
    code, err = error_of(capsys, "translate", "dates", d, "--train-size", "60", "--val-size", "5", "--test-size", "5")
    assert (code, err) == (2, f"bptt translate dates: error: {d / 'dates_train.tsv'} exists with other content; "
                              "pass --force to replace it, or choose another DIR\n")
    assert snapshot(d) == before
    assert cli.main(["translate", "dates", str(d), "--train-size", "60", "--val-size", "5", "--test-size", "5",
                     "--force"]) == 0
    capsys.readouterr()


def test_a_full_disk_while_writing_a_picture(lm, tmp_path):
    with small_tmpfs(tmp_path / "disk", "64k") as disk:
        (disk / "filler").write_bytes(b"\0" * (60 << 10))
        out = disk / "loss.png"
        proc = run_bptt("plot", lm[0], "--out", out)
        assert_error(proc, f"bptt plot: error: {out}: no space left on device (free some space or write elsewhere)")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


# ---------------------------------------------------------------------------------------------- help
def _actions(parser: argparse.ArgumentParser, name: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _actions(p, f"{name} {sub}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield name, action


def test_every_option_has_a_description_and_shows_its_default():
    missing = []
    for name, action in _actions(cli.build_parser(), "bptt"):
        shown = HelpFormatter("bptt")._get_help_string(action)
        positional_or_required = not action.option_strings or action.required
        if not action.help or (action.nargs != 0 and not positional_or_required and "default" not in shown):
            missing.append(f"{name} {action.option_strings or action.dest}")
    assert missing == []


def test_every_command_has_a_description():
    parser = cli.build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)][0]
    for name, p in subs.choices.items():
        assert p.description, name
        help_text = io.StringIO()
        p.print_help(help_text)
        if name in ("explain", "belling-the-cat"):
            assert "Seed 000 is the worked example this project started from" in " ".join(help_text.getvalue().split())


def test_explain_accepts_every_variant_belling_the_cat_does():
    from bptt.cli import explain
    from bptt.examples import belling_the_cat

    assert explain.VARIANTS == belling_the_cat.VARIANTS


def test_no_traceback_for_a_path_under_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    proc = run_bptt("translate", "dates", f / "sub")
    line = one_line_error(proc)
    assert "Traceback" not in proc.stderr and line.startswith("bptt translate dates: error: ")
    assert Path(f).read_text() == "x"
