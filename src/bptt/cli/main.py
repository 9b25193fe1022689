"""The ``bptt`` command line (also ``python -m bptt``): the main parser, one module per command group.

=================================  ==========================
``bptt train|sample|evaluate|plot``  :mod:`bptt.cli.lm`
``bptt translate ...``              :mod:`bptt.cli.translate`
``bptt explain``                    :mod:`bptt.cli.explain`
``bptt gradcheck``                  :mod:`bptt.cli.gradcheck`
``bptt export``                     :mod:`bptt.cli.export`
``bptt belling-the-cat``            :mod:`bptt.cli.examples`
=================================  ==========================

Every command validates its arguments and reports bad input as one line on stderr with a non-zero exit code
(no traceback unless ``--debug`` is given): :mod:`bptt.cli.errors`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import __version__
from . import examples, explain, export, gradcheck, lm, translate
from .args import DEBUG_HELP
from .errors import ArgumentParser, broken_pipe, run_command

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The ``bptt`` parser with every command."""
    parser = ArgumentParser(prog="bptt", description="Recurrent neural networks from first principles in NumPy.")
    parser.add_argument("--version", action="version", version=f"bptt {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", parser_class=ArgumentParser)
    lm.add_commands(sub)
    explain.add_commands(sub)
    translate.add_commands(sub)
    gradcheck.add_commands(sub)
    export.add_commands(sub)
    examples.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bptt`` with ``argv`` (default: the process's arguments); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            sys.stdout.flush()
            return 0
    except SystemExit:  # --help, --version, a usage error: their output may meet a closed pipe too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return broken_pipe("bptt")
        raise
    except BrokenPipeError:
        return broken_pipe("bptt")
    return run_command(args)
