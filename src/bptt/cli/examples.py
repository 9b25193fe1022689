"""``bptt belling-the-cat``: seed 000's word-level LSTM experiment (:mod:`bptt.examples.belling_the_cat`)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..examples import belling_the_cat
from .args import SEED_000, add_command, integer
from .errors import CLIError

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register ``belling-the-cat`` on the main parser's sub-commands."""
    p = add_command(sub, "belling-the-cat", cmd_belling_the_cat,
                    help="seed 000's word-level LSTM experiment (one loss line per step)",
                    description="Seed 000's experiment (Deep-Breathe's tfwordslstm): a word-level LSTM with "
                    "constant weights learns to predict the next word of a sentence of Aesop's fable The Bell and "
                    "the Cat with plain SGD, printing the loss of every step (the numbers TensorFlow prints). "
                    f"{SEED_000}.")
    p.add_argument("--variant", choices=belling_the_cat.VARIANTS, default="uni",
                   help="uni, initstate (a learned initial state), multi (2 layers), bi (bidirectional), "
                        "bimulti (both) (default uni)")
    p.add_argument("--steps", type=integer("--steps", 1), default=200, help="SGD steps (default 200)")
    p.add_argument("--text", default=None, metavar="FILE",
                   help="a UTF-8 text file instead of the built-in sentence (default: the sentence)")


def cmd_belling_the_cat(args: argparse.Namespace) -> int:
    def emit(step: int, loss: float) -> None:
        if not math.isfinite(loss):
            raise CLIError(f"the loss of step {step} is not finite ({loss})")
        print(f"step {step} loss {loss:.10f}", flush=True)  # as it comes: a closed pipe stops the run at once

    try:
        text = None if args.text is None else belling_the_cat.load_text(args.text)
        belling_the_cat.run(args.variant, args.steps, text, callback=emit)
    except ValueError as exc:
        raise CLIError(str(exc).removeprefix("belling_the_cat: ")) from None
    return 0
