"""``bptt gradcheck``: every hand-derived backward pass against finite differences."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .. import functional as F
from ..gradcheck import check_function
from .args import add_command, integer

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register ``gradcheck`` on the main parser's sub-commands."""
    p = add_command(sub, "gradcheck", cmd_gradcheck,
                    help="check every hand-derived backward pass against finite differences")
    p.add_argument("--seed", type=integer("--seed", 0), default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--steps", type=integer("--steps", 1), default=4, help="sequence length T (default 4)")
    p.add_argument("--batch", type=integer("--batch", 1), default=2, help="batch size B (default 2)")
    p.add_argument("--input-size", type=integer("--input-size", 1), default=3, help="input size D (default 3)")
    p.add_argument("--hidden-size", type=integer("--hidden-size", 1), default=4, help="hidden size H (default 4)")
    p.add_argument("-v", "--verbose", action="store_true", help="print the per-argument errors")


def cmd_gradcheck(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    T, B, D, H = args.steps, args.batch, args.input_size, args.hidden_size
    r = rng.standard_normal

    def lstm_args() -> list:
        return [r((T, B, D)), r((B, H)), r((B, H)), r((4 * H, D)), r((4 * H, H)), r(4 * H), r(4 * H)]

    def gru_args() -> list:
        return [r((T, B, D)), r((B, H)), r((3 * H, D)), r((3 * H, H)), r(3 * H), r(3 * H)]

    def rnn_args() -> list:
        return [r((T, B, D)), r((B, H)), r((H, D)), r((H, H)), r(H), r(H)]

    cases = [
        ("linear", F.linear, [r((B, D)), r((H, D)), r(H)], {}, ["x", "W", "b"]),
        ("embedding", F.embedding, [rng.integers(0, D, (T, B)), r((D, H))], {}, ["ids", "E"]),
        ("dropout", _SeededDropout, [r((B, D))], {"p": 0.3}, ["x"]),
        ("sigmoid", F.sigmoid, [r((B, D)) * 4], {}, ["x"]),
        ("tanh", F.tanh, [r((B, D))], {}, ["x"]),
        ("relu", F.relu, [r((B, D)) + 0.05], {}, ["x"]),
        ("softmax", F.softmax, [r((B, D))], {}, ["x"]),
        ("log_softmax", F.log_softmax, [r((B, D))], {}, ["x"]),
        ("cross_entropy", F.cross_entropy, [r((B, D)), rng.integers(0, D, B)], {}, ["logits", "target"]),
        ("lstm", F.lstm, lstm_args(), {"forget_bias": 1.0}, ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("lstm (reverse)", F.lstm, lstm_args(), {"reverse": True}, ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("gru", F.gru, gru_args(), {}, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("rnn (tanh)", F.rnn, rnn_args(), {}, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("rnn (relu)", F.rnn, rnn_args(), {"nonlinearity": "relu"}, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"]),
    ]
    failed = 0
    for name, op, inputs, kwargs, names in cases:
        report = check_function(op.forward, op.backward, inputs, kwargs=kwargs, names=names, raise_on_failure=False)
        worst = max((e[1] for e in report.errors.values()), default=0.0)
        status = "ok" if report.ok else "FAILED"
        print(f"{name:<16} {status:<6} worst relative error {worst:.2e}")
        if args.verbose or not report.ok:
            print("  " + str(report).replace("\n", "\n  "))
        failed += not report.ok
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


class _SeededDropout:
    """Dropout with a fixed mask (a fresh generator with the same seed on every call)."""

    @staticmethod
    def forward(x: np.ndarray, p: float) -> Any:
        return F.dropout.forward(x, p, np.random.default_rng(1234), True)

    @staticmethod
    def backward(dy: np.ndarray, cache: Any) -> Any:
        return F.dropout.backward(dy, cache)
