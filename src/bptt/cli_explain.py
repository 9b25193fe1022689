"""``bptt explain``: write the HTML page of :mod:`bptt.viz.explain` (seed 000's figures from a live model).

Wire it into the main parser with :func:`add_parser`; it sets ``func`` on the parsed namespace, which prints
one-line errors itself (``bptt explain: error: ...``, exit code 2), so it needs nothing from ``bptt.cli``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

DESCRIPTION = (
    "Write one self-contained HTML page (inline SVG, no network) that regenerates seed 000's figures from a "
    "real forward and backward pass: the forward summary with weights, the flow diagram of one cell, then one "
    "panel per backward quantity in the seed's order (dHt, dOt, dCt, dCprojt, dFt, dIt, dHX, dC_next) with its "
    "equation, shape, values at a time step, the tensors it depends on and bptt's source lines, and the chain of "
    "dh_next/dc_next back through time. Default: the seed's own example (belling the cat: hidden 5, a 3-word "
    "window)."
)


def _int(flag: str, minimum: int | None = None):  # type: ignore[no-untyped-def]
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer, got {s!r}") from None
        if minimum is not None and v < minimum:
            raise argparse.ArgumentTypeError(f"{flag} must be >= {minimum}, got {v}")
        return v

    return parse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``explain`` command on ``subparsers`` (from ``parser.add_subparsers()``); return its parser."""
    p = subparsers.add_parser("explain", help="HTML page of seed 000's BPTT figures from a live model",
                              description=DESCRIPTION)
    p.add_argument("--out", default="explain.html", metavar="FILE", help="HTML file to write (default explain.html)")
    p.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="a trained language model (bptt train's output directory) instead of the seed's example")
    p.add_argument("--text", default=None,
                   help="with --checkpoint: the input text (default: the model's default prime, continued by "
                        "its own samples)")
    p.add_argument("--length", type=_int("--length", 1), default=8,
                   help="with --checkpoint: number of time steps (default 8)")
    p.add_argument("--variant", choices=["uni", "initstate", "multi", "bi"], default="uni",
                   help="seed example variant (default uni; multi: 2 layers, bi: bidirectional)")
    p.add_argument("--step", type=_int("--step"), default=None, metavar="T",
                   help="time step shown first (default: the last, where the backward pass starts; negative "
                        "counts from the end; the page can switch steps)")
    p.add_argument("--layer", type=_int("--layer"), default=0, help="layer (default 0)")
    p.add_argument("--direction", choices=["forward", "reverse"], default="forward",
                   help="direction of a bidirectional layer (default forward)")
    p.add_argument("--batch-index", type=_int("--batch-index"), default=0, metavar="B",
                   help="sequence of the batch (default 0)")
    p.add_argument("--flow", action="store_true",
                   help="also compute the gradient-flow pictures (RNN vs GRU vs LSTM, per-gate norms over "
                        "training; needs matplotlib): PNGs next to --out, embedded in the page")
    p.add_argument("--npz", metavar="FILE", default=None, help="also save the recorded trace (.npz)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``bptt explain`` for parsed ``args``; bad input gives one line on stderr and exit code 2."""
    from .viz import explain as E  # noqa: PLC0415 - keep `bptt --help` fast
    from .viz.flow import FlowError  # noqa: PLC0415

    try:
        out = E.explain(args.out, checkpoint=args.checkpoint, text=args.text, length=args.length,
                        variant=args.variant, step=args.step, layer=args.layer, direction=args.direction,
                        batch_index=args.batch_index, flow=args.flow, npz=args.npz)
    except (E.ExplainError, FlowError) as exc:
        print(f"bptt explain: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"bptt explain: error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    if args.flow:
        stem = out.with_suffix("")
        print(f"wrote {stem.parent / (stem.name + '_gradient_flow.png')}")
        print(f"wrote {stem.parent / (stem.name + '_gate_norms.png')}")
    if args.npz:
        print(f"wrote {args.npz}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m bptt.cli_explain [options]`` (same options as ``bptt explain``)."""
    parser = argparse.ArgumentParser(prog="bptt")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["explain", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
