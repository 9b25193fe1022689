"""What tracing costs: forward + backward of a ``bptt.nn`` layer untraced (the fused ops) and inside
``bptt.trace()`` (the reference tier, plus stacking the recorded arrays).

Interleaved in one process: each repetition runs the untraced pass and the traced pass once each (the order
alternating), after one untimed warm-up call of the same kind; medians of ``--repeats`` timed runs,
``time.perf_counter``. NumPy only.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_trace.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_trace.py --off-only   # untraced only (compare two trees)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import bptt
from bptt import nn

SHAPES = [("LSTM", 64, 32, 128, 256), ("LSTM", 50, 32, 64, 128), ("GRU", 64, 32, 128, 256),
          ("LSTM", 8, 1, 4, 8)]


def make(kind: str, D: int, H: int) -> nn.RNNBase:
    return {"LSTM": nn.LSTM, "GRU": nn.GRU}[kind](D, H, dtype=np.float32, rng=0)


def one_pass(m: nn.RNNBase, x: np.ndarray, dout: np.ndarray, traced: bool) -> float:
    m.zero_grad()
    t0 = time.perf_counter()
    if traced:
        with bptt.trace(keep="last"):
            m(x)
            m.backward(dout)
    else:
        m(x)
        m.backward(dout)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--off-only", action="store_true", help="time the untraced pass only")
    args = p.parse_args()
    print(f"{'layer':<5} {'T':>4} {'B':>3} {'D':>4} {'H':>4} {'untraced ms':>12} {'traced ms':>10} {'ratio':>6}")
    for kind, T, B, D, H in SHAPES:
        rng = np.random.default_rng(0)
        m = make(kind, D, H)
        x = rng.standard_normal((T, B, D)).astype(np.float32)
        dout = rng.standard_normal((T, B, H)).astype(np.float32)
        modes = [False] if args.off_only else [False, True]
        times: dict[bool, list[float]] = {mode: [] for mode in modes}
        for r in range(args.repeats + 1):
            for traced in (modes if r % 2 == 0 else modes[::-1]):
                one_pass(m, x, dout, traced)  # warm
                t = one_pass(m, x, dout, traced)
                if r:
                    times[traced].append(t)
        off = statistics.median(times[False]) * 1e3
        if args.off_only:
            print(f"{kind:<5} {T:>4} {B:>3} {D:>4} {H:>4} {off:>12.3f}")
            continue
        on = statistics.median(times[True]) * 1e3
        print(f"{kind:<5} {T:>4} {B:>3} {D:>4} {H:>4} {off:>12.3f} {on:>10.3f} {on / off:>6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
