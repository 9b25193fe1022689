"""Speed of bptt's LayerNormLSTM against the torch-autograd layer-norm LSTM PyTorch users write today.

PyTorch has no fused layer-norm LSTM, so the reference is the usual hand-written module: a Python loop over
time steps, ``torch.cat([x_t, h]) @ kernel``, ``F.layer_norm`` on each of the four gates and on the new cell
state (TensorFlow's ``LayerNormBasicLSTMCell`` semantics, epsilon 1e-12), differentiated by autograd. Both
get the same weights and inputs (float32), the outputs and gradients are compared first, and fwd+bwd is
timed with the protocol of ``bench_rnn.py`` (interleaved, a short gap and one untimed warm call before each
timed call, medians).

    python benchmarks/bench_lnlstm.py --markdown
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_rnn  # noqa: E402  (the timing protocol and machine report)

import bptt  # noqa: E402

SHAPES = bench_rnn.DEFAULT_SHAPES if hasattr(bench_rnn, "DEFAULT_SHAPES") else [
    (64, 32, 128, 256), (100, 32, 65, 512), (35, 20, 200, 200), (50, 1, 65, 100)]
SCOPES = ("input", "transform", "forget", "output", "state")


class TorchLNLSTM(torch.nn.Module):
    """TF LayerNormBasicLSTMCell over a sequence, written the way PyTorch users write it."""

    def __init__(self, D: int, H: int, forget_bias: float = 1.0) -> None:
        super().__init__()
        self.H, self.forget_bias = H, forget_bias
        self.kernel = torch.nn.Parameter(torch.empty(D + H, 4 * H))
        self.gamma = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(H)) for _ in SCOPES])
        self.beta = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(H)) for _ in SCOPES])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, _ = x.shape
        H = self.H
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        out = []
        for t in range(T):
            a = torch.cat([x[t], h], 1) @ self.kernel
            i, j, f, o = a.split(H, 1)
            i, j, f, o = (F.layer_norm(v, (H,), self.gamma[k], self.beta[k], 1e-12) for k, v in enumerate((i, j, f, o)))
            c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
            c = F.layer_norm(c, (H,), self.gamma[4], self.beta[4], 1e-12)
            h = torch.tanh(c) * torch.sigmoid(o)
            out.append(h)
        return torch.stack(out)


class Case:
    def __init__(self, shape: tuple[int, int, int, int], seed: int = 0) -> None:
        T, B, D, H = shape
        self.shape = shape
        rng = np.random.default_rng(seed)
        self.bm = bptt.nn.LayerNormLSTM(D, H, rng=seed)
        for p in self.bm.parameters():  # non-trivial gains and shifts
            if p.data.ndim == 1:
                p.data[...] += rng.uniform(-0.2, 0.2, p.shape).astype(np.float32)
        self.tm = TorchLNLSTM(D, H)
        with torch.no_grad():
            self.tm.kernel.copy_(torch.tensor(self.bm.kernel_l0.data))
            for k, s in enumerate(SCOPES):
                self.tm.gamma[k].copy_(torch.tensor(getattr(self.bm, f"{s}_gamma_l0").data))
                self.tm.beta[k].copy_(torch.tensor(getattr(self.bm, f"{s}_beta_l0").data))
        self.x = rng.standard_normal((T, B, D)).astype(np.float32)
        self.dout = rng.standard_normal((T, B, H)).astype(np.float32)
        self.x_t = torch.tensor(self.x, requires_grad=True)
        self.dout_t = torch.tensor(self.dout)

    def bptt_fb(self) -> None:
        self.bm(self.x)
        self.bm.backward(self.dout)

    def torch_fb(self) -> None:
        self.tm(self.x_t).backward(self.dout_t)

    def bptt_zero(self) -> None:
        self.bm.zero_grad()
        self.bm.clear_caches()

    def torch_zero(self) -> None:
        for p in self.tm.parameters():
            p.grad = None
        self.x_t.grad = None

    def check(self) -> float:
        """Max abs difference of the output and dx (float32: ~1e-5 expected)."""
        self.bptt_zero()
        self.torch_zero()
        out, _ = self.bm(self.x)
        dx, _ = self.bm.backward(self.dout)
        tout = self.tm(self.x_t)
        tout.backward(self.dout_t)
        d = max(float(np.abs(out - tout.detach().numpy()).max()), float(np.abs(dx - self.x_t.grad.numpy()).max()))
        self.bptt_zero()
        self.torch_zero()
        return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, len(__import__("os").sched_getaffinity(0))))
    bench_rnn.print_machine_info(bench_rnn.machine_info())
    rows = []
    for shape in SHAPES:
        case = Case(shape)
        diff = case.check()
        with bench_rnn.OtherLoad() as load:
            t = bench_rnn.interleaved({"bptt": (case.bptt_fb, case.bptt_zero),
                                       "torch": (case.torch_fb, case.torch_zero)}, args.repeats, args.gap, True)
        b = float(np.median(t["bptt"])) * 1e3
        r = float(np.median(t["torch"])) * 1e3
        rows.append((shape, b, r, diff, load.fraction))
        print(f"LNLSTM T,B,D,H={'x'.join(map(str, shape)):<16} fwd+bwd bptt {b:8.2f} ms  torch-autograd {r:8.2f} ms"
              f"  ratio {b / r:5.2f}  (max |diff| {diff:.1e}, other load {load.fraction or 0:.0%})", flush=True)
    if args.markdown:
        print("\n| shape (T, B, D, H) | bptt LayerNormLSTM ms | torch autograd LN-LSTM ms | ratio |")
        print("|---|---:|---:|---:|")
        for shape, b, r, _, _ in rows:
            print(f"| {shape} | {b:.2f} | {r:.2f} | {b / r:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
