"""The ``bptt`` command line: :func:`main` is the console entry point (``bptt = "bptt.cli:main"``)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
