"""The one error path of the command line: every expected failure is one line on stderr and an exit code.

=====================================================================  ============================================
what happened                                                          stderr (one line), exit code
=====================================================================  ============================================
a bad flag (argparse)                                                  ``bptt CMD: error: ... (see bptt CMD --help)``, 2
a :class:`CLIError`, or an expected error of the library: bad data,    ``bptt CMD: error: MESSAGE``, 2
bad checkpoint, an output directory that is not the run's, training
that cannot go on, a request larger than the memory available
an ``OSError`` (a full disk, no permission, a path under a file, ...)  ``bptt CMD: error: FILE: REASON (FIX)``, 2
the output closed early (``bptt CMD | head -1``: a broken pipe)        ``bptt CMD: error: the output was closed ...``, 2
Ctrl-C after the work was saved (:class:`Stopped`)                     ``bptt CMD: MESSAGE``, 130
Ctrl-C elsewhere                                                       ``bptt CMD: interrupted``, 130
anything else: a bug in bptt                                           ``bptt CMD: internal error ...``, 1
=====================================================================  ============================================

In the processes of an MPI launch (``mpiexec -n N bptt train``) an error every process meets alike is printed
once: :class:`Reported` is the exit of the processes whose error another one printed, and a usage error is
printed by rank 0 only (every process parses the same flags).

No traceback is ever printed, and no warning (NumPy's overflow warnings included: results that are not finite
are detected where they matter and reported as errors), unless ``--debug`` is given (then every error shows
its traceback and warnings are shown).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import warnings
from typing import Any

import numpy as np

from ..data import DataError
from ..models.checkpoint import CheckpointError
from ..nn.checks import MemoryLimitError
from ..training import RunDirectoryError, TrainingError
from ..training.distributed import launcher_rank

__all__ = ["ArgumentParser", "CLIError", "EXPECTED", "HelpFormatter", "Reported", "Stopped", "broken_pipe",
           "describe_os_error", "run_command"]


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""

    exit_code = 2
    prefix = "error: "


class Stopped(CLIError):
    """The command stopped on Ctrl-C after saving its work: one line on stderr, exit code 130."""

    exit_code = 130
    prefix = ""


class Reported(CLIError):
    """Exit with ``exit_code`` and print nothing: another process of the run reported the error."""

    def __init__(self, exit_code: int) -> None:
        super().__init__("")
        self.exit_code = exit_code


#: the library's errors that describe the user's input or machine, not a bug: one line, exit code 2
EXPECTED: tuple[type[Exception], ...] = (DataError, CheckpointError, RunDirectoryError, TrainingError,
                                          MemoryLimitError, FloatingPointError)

_REASONS = {
    errno.ENOSPC: ("no space left on device", "free some space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EACCES: ("permission denied", "check its permissions or choose another path"),
    errno.EPERM: ("operation not permitted", "check its permissions or choose another path"),
    errno.EROFS: ("read-only file system", "choose a path on a writable file system"),
    errno.ENOTDIR: ("a component of the path is a file, not a directory", "check the path"),
    errno.EISDIR: ("is a directory", "give a file name"),
    errno.ENOENT: ("no such file or directory", "check the path"),
    errno.ENAMETOOLONG: ("file name too long", "use a shorter path"),
    errno.ELOOP: ("too many levels of symbolic links", "check the path"),
    errno.EEXIST: ("already exists", "choose another path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n)"),
}


def describe_os_error(exc: OSError) -> str:
    """``FILE: REASON (FIX)`` for an ``OSError`` (``no space left on device (free some space or write
    elsewhere)``)."""
    reason, fix = _REASONS.get(exc.errno or -1, ((exc.strerror or str(exc)).lower(), ""))
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    text = f"{where}: {reason}" if where else reason
    return f"{text} ({fix})" if fix else text


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with every option's default shown (``(default X)``) unless its help already says it or
    it has none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False \
                or action.default is argparse.SUPPRESS or action.nargs == 0:
            return text
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            return text
        return f"{text} (default %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``bptt CMD: error: ... (see bptt CMD --help)``),
    exit code 2, and the help shows every default (:class:`HelpFormatter`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        if launcher_rank() != 0:  # another process of an MPI launch, which parses the same flags, says it
            self.exit(2)
        m = re.fullmatch(r"argument ([^:]+): (.*)", message, flags=re.S)
        if m and any(m.group(2).startswith(flag + " ") for flag in m.group(1).split("/")):
            message = m.group(2)  # "argument --seed: --seed must be ..." says --seed once
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _report(prog: str, message: str) -> None:
    try:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr itself is closed: nothing more to say
        pass


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the final flush at exit cannot fail on a closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def broken_pipe(prog: str) -> int:
    """Report a closed output (one line, exit code 2) and make sure nothing more is written to it."""
    _quiet_stdout()
    _report(prog, _classify(BrokenPipeError())[1])
    return 2


def run_command(args: argparse.Namespace) -> int:
    """Run the command of parsed ``args`` (``args.func``, named ``args.prog``); return its exit code. Every
    error becomes one line on stderr (see the module docstring); ``args.debug``: re-raised with its
    traceback."""
    prog, debug = args.prog, getattr(args, "debug", False)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore" if not debug else "warn"):
            if not debug:  # one line on stderr: non-finite results are checked where they matter and reported
                warnings.simplefilter("ignore")
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe is found here, not in the interpreter's final flush
        return code
    except Exception as exc:  # noqa: BLE001 - sorted into expected (exit 2) and bugs (exit 1) below
        if isinstance(exc, BrokenPipeError):
            _quiet_stdout()
        if debug:
            raise
        if isinstance(exc, Reported):  # another process of the run printed it
            return exc.exit_code
        code, message = _classify(exc)
        _report(prog, message)
        return code
    except KeyboardInterrupt:
        if debug:
            raise
        _report(prog, "interrupted")
        return 130


def _classify(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, CLIError):
        return exc.exit_code, f"{exc.prefix}{exc}"
    if isinstance(exc, BrokenPipeError):
        return 2, "error: the output was closed before the command finished (broken pipe); the rest was not written"
    if isinstance(exc, EXPECTED):
        return 2, f"error: {exc}"
    if isinstance(exc, MemoryError):
        detail = f" ({exc})" if str(exc) else ""
        return 2, f"error: not enough memory{detail}; use smaller settings or a bigger machine"
    if isinstance(exc, OSError):
        return 2, f"error: {describe_os_error(exc)}"
    return 1, (f"internal error (a bug in bptt): {type(exc).__name__}: {exc}; run the command again with --debug "
               "for the traceback, and please report it")
