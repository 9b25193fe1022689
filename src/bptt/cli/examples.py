"""``bptt belling-the-cat``: seed 000's word-level LSTM experiment (:mod:`bptt.examples.belling_the_cat`)."""

from __future__ import annotations

import argparse
from typing import Any

from ..examples import belling_the_cat
from .args import add_command, integer

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register ``belling-the-cat`` on the main parser's sub-commands."""
    p = add_command(sub, "belling-the-cat", cmd_belling_the_cat,
                    help="seed 000's word-level LSTM experiment (one loss line per step)",
                    description="Seed 000's experiment (Deep-Breathe's tfwordslstm): a word-level LSTM with "
                    "constant weights learns to predict the next word of a sentence of Aesop's fable The Bell and "
                    "the Cat with plain SGD, printing the loss of every step (the numbers TensorFlow prints).")
    p.add_argument("--variant", choices=belling_the_cat.VARIANTS, default="uni",
                   help="uni, initstate (a learned initial state), multi (2 layers), bi (bidirectional), "
                        "bimulti (both) (default uni)")
    p.add_argument("--steps", type=integer("--steps", 1), default=200, help="SGD steps (default 200)")
    p.add_argument("--text", default=None, help="a UTF-8 text file instead of the built-in sentence")


def cmd_belling_the_cat(args: argparse.Namespace) -> int:
    argv = ["--variant", args.variant, "--steps", str(args.steps)]
    if args.text:
        argv += ["--text", args.text]
    return belling_the_cat.main(argv)
