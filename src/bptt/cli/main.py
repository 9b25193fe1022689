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
(no traceback): :mod:`bptt.cli.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import __version__
from . import examples, explain, export, gradcheck, lm, translate
from .errors import ArgumentParser, run_command

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The ``bptt`` parser with every command."""
    parser = ArgumentParser(prog="bptt", description="Recurrent neural networks from first principles in NumPy.")
    parser.add_argument("--version", action="version", version=f"bptt {__version__}")
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
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return run_command(args)
