"""``bptt gradcheck``: every hand-derived backward pass against finite differences.

The list is :mod:`bptt.gradcheck.catalog`: both tiers of :mod:`bptt.functional` (the fused ops and their
textbook twins in :mod:`bptt.functional.reference`), the recurrent layers under their options (reverse,
``lengths``, projection, peepholes, layer norm, recurrent dropout), cross-entropy, the activations, dropout,
linear, embedding and the attention mechanisms.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from ..gradcheck import catalog, check_function
from .args import add_command, integer

__all__ = ["add_commands"]

MAX_SIZE = 64  # of T, B, D and H: beyond, finite differences of an LSTM take minutes

DESCRIPTION = (
    "Check every hand-derived backward pass against central finite differences in float64: the fast ops of "
    "bptt.functional and their textbook twins in bptt.functional.reference (LSTM with projection and "
    "peepholes, GRU, RNN, the layer-norm LSTM, reverse and packed sequences), cross-entropy, the activations, "
    "dropout, linear, embedding and the attention mechanisms (the list is bptt.gradcheck.catalog). Exit code 1 "
    "if any check fails. Finite differences take two forward passes per input value, so the sizes "
    "are kept small (each at most " + str(MAX_SIZE) + ")."
)


def add_commands(sub: Any) -> None:
    """Register ``gradcheck`` on the main parser's sub-commands."""
    p = add_command(sub, "gradcheck", cmd_gradcheck, description=DESCRIPTION,
                    help="check every hand-derived backward pass (both tiers) against finite differences")
    p.add_argument("--seed", type=integer("--seed", 0), default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--steps", type=integer("--steps", 1, MAX_SIZE), default=4, metavar="T",
                   help="sequence length T (default 4)")
    p.add_argument("--batch", type=integer("--batch", 1, MAX_SIZE), default=2, metavar="B",
                   help="batch size B (default 2)")
    p.add_argument("--input-size", type=integer("--input-size", 1, MAX_SIZE), default=3, metavar="D",
                   help="input size D (default 3)")
    p.add_argument("--hidden-size", type=integer("--hidden-size", 1, MAX_SIZE), default=4, metavar="H",
                   help="hidden size H, also the classes and attention units (default 4)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print the per-argument errors of passing ops")


def cmd_gradcheck(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    cases = catalog.cases(rng, args.steps, args.batch, args.input_size, args.hidden_size)
    width = max(len(case.name) for case in cases) + 2
    failed = 0
    for case in cases:
        report = check_function(case.op.forward, case.op.backward, case.inputs, kwargs=case.kwargs,
                                names=case.names, raise_on_failure=False)
        worst = max((e[1] for e in report.errors.values()), default=0.0)
        print(f"{case.name:<{width}} {'ok' if report.ok else 'FAILED':<6} worst relative error {worst:.2e}",
              flush=True)
        if args.verbose or not report.ok:
            print("  " + str(report).replace("\n", "\n  "))
        failed += not report.ok
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0
