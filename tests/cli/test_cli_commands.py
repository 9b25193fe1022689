"""The command line as a whole: every command and sub-command has help, ``python -m bptt`` is the ``bptt``
command, each error is one line from the one error path, and the training commands' flags are generated from
the run configurations' settings (their defaults, choices and help declared once)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from bptt import cli
from bptt.cli.errors import CLIError, Stopped, run_command
from bptt.training import Seq2SeqConfig, TrainConfig


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((*prefix, name))
                out += commands(sub, (*prefix, name))
    return out


ALL = commands(cli.build_parser())


def test_the_commands():
    assert ALL == [("train",), ("sample",), ("evaluate",), ("plot",), ("explain",), ("translate",),
                   ("translate", "dates"), ("translate", "train"), ("translate", "eval"), ("translate", "run"),
                   ("translate", "attention"), ("gradcheck",), ("export",), ("belling-the-cat",)]


@pytest.mark.parametrize("command", ALL, ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as ei:
        cli.main([*command, "--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bptt {' '.join(command)}")


def test_python_dash_m_bptt_is_the_bptt_command():
    proc = subprocess.run([sys.executable, "-m", "bptt", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == cli.build_parser().format_help()
    proc = subprocess.run([sys.executable, "-m", "bptt", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("bptt ")


def test_one_error_path(capsys):
    def fail(exc: BaseException):
        def func(args: argparse.Namespace) -> int:
            raise exc

        return argparse.Namespace(func=func, prog="bptt demo")

    assert run_command(fail(CLIError("bad --thing"))) == 2
    assert run_command(fail(Stopped("interrupted at step 3; continue with --resume"))) == 130
    assert run_command(fail(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err.splitlines() == [
        "bptt demo: error: bad --thing", "bptt demo: interrupted at step 3; continue with --resume",
        "bptt demo: interrupted"]


def test_a_bad_flag_is_one_line_naming_the_command(capsys):
    with pytest.raises(SystemExit) as ei:
        cli.main(["translate", "train", "--out", "x", "--num-layers", "9"])
    assert ei.value.code == 2
    assert capsys.readouterr().err == ("bptt translate train: error: --num-layers must be in [1, 4], got 9 (see bptt "
                                       "translate train --help)\n")


def subparser(*names: str):
    parser = cli.build_parser()
    for name in names:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize(("config", "command"), [(TrainConfig, ("train",)), (Seq2SeqConfig, ("translate", "train"))])
def test_every_setting_is_a_flag_with_the_declared_default_choices_and_help(config, command):
    parser = subparser(*command)
    flags = {a.dest: a for a in parser._actions}
    defaults = config()
    for s in config.settings():
        if not s.flag:
            assert s.name not in flags or flags[s.name].option_strings == [], s.name
            continue
        action = flags[s.name]
        assert action.option_strings == [f"--{s.name.replace('_', '-')}"]
        assert action.default is None  # given flags are the ones not None; the default is the dataclass's
        assert action.help.startswith(s.help)
        default = getattr(defaults, s.name)
        if default not in (None, "", False):
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            assert action.help.endswith(f"(default {shown})"), (s.name, action.help)
        if s.choices is not None:
            assert tuple(action.choices) == s.choices
    assert {s.name for s in config.settings() if s.flag} <= set(flags)
