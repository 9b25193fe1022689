"""An example run as a program (``python -m bptt.examples.<name>``) ends a closed pipe and Ctrl-C as the
``bptt`` command does: one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bptt.examples.program import run_program
from cases.cli import env


def test_a_closed_pipe_is_one_line_and_exit_code_2():
    # the reader takes one line and closes the pipe, as `python -m bptt.examples.belling_the_cat | head -1`
    proc = subprocess.Popen([sys.executable, "-m", "bptt.examples.belling_the_cat", "--steps", "5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 2
    assert first.startswith("step 1 loss ")
    assert err == ("python -m bptt.examples.belling_the_cat: error: the output was closed before the program "
                   "finished (broken pipe); the rest was not written\n")


@pytest.mark.parametrize(("exc", "code", "line"), [
    (BrokenPipeError, 2, "demo: error: the output was closed before the program finished (broken pipe); the rest "
     "was not written\n"),
    (KeyboardInterrupt, 130, "demo: interrupted\n"),
])
def test_run_program_maps_the_endings_to_exit_codes(exc, code, line, capsys, monkeypatch):
    def main(argv):
        raise exc()

    redirected: list = []
    monkeypatch.setattr("os.dup2", lambda fd, fd2: redirected.append(fd2))  # keep pytest's own stdout intact
    monkeypatch.setattr("sys.stdout.fileno", lambda: 1)
    assert run_program(main, "demo") == code
    assert capsys.readouterr().err == line
    assert redirected == ([1] if exc is BrokenPipeError else [])


def test_run_program_returns_mains_exit_code():
    assert run_program(lambda argv: 3, "demo", ["x"]) == 3
