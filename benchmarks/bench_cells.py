"""The recurrent cells of ``bptt train --model`` compared: training speed across sequence lengths, and what each
learns at equal parameter count and equal wall-clock time.

Two measurements, each a sub-command:

``speed``: training throughput (tokens/s) of one language-model training step -- forward, backward, gradient
clipping, Adam -- at ``T = 64, 256, 1024`` (``--lengths``), for bptt's minGRU and minLSTM (parallel scan, and
minGRU also in sequential mode for contrast), bptt's LSTM and PyTorch's ``nn.LSTM`` in the same model (one-hot
inputs -> 2 recurrent layers of ``--hidden`` units -> linear head -> cross-entropy; float32; batch ``--batch``).
Every contender builds its model the way ``bptt train`` does (``bptt.training.lm.build_model``) except PyTorch's
(``torch.nn.LSTM``, autograd, ``torch.optim.Adam``). Contenders are interleaved: each repetition runs every
contender once, in rotating order, after one untimed warm-up step each; the median of ``--repeats`` timed steps
is reported. Data: random token ids (throughput does not depend on the text).

``loss``: validation loss (nats/token) on the embedded default corpus (the docstrings of Python's standard
library, ``bptt train``'s default; its last 5% held out) of every registered cell (``bptt.models.lm.CELLS``:
rnn, gru, lstm, lnlstm, mingru, minlstm and whatever else is registered), each with the hidden size that brings
its parameter count closest to ``--params`` (LSTM at hidden 128 by default) and each trained for the same
wall-clock budget (``--budget`` seconds of training steps; validation excluded) with ``bptt train``'s settings
(seq 64, batch 32, Adam 2e-3, clip 5, seed 0). The cells train in a round robin of ``--slice``-second turns, so
each sees the same mix of machine load; the load average is recorded.

Usage (from the repository root; see docs/benchmarks.md for the figures)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cells.py speed --markdown
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cells.py loss --budget 300 --markdown
    python benchmarks/bench_cells.py speed --lengths 64 --repeats 3       # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rnn import machine_info  # noqa: E402  (the machine, BLAS kernel and environment, shared)

from bptt.data import TBPTTStreams, Vocabulary, split_train_val  # noqa: E402
from bptt.data.default_corpus import default_corpus_text  # noqa: E402
from bptt.models.evaluation import evaluate_loss  # noqa: E402
from bptt.models.lm import CELLS  # noqa: E402
from bptt.nn import CrossEntropyLoss  # noqa: E402
from bptt.nn.utils import clip_grad_norm_  # noqa: E402
from bptt.training.config import build_optimizer  # noqa: E402
from bptt.training.lm import TrainConfig, build_model  # noqa: E402


# ---------------------------------------------------------------------------------------------- contenders
class BpttStep:
    """``bptt train``'s model and step for one cell (``mode`` switches a min cell to the sequential scan)."""

    def __init__(self, cell: str, V: int, H: int, layers: int, batch: int, T: int, mode: str | None = None) -> None:
        self.cfg = TrainConfig(model=cell, hidden_size=H, num_layers=layers, seq_length=T, batch_size=batch)
        self.model = build_model(self.cfg, V)
        if mode is not None:
            self.model.rnn.scan_mode = mode
        self.opt = build_optimizer("adam", self.model, self.cfg.lr)
        self.params = list(self.model.parameters())
        self.ce = CrossEntropyLoss()
        self.V = V

    def num_parameters(self) -> int:
        return int(self.model.num_parameters())

    def step(self, x: np.ndarray, y: np.ndarray, state: Any = None) -> tuple[float, Any]:
        logits, state = self.model(x, state)
        loss = float(self.ce(logits.reshape(-1, self.V), y.reshape(-1)))
        self.model.zero_grad()
        self.model.backward(self.ce.backward().reshape(logits.shape))
        clip_grad_norm_(self.params, self.cfg.clip_norm)
        self.opt.step()
        return loss, state


