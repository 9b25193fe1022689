"""Does bptt initialise its language model as PyTorch does? The distributions, and the losses they lead to.

Two measurements, on the model of bench_lm.py (one-hot or embedding inputs -> 2-layer LSTM 256 -> Linear):

1. **Distributions.** For several seeds, every parameter tensor of bptt's ``LanguageModel`` (built by
   ``bptt.training.lm.build_model``, what ``bptt train`` builds) against the same tensor of the PyTorch model
   built with ``torch.manual_seed(seed)`` (``nn.Embedding``, ``nn.LSTM``, ``nn.Linear``; for one-hot inputs
   bench_lm.py's ``TorchLM``): range, mean, standard deviation, and the two-sample Kolmogorov-Smirnov
   statistic D with its 1% critical value ``1.63 * sqrt(2 / n)`` (D above it: the distributions differ).
2. **Losses.** For each seed, bptt from its own initialisation, PyTorch from its own, and bptt from PyTorch's
   initial weights (``--same-init`` of bench_lm.py) train ``--steps`` steps with bench_lm.py's runners
   (same batches, Adam, clipping) and the validation loss is measured; the report gives every seed and the
   mean and spread per contender. If the initial distributions are the same, the own-init gap between bptt
   and PyTorch averages out over seeds, and any single seed's gap is a draw from that spread.

Usage (from the repository root, with the ``test`` extra)::

    python benchmarks/bench_init.py --seeds 0 1 2 3 4 --steps 400 --data some.txt
    python benchmarks/bench_init.py --distributions-only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads: one thread, two contenders side by side

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lm import BpttRunner, TorchLM, TorchRunner, eval_batch_size  # noqa: E402

from bptt.data import TBPTTStreams, Vocabulary, eval_chunks, read_text, split_train_val  # noqa: E402
from bptt.data.default_corpus import default_corpus_text  # noqa: E402
from bptt.training.lm import TrainConfig, build_model  # noqa: E402


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov D: the largest gap between the two empirical CDFs."""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, "right") / a.size
    cdf_b = np.searchsorted(b, grid, "right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def torch_model(vocab_size: int, embedding_dim: int | None, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    if embedding_dim is None:
        return TorchLM(vocab_size, 256, 2)
    m = torch.nn.Module()
    m.embedding = torch.nn.Embedding(vocab_size, embedding_dim)
    m.rnn = torch.nn.LSTM(embedding_dim, 256, 2)
    m.head = torch.nn.Linear(256, vocab_size)
    return m


def distributions(vocab_size: int, seeds: list[int]) -> list[dict[str, Any]]:
    rows = []
    for embedding_dim in (None, 64):
        for seed in seeds:
            cfg = TrainConfig(hidden_size=256, num_layers=2, embedding_dim=embedding_dim, seed=seed)
            ours = dict(build_model(cfg, vocab_size).named_parameters())
            theirs = {n: p.detach().numpy() for n, p in torch_model(vocab_size, embedding_dim, seed).named_parameters()}
            assert sorted(ours) == sorted(theirs), (sorted(ours), sorted(theirs))
            for name, p in ours.items():
                a, b = p.data.astype(np.float64), theirs[name].astype(np.float64)
                rows.append({"inputs": "one-hot" if embedding_dim is None else f"embedding {embedding_dim}",
                             "seed": seed, "name": name, "n": a.size, "bptt_min": a.min(), "bptt_max": a.max(),
                             "torch_min": b.min(), "torch_max": b.max(), "bptt_mean": a.mean(), "torch_mean": b.mean(),
                             "bptt_std": a.std(), "torch_std": b.std(), "ks": ks_statistic(a, b),
                             "ks_critical_1pct": 1.63 * math.sqrt(2.0 / a.size)})
    return rows


def train_one(runner: Any, train_ids: np.ndarray, chunks: list, steps: int) -> tuple[float, float]:
    streams = TBPTTStreams(train_ids, 32, 64)
    losses = [runner.step(next(streams)) for _ in range(steps)]
    return float(np.mean(losses[-50:])), runner.evaluate(chunks)


CONTENDERS = ("bptt (own init)", "torch (own init)", "bptt (torch's init)")


def losses(text: str, seeds: list[int], steps: int, contenders: list[str]) -> list[dict[str, Any]]:
    torch.set_num_threads(1)
    vocab = Vocabulary.from_text(text, "char")
    train_ids, val_ids = split_train_val(vocab.encode(text), 0.05)
    chunks = eval_chunks(val_ids, eval_batch_size(len(val_ids), 32, 64), 64)
    rows = []
    for seed in seeds:
        cfg = TrainConfig(hidden_size=256, num_layers=2, seq_length=64, batch_size=32, lr=2e-3, clip_norm=5.0,
                          seed=seed, dtype="float32")
        same = BpttRunner(cfg, len(vocab))
        reference = TorchRunner(cfg, len(vocab))
        same.model.load_state_dict({n: p.detach().numpy().copy() for n, p in reference.model.named_parameters()})
        runners = {"bptt (own init)": BpttRunner(cfg, len(vocab)), "torch (own init)": reference,
                   "bptt (torch's init)": same}
        for name in contenders:
            runner = runners[name]
            train, val = train_one(runner, train_ids, chunks, steps)
            rows.append({"seed": seed, "contender": name, "train_loss_last50": train, "val_loss": val})
            print(f"seed {seed} {name:20s} train {train:.4f} val {val:.4f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="UTF-8 text (default: the embedded corpus)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--distributions-only", action="store_true")
    p.add_argument("--contenders", type=int, nargs="+", default=[0, 1, 2],
                   help="which of " + ", ".join(f"{i}: {c}" for i, c in enumerate(CONTENDERS)) + " (default all)")
    p.add_argument("--json", default=None, metavar="PATH")
    args = p.parse_args(argv)
    text = default_corpus_text() if args.data is None else read_text(args.data)
    vocab_size = len(Vocabulary.from_text(text, "char"))
    dist = distributions(vocab_size, args.seeds)
    worst = max(dist, key=lambda r: r["ks"] / r["ks_critical_1pct"])
    above = [r for r in dist if r["ks"] > r["ks_critical_1pct"]]
    print(f"distributions: {len(dist)} tensors (vocabulary {vocab_size}, seeds {args.seeds}); KS D above the 1% "
          f"critical value in {len(above)}; largest D/critical {worst['ks'] / worst['ks_critical_1pct']:.2f} "
          f"({worst['inputs']}, {worst['name']}, seed {worst['seed']})")
    for inputs in sorted({r["inputs"] for r in dist}):
        for name in dict.fromkeys(r["name"] for r in dist if r["inputs"] == inputs):
            sel = [r for r in dist if r["inputs"] == inputs and r["name"] == name]
            print(f"  {inputs:13s} {name:20s} n={sel[0]['n']:7d} range bptt [{min(r['bptt_min'] for r in sel):+.4f}, "
                  f"{max(r['bptt_max'] for r in sel):+.4f}] torch [{min(r['torch_min'] for r in sel):+.4f}, "
                  f"{max(r['torch_max'] for r in sel):+.4f}]  std bptt {np.mean([r['bptt_std'] for r in sel]):.4f} "
                  f"torch {np.mean([r['torch_std'] for r in sel]):.4f}  max D/critical "
                  f"{max(r['ks'] / r['ks_critical_1pct'] for r in sel):.2f}")
    report: dict[str, Any] = {"args": vars(args), "distributions": dist}
    if not args.distributions_only:
        rows = losses(text, args.seeds, args.steps, [CONTENDERS[i] for i in args.contenders])
        report["losses"] = rows
        for name in dict.fromkeys(r["contender"] for r in rows):
            vals = [r["val_loss"] for r in rows if r["contender"] == name]
            print(f"{name:20s} val loss over {len(vals)} seeds: mean {statistics.mean(vals):.4f}, sd "
                  f"{statistics.stdev(vals) if len(vals) > 1 else 0:.4f}, range {min(vals):.4f}-{max(vals):.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
