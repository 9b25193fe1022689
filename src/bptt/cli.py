"""The ``bptt`` command line (also ``python -m bptt``).

Every command validates its arguments and reports bad input as one clear line on stderr with a non-zero
exit code (no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    import numpy as np

    from . import functional as F
    from .gradcheck import check_function

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
    def forward(x, p):  # type: ignore[no-untyped-def]
        import numpy as np

        from . import functional as F

        return F.dropout.forward(x, p, np.random.default_rng(1234), True)

    @staticmethod
    def backward(dy, cache):  # type: ignore[no-untyped-def]
        from . import functional as F

        return F.dropout.backward(dy, cache)


def _cmd_example(args: argparse.Namespace) -> int:
    from .examples import belling_the_cat

    argv = ["--variant", args.variant, "--steps", str(args.steps)]
    if args.text:
        argv += ["--text", args.text]
    return belling_the_cat.main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bptt",
        description="Recurrent neural networks from first principles in NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"bptt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    p = sub.add_parser("gradcheck", help="check every hand-derived backward pass against finite differences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=_positive_int, default=4, help="sequence length T (default 4)")
    p.add_argument("--batch", type=_positive_int, default=2)
    p.add_argument("--input-size", type=_positive_int, default=3)
    p.add_argument("--hidden-size", type=_positive_int, default=4)
    p.add_argument("-v", "--verbose", action="store_true", help="print the per-argument errors")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser(
        "belling-the-cat", help="seed 000's word-level LSTM experiment (one loss line per step)"
    )
    p.add_argument("--variant", choices=["uni", "initstate", "multi", "bi", "bimulti"], default="uni")
    p.add_argument("--steps", type=_positive_int, default=200)
    p.add_argument("--text", default=None, help="a UTF-8 text file instead of the built-in sentence")
    p.set_defaults(func=_cmd_example)
    return parser


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"bptt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bptt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