class TorchLSTMStep:
    """The same model in PyTorch: one-hot -> ``nn.LSTM`` -> ``nn.Linear``, autograd, Adam, clipping."""

    def __init__(self, V: int, H: int, layers: int) -> None:
        torch.manual_seed(0)
        self.rnn = torch.nn.LSTM(V, H, layers)
        self.head = torch.nn.Linear(H, V)
        self.params = list(self.rnn.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.Adam(self.params, lr=2e-3)
        self.V = V

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.params)

    def step(self, x: np.ndarray, y: np.ndarray, state: Any = None) -> tuple[float, Any]:
        out, state = self.rnn(TF.one_hot(torch.from_numpy(x), self.V).to(torch.float32), state)
        loss = TF.cross_entropy(self.head(out).reshape(-1, self.V), torch.from_numpy(y).reshape(-1))
        self.opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 5.0)
        self.opt.step()
        return loss.item(), tuple(s.detach() for s in state)


def speed(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(os.cpu_count() or 1)
    V, H, L, B = args.vocab, args.hidden, args.layers, args.batch
    rng = np.random.default_rng(0)
    rows = []
    for T in args.lengths:
        contenders = {
            "bptt minGRU (parallel)": BpttStep("mingru", V, H, L, B, T),
            "bptt minLSTM (parallel)": BpttStep("minlstm", V, H, L, B, T),
            "bptt minGRU (sequential)": BpttStep("mingru", V, H, L, B, T, mode="sequential"),
            "bptt LSTM": BpttStep("lstm", V, H, L, B, T),
            "PyTorch nn.LSTM": TorchLSTMStep(V, H, L),
        }
        x = rng.integers(0, V, (T, B))
        y = rng.integers(0, V, (T, B))
        names = list(contenders)
        for name in names:  # warm-up (allocations, workspaces)
            contenders[name].step(x, y)
        times: dict[str, list[float]] = {n: [] for n in names}
        load = [os.getloadavg()[0]]
        for r in range(args.repeats):
            for name in names[r % len(names):] + names[: r % len(names)]:
                t0 = time.perf_counter()
                contenders[name].step(x, y)
                times[name].append(time.perf_counter() - t0)
        load.append(os.getloadavg()[0])
        for name in names:
            med = statistics.median(times[name])
            rows.append({"T": T, "contender": name, "params": contenders[name].num_parameters(),
                         "median_s": med, "tokens_per_s": T * B / med, "samples_s": times[name],
                         "load1_before_after": load})
            print(f"T={T:5d}  {name:26s} {T * B / med:10.0f} tokens/s  ({med * 1e3:8.1f} ms/step)", flush=True)
    return {"kind": "speed", "settings": vars(args) | {"lengths": list(args.lengths)}, "rows": rows}


# ---------------------------------------------------------------------------------------------- loss
def _params(cell: str, V: int, H: int, layers: int) -> int:
    return int(build_model(TrainConfig(model=cell, hidden_size=H, num_layers=layers), V).num_parameters())


def matched_hidden(cell: str, V: int, layers: int, target: int) -> int:
    """The hidden size whose parameter count is closest to ``target`` (parameters grow with H)."""
    lo, hi = 1, 4096
    while lo < hi:
        mid = (lo + hi) // 2
        if _params(cell, V, mid, layers) < target:
            lo = mid + 1
        else:
            hi = mid
    return min((max(1, lo - 1), lo), key=lambda h: abs(_params(cell, V, h, layers) - target))


def loss(args: argparse.Namespace) -> dict[str, Any]:
    text = default_corpus_text()
    vocab = Vocabulary.from_text(text, "char")
    train_ids, val_ids = split_train_val(vocab.encode(text), 0.05)
    V = len(vocab)
    target = _params("lstm", V, args.lstm_hidden, args.layers)
    runs = []
    for cell in args.cells or CELLS:
        H = matched_hidden(cell, V, args.layers, target)
        runner = BpttStep(cell, V, H, args.layers, 32, 64)
        runs.append({"cell": cell, "H": H, "runner": runner, "streams": TBPTTStreams(train_ids, 32, 64),
                     "spent": 0.0, "steps": 0, "state": None, "last": float("nan")})
    load = [os.getloadavg()[0]]
    # Round robin in slices of --slice seconds, so that every cell trains under the same mix of machine load.
    while any(r["spent"] < args.budget for r in runs):
        for r in runs:
            t_end = r["spent"] + min(args.slice, args.budget - r["spent"])
            while r["spent"] < t_end:
                batch = next(r["streams"])
                if batch.reset:
                    r["state"] = None
                t0 = time.perf_counter()
                r["last"], r["state"] = r["runner"].step(batch.x, batch.y, r["state"])
                r["spent"] += time.perf_counter() - t0
                r["steps"] += 1
        load.append(os.getloadavg()[0])
    rows = []
    for r in runs:
        val = evaluate_loss(r["runner"].model, val_ids, 32, 64)
        row = {"cell": r["cell"], "hidden_size": r["H"], "params": r["runner"].num_parameters(), "steps": r["steps"],
               "train_seconds": r["spent"], "tokens": r["steps"] * 32 * 64, "last_train_loss": r["last"],
               "val_loss": val, "val_bits": val / np.log(2)}
        rows.append(row)
        print(f"{r['cell']:8s} H={r['H']:4d} params={row['params']:7d} steps={r['steps']:5d} val={val:.4f} "
              f"nats/token ({row['val_bits']:.3f} bits)", flush=True)
    return {"kind": "loss", "settings": vars(args) | {"target_params": target}, "rows": rows,
            "load1_during": [min(load), max(load)]}


# ---------------------------------------------------------------------------------------------- output
def markdown(report: dict[str, Any]) -> str:
    if report["kind"] == "speed":
        lines = ["| T | contender | parameters | tokens/s | ms/step |", "|---:|---|---:|---:|---:|"]
        for r in report["rows"]:
            lines.append(f"| {r['T']} | {r['contender']} | {r['params']:,} | {r['tokens_per_s']:,.0f} | "
                         f"{r['median_s'] * 1e3:,.1f} |")
    else:
        lines = ["| cell | hidden | parameters | steps in budget | tokens seen | val loss (nats/token) | bits/token |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for r in sorted(report["rows"], key=lambda r: r["val_loss"]):
            lines.append(f"| {r['cell']} | {r['hidden_size']} | {r['params']:,} | {r['steps']:,} | "
                         f"{r['tokens']:,} | {r['val_loss']:.4f} | {r['val_bits']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed", help="training tokens/s across sequence lengths")
    s.add_argument("--lengths", type=lambda v: [int(t) for t in v.split(",")], default=[64, 256, 1024])
    s.add_argument("--hidden", type=int, default=256)
    s.add_argument("--layers", type=int, default=2)
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--vocab", type=int, default=100)
    s.add_argument("--repeats", type=int, default=5)
    s_loss = sub.add_parser("loss", help="validation loss at equal parameters and equal training time")
    s_loss.add_argument("--budget", type=float, default=300.0, help="seconds of training per cell")
    s_loss.add_argument("--lstm-hidden", type=int, default=128, help="the LSTM hidden size fixing --params")
    s_loss.add_argument("--layers", type=int, default=2)
    s_loss.add_argument("--cells", type=lambda v: v.split(","), default=None)
    s_loss.add_argument("--slice", type=float, default=5.0, help="seconds per turn of the round robin")
    for q in (s, s_loss):
        q.add_argument("--json", type=Path, default=None)
        q.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    info = machine_info()
    print(f"machine: {info.get('cpu_model')}, OpenBLAS {info.get('openblas', {}).get('corename', '?')} kernel, "
          f"load {os.getloadavg()}", flush=True)
    report = speed(args) if args.what == "speed" else loss(args)
    report["machine"] = info
    report["load_at_end"] = list(os.getloadavg())
    if args.markdown:
        print(markdown(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
