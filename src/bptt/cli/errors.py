"""The one error path of the command line: every expected failure is one line on stderr and an exit code.

A command raises :class:`CLIError` (``bptt CMD: error: MESSAGE``, exit code 2) or :class:`Stopped` (Ctrl-C
after the work was saved: ``bptt CMD: MESSAGE``, exit code 130); :func:`run_command` prints it. A usage error
(a bad flag) is one line from :class:`ArgumentParser`, exit code 2.

In the processes of an MPI launch (``mpiexec -n N bptt train``) an error every process meets alike is printed
once: :class:`Reported` is the exit of the processes whose error another one printed, and a usage error is
printed by rank 0 only (every process parses the same flags).
"""

from __future__ import annotations

import argparse
import sys

from ..training.distributed import launcher_rank

__all__ = ["ArgumentParser", "CLIError", "Reported", "Stopped", "run_command"]


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


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``bptt CMD: error: ... (see bptt CMD --help)``),
    exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if launcher_rank() != 0:  # another process of an MPI launch, which parses the same flags, says it
            self.exit(2)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def run_command(args: argparse.Namespace) -> int:
    """Run the command of parsed ``args`` (``args.func``, named ``args.prog``); return its exit code."""
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        if not isinstance(exc, Reported):
            print(f"{args.prog}: {exc.prefix}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return 130
