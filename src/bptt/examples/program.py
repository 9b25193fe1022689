"""How an example runs as a program (``python -m bptt.examples.<name>``): its ``main`` with the expected ways
of ending a program turned into exit codes instead of tracebacks, as the ``bptt`` command does.

- The reader closed the output early (``python -m bptt.examples.belling_the_cat | head -1``): one line on
  stderr, exit code 2, and standard output pointed at ``os.devnull`` so that the interpreter's final flush
  does not raise again.
- Ctrl-C: one line on stderr, exit code 130.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["run_program"]


def run_program(main: Callable[[Sequence[str] | None], int], prog: str, argv: Sequence[str] | None = None) -> int:
    """``main(argv)``'s exit code; a closed output pipe is exit code 2 and Ctrl-C 130, each with one line
    on stderr naming ``prog``."""
    try:
        return main(argv)
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor: nothing to redirect
            pass
        print(f"{prog}: error: the output was closed before the program finished (broken pipe); the rest was "
              "not written", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
