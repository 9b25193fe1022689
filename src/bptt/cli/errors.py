"""The one error path of the command line: every expected failure is one line on stderr and an exit code.

A command raises :class:`CLIError` (``bptt CMD: error: MESSAGE``, exit code 2) or :class:`Stopped` (Ctrl-C
after the work was saved: ``bptt CMD: MESSAGE``, exit code 130); :func:`run_command` prints it. A usage error
(a bad flag) is one line from :class:`ArgumentParser`, exit code 2.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["ArgumentParser", "CLIError", "Stopped", "run_command"]


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""

    exit_code = 2
    prefix = "error: "


class Stopped(CLIError):
    """The command stopped on Ctrl-C after saving its work: one line on stderr, exit code 130."""

    exit_code = 130
    prefix = ""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``bptt CMD: error: ... (see bptt CMD --help)``),
    exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def run_command(args: argparse.Namespace) -> int:
    """Run the command of parsed ``args`` (``args.func``, named ``args.prog``); return its exit code."""
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"{args.prog}: {exc.prefix}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return 130
