"""Quality and speed of a bptt character language model against the same model in PyTorch, in one process.

Both sides are built the same way and see exactly the same data:

* the character vocabulary of the corpus (:class:`bptt.data.Vocabulary`), the last 5% of the token stream
  held out for validation (:func:`bptt.data.split_train_val`);
* one-hot inputs -> 2-layer LSTM (hidden 256) -> Linear head -> softmax cross-entropy averaged over the
  ``T * B`` tokens; Adam (lr 2e-3, default betas/eps), ``clip_grad_norm_`` to 5 before every step;
* the same :class:`bptt.data.TBPTTStreams` batches (seq 64, batch 32): the recurrent state is carried from
  one chunk to the next (detached at the boundary) and zeroed when a batch says ``reset``;
* float32; each framework's own default initialisation (PyTorch's and bptt's are the same distributions,
  U(-1/sqrt(H), 1/sqrt(H)) for the LSTM and U(-1/sqrt(in), 1/sqrt(in)) for the head), seeded from
  ``--seed`` (bptt: ``bptt.training.lm.build_model``, i.e. ``default_rng([seed, 0])``; torch:
  ``torch.manual_seed(seed)``). The weights therefore differ, the distributions do not;
* the bptt side is built with the library's own ``build_model`` / ``build_optimizer`` (what ``bptt train``
  uses) and its step is ``bptt train``'s step.

Training is interleaved in blocks of ``--block`` steps (bptt 50 steps, torch 50 steps, torch 50, bptt 50,
...: the order alternates), so both frameworks share the machine's noise fairly. Only the training steps
are timed (``time.perf_counter``; data slicing included, evaluation excluded). Validation loss (nats per
token, state carried across chunks, identical :func:`bptt.data.eval_chunks` chunking for both, the batch
size ``bptt.models.evaluation.evaluate_loss`` uses) is measured every ``--eval-every`` steps and at the end.

The issue's targets: bptt's final validation loss within 2% of PyTorch's, and bptt's training throughput
(tokens/s) at least 1.0x PyTorch's.

Threads: ``torch.set_num_threads(os.cpu_count())``; NumPy's BLAS uses its own default (all cores).

OpenMP wait policy (``--omp-wait-policy``, default ``default``: PyTorch as its users get it). The concern:
PyTorch's OpenMP worker threads spin-wait after each parallel region, and in a process that also runs NumPy's
BLAS threads spinning threads steal the CPUs from the BLAS threads. libgomp reads the variable once, when it
is loaded, so it has to be in the environment before ``import torch``; the option is therefore parsed before
the imports. Measured on a 2-CPU machine (docs/language_models.md): with ``active`` (spin for ever) bptt runs at a third
of its speed; with libgomp's ``default`` (a short spin, then sleep) bptt runs exactly as with ``passive``,
because the blocks do not overlap; but ``passive`` makes PyTorch's own LSTM step about 1.7x slower (every
time step's small parallel GEMM then pays a futex wake-up). ``passive`` would thus flatter bptt, and the
default leaves PyTorch's setting alone.

Usage (from the repository root)::

    python benchmarks/bench_lm.py                        # 1000 steps on ../shared/data/tinyshakespeare.txt
    python benchmarks/bench_lm.py --steps 200 --markdown --json lm.json
    python benchmarks/bench_lm.py --data some/other.txt
"""

from __future__ import annotations

import argparse
import os
import sys

WAIT_POLICIES = ("passive", "default", "active")


def _wait_policy(argv: list[str]) -> str:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--omp-wait-policy", choices=WAIT_POLICIES, default="default")
    return pre.parse_known_args(argv)[0].omp_wait_policy


# Before torch is imported (see the module docstring): libgomp reads OMP_WAIT_POLICY once, when it is loaded.
if __name__ == "__main__":
    _policy = _wait_policy(sys.argv[1:])
    if _policy == "default":
        os.environ.pop("OMP_WAIT_POLICY", None)
    else:
        os.environ["OMP_WAIT_POLICY"] = _policy.upper()

import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import bptt  # noqa: E402
from bptt.data import TBPTTStreams, Vocabulary, eval_chunks, read_text, split_train_val  # noqa: E402
from bptt.models.evaluation import evaluate_loss  # noqa: E402
from bptt.nn import CrossEntropyLoss, no_grad  # noqa: E402
from bptt.nn.utils import clip_grad_norm_  # noqa: E402
from bptt.training.config import build_optimizer  # noqa: E402
from bptt.training.lm import TrainConfig, build_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "tinyshakespeare.txt"
LN2 = math.log(2.0)
LOSS_TOLERANCE = 0.02  # bptt's validation loss within 2% of PyTorch's
SPEED_TARGET = 1.0  # bptt's tokens/s at least 1.0x PyTorch's
QUIET = 0.1  # a block is "quiet" when other processes used at most this fraction of the machine


# ---------------------------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    keys = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT")
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "os_cpu_count": os.cpu_count(),
        "usable_cpus": _usable_cpus(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "bptt": bptt.__version__,
        "env": {k: os.environ[k] for k in keys if k in os.environ},
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


class OtherLoad:
    """CPU time used by *other* processes during a block, as a fraction of the machine (0 = quiet).

    From ``/proc/stat`` (busy jiffies of all CPUs) minus this process's own CPU time; ``None`` where
    ``/proc/stat`` is unavailable.
    """

    def __init__(self) -> None:
        self.fraction: float | None = None

    @staticmethod
    def _busy() -> float | None:
        try:
            with open("/proc/stat") as fh:
                vals = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return (sum(vals[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> OtherLoad:
        self._b0, self._own0, self._w0 = self._busy(), sum(os.times()[:2]), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        b1 = self._busy()
        wall = time.perf_counter() - self._w0
        if self._b0 is None or b1 is None or wall <= 0:
            return
        own = sum(os.times()[:2]) - self._own0
        self.fraction = max(0.0, (b1 - self._b0 - own) / (wall * _usable_cpus()))


# ---------------------------------------------------------------------------------------------- contenders
class BpttRunner:
    """bptt's language model and ``bptt train``'s training step."""

    name = "bptt"

    def __init__(self, cfg: TrainConfig, vocab_size: int) -> None:
        self.cfg = cfg
        self.model = build_model(cfg, vocab_size)
        self.optimizer = build_optimizer(cfg.optimizer, self.model, cfg.lr)
        self.params = list(self.model.parameters())
        self.V = vocab_size
        self.ce = CrossEntropyLoss()
        self.state: Any = None

    def num_parameters(self) -> int:
        return int(self.model.num_parameters())

    def step(self, batch: Any) -> float:
        if batch.reset:
            self.state = None
        logits, new_state = self.model(batch.x, self.state)
        loss = float(self.ce(logits.reshape(-1, self.V), batch.y.reshape(-1)))
        self.model.zero_grad()
        self.model.backward(self.ce.backward().reshape(logits.shape))
        clip_grad_norm_(self.params, self.cfg.clip_norm)
        self.optimizer.step()
        self.state = new_state  # carried into the next chunk; backward never reaches past the boundary
        return loss

    def evaluate(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> float:
        was = self.model.training
        self.model.eval()
        ce = CrossEntropyLoss(reduction="sum")
        total, count, state = 0.0, 0, None
        try:
            with no_grad():
                for x, y in chunks:
                    logits, state = self.model(x, state)
                    total += float(ce(logits.reshape(-1, self.V), y.reshape(-1)))
                    count += y.size
        finally:
            self.model.train(was)
        return total / count


class TorchLM(torch.nn.Module):
    """One-hot -> ``nn.LSTM`` -> ``nn.Linear``: bptt's ``LanguageModel(embedding_dim=None)`` in PyTorch."""

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = torch.nn.LSTM(vocab_size, hidden_size, num_layers)
        self.head = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        onehot = TF.one_hot(x, self.vocab_size).to(torch.float32)
        out, state = self.rnn(onehot, state)
        return self.head(out), state


class TorchRunner:
    """The same model and step in PyTorch (autograd, ``torch.optim.Adam``, ``clip_grad_norm_``)."""

    name = "torch"

    def __init__(self, cfg: TrainConfig, vocab_size: int) -> None:
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.model = TorchLM(vocab_size, cfg.hidden_size, cfg.num_layers)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.V = vocab_size
        self.state: Any = None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def step(self, batch: Any) -> float:
        if batch.reset:
            self.state = None
        x = torch.from_numpy(batch.x)
        y = torch.from_numpy(batch.y)
        logits, new_state = self.model(x, self.state)
        loss = TF.cross_entropy(logits.reshape(-1, self.V), y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
        self.optimizer.step()
        self.state = tuple(s.detach() for s in new_state)  # truncated BPTT: carry, but detach
        return loss.item()

    def evaluate(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> float:
        was = self.model.training
        self.model.eval()
        total, count, state = 0.0, 0, None
        try:
            with torch.no_grad():
                for x, y in chunks:
                    logits, state = self.model(torch.from_numpy(x), state)
                    target = torch.from_numpy(y).reshape(-1)
                    total += float(TF.cross_entropy(logits.reshape(-1, self.V), target, reduction="sum"))
                    count += y.size
        finally:
            self.model.train(was)
        return total / count


# ---------------------------------------------------------------------------------------------- run
def eval_batch_size(n_tokens: int, batch_size: int, seq_length: int) -> int:
    """The batch size :func:`bptt.models.evaluation.evaluate_loss` uses for a validation stream."""
    return max(1, min(batch_size, (n_tokens - 1) // max(seq_length, 1) or 1))


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    if not data.is_file():
        raise SystemExit(
            f"bench_lm.py: error: corpus not found: {data}\n"
            f"  (tinyshakespeare.txt is expected at {DEFAULT_DATA.resolve()};\n"
            f"  pass --data PATH to use another UTF-8 text)"
        )
    torch.set_num_threads(os.cpu_count() or 1)
    info = machine_info()

    text = read_text(data)
    vocab = Vocabulary.from_text(text, "char")
    ids = vocab.encode(text)
    train_ids, val_ids = split_train_val(ids, args.val_fraction)
    cfg = TrainConfig(corpus=str(data), hidden_size=args.hidden_size, num_layers=args.num_layers,
                      seq_length=args.seq_length, batch_size=args.batch_size, optimizer="adam", lr=args.lr,
                      clip_norm=args.clip, val_fraction=args.val_fraction, seed=args.seed, dtype="float32")
    cfg.validate()
    eB = eval_batch_size(len(val_ids), cfg.batch_size, cfg.seq_length)
    chunks = eval_chunks(val_ids, eB, cfg.seq_length)
    if not chunks:
        raise SystemExit(f"bench_lm.py: error: the validation split of {data} has too few characters "
                         f"({len(val_ids)}); raise --val-fraction or use a longer text")
    eval_tokens = sum(y.size for _, y in chunks)
    tokens_per_step = cfg.batch_size * cfg.seq_length

    runners = {"bptt": BpttRunner(cfg, len(vocab)), "torch": TorchRunner(cfg, len(vocab))}
    if args.same_init:  # start bptt from PyTorch's initial weights (the parameter names are the same)
        runners["bptt"].model.load_state_dict(
            {n: p.detach().numpy().copy() for n, p in runners["torch"].model.named_parameters()})
    streams = {name: TBPTTStreams(train_ids, cfg.batch_size, cfg.seq_length) for name in runners}
    print(f"bench_lm: {data} ({len(train_ids):,} training + {len(val_ids):,} validation characters, "
          f"vocabulary {len(vocab)})")
    nb, nt = runners["bptt"].num_parameters(), runners["torch"].num_parameters()
    print(f"model: one-hot -> LSTM {cfg.num_layers}x{cfg.hidden_size} -> Linear; "
          f"{nb:,} parameters (bptt), {nt:,} (torch)")
    print(f"training: Adam lr {cfg.lr:g}, clip {cfg.clip_norm:g}, seq {cfg.seq_length}, "
          f"batch {cfg.batch_size} "
          f"({tokens_per_step} tokens/step), {args.steps} steps each, interleaved in blocks of {args.block}; "
          f"float32, seed {cfg.seed}"
          + (" (bptt starts from PyTorch's initial weights)" if args.same_init else ""))
    print(f"validation: {eval_tokens:,} tokens in {len(chunks)} chunks of <= {cfg.seq_length}x{eB}, "
          "state carried")
    load = info["loadavg_at_start"]
    print(f"machine: {info['cpu_model']}, {info['usable_cpus']} usable CPUs, load average "
          + (" ".join(f"{v:.2f}" for v in load) if load else "?")
          + f"; numpy {info['numpy']}, torch {info['torch']} ({info['torch_threads']} threads), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset (libgomp default)')}")
    sys.stdout.flush()

    results: dict[str, dict[str, Any]] = {
        name: {"train_time_s": 0.0, "blocks": [], "train_loss": [], "evals": []} for name in runners
    }
    evals_at = sorted({s for s in range(args.eval_every, args.steps + 1, args.eval_every)} | {args.steps})
    steps_done = 0
    block_index = 0
    while steps_done < args.steps:
        n = min(args.block, args.steps - steps_done)
        order = list(runners) if block_index % 2 == 0 else list(reversed(list(runners)))
        for name in order:
            runner, it, res = runners[name], streams[name], results[name]
            losses = []
            with OtherLoad() as other:
                t0 = time.perf_counter()
                for _ in range(n):
                    losses.append(runner.step(next(it)))
                dt = time.perf_counter() - t0
            if not all(math.isfinite(v) for v in losses):
                raise SystemExit(f"bench_lm.py: {name}'s training loss is not finite at block {block_index}")
            res["train_time_s"] += dt
            res["blocks"].append({"steps": n, "seconds": dt, "tokens_per_s": n * tokens_per_step / dt,
                                  "other_load": other.fraction})
            res["train_loss"].append(sum(losses) / n)
        steps_done += n
        block_index += 1
        if steps_done in evals_at:
            line = [f"step {steps_done:5d}:"]
            for name, runner in runners.items():
                t0 = time.perf_counter()
                v = runner.evaluate(chunks)
                results[name]["evals"].append({"step": steps_done, "val_loss": v,
                                               "train_loss": results[name]["train_loss"][-1],
                                               "eval_seconds": time.perf_counter() - t0})
                tps = steps_done * tokens_per_step / results[name]["train_time_s"]
                line.append(f"{name} train {results[name]['train_loss'][-1]:.4f} val {v:.4f} "
                            f"({tps:,.0f} tok/s)")
            print("  ".join(line))
            sys.stdout.flush()

    # the library's own evaluation must agree with the benchmark's chunked evaluation of the bptt model
    lib_val = evaluate_loss(runners["bptt"].model, val_ids, cfg.batch_size, cfg.seq_length)
    own_val = results["bptt"]["evals"][-1]["val_loss"]
    if abs(lib_val - own_val) > 1e-4 * max(1.0, abs(own_val)):
        print(f"WARNING: bptt.models.evaluation.evaluate_loss gives {lib_val:.6f}, the benchmark {own_val:.6f}")

    for res in results.values():
        res["steps"] = args.steps
        res["tokens"] = args.steps * tokens_per_step
        res["tokens_per_s"] = res["tokens"] / res["train_time_s"]
        res["median_block_tokens_per_s"] = statistics.median(b["tokens_per_s"] for b in res["blocks"])
        res["final_val_loss"] = res["evals"][-1]["val_loss"]
        res["final_val_bits"] = res["final_val_loss"] / LN2
        res["final_train_loss"] = res["train_loss"][-1]
        loads = [b["other_load"] for b in res["blocks"] if b["other_load"] is not None]
        res["mean_other_load"] = sum(loads) / len(loads) if loads else None
    b, t = results["bptt"], results["torch"]
    # per-block ratio of consecutive bptt/torch blocks: the fairest speed figure on a noisy machine
    pair_ratios = [bb["tokens_per_s"] / tb["tokens_per_s"]
                   for bb, tb in zip(b["blocks"], t["blocks"], strict=True)]
    # pairs in which other processes used at most QUIET of the machine during both blocks
    quiet = [(bb["tokens_per_s"], tb["tokens_per_s"]) for bb, tb in zip(b["blocks"], t["blocks"], strict=True)
             if bb["other_load"] is not None and tb["other_load"] is not None
             and max(bb["other_load"], tb["other_load"]) <= QUIET]
    summary = {
        "val_loss_rel_diff": (b["final_val_loss"] - t["final_val_loss"]) / t["final_val_loss"],
        "throughput_ratio": b["tokens_per_s"] / t["tokens_per_s"],
        "median_block_throughput_ratio": statistics.median(pair_ratios),
        "quiet_pairs": len(quiet),
        "quiet_bptt_tokens_per_s": statistics.median(q[0] for q in quiet) if quiet else None,
        "quiet_torch_tokens_per_s": statistics.median(q[1] for q in quiet) if quiet else None,
        "quiet_throughput_ratio": statistics.median(q[0] / q[1] for q in quiet) if quiet else None,
        "library_evaluate_loss": lib_val,
    }
    summary["loss_ok"] = abs(summary["val_loss_rel_diff"]) <= LOSS_TOLERANCE
    summary["speed_ok"] = summary["throughput_ratio"] >= SPEED_TARGET
    return {
        "machine": info,
        "config": {"data": str(data), "vocab_size": len(vocab), "train_tokens": int(len(train_ids)),
                   "val_tokens": int(len(val_ids)), "eval_tokens": int(eval_tokens), "eval_batch_size": eB,
                   "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers, "seq_length": cfg.seq_length,
                   "batch_size": cfg.batch_size, "lr": cfg.lr, "clip_norm": cfg.clip_norm,
                   "steps": args.steps, "block": args.block, "eval_every": args.eval_every,
                   "seed": cfg.seed, "dtype": "float32", "val_fraction": cfg.val_fraction,
                   "same_init": bool(args.same_init)},
        "results": results,
        "summary": summary,
    }


# ---------------------------------------------------------------------------------------------- report
def print_report(report: dict[str, Any]) -> None:
    res, s = report["results"], report["summary"]
    print()
    print(f"{'':8} {'train loss':>10} {'val loss':>9} {'val bits':>9} {'tokens/s':>10} {'median blk':>10} "
          f"{'train s':>8} {'other load':>10}")
    for name, r in res.items():
        ol = "?" if r["mean_other_load"] is None else f"{r['mean_other_load']:.0%}"
        print(f"{name:8} {r['final_train_loss']:10.4f} {r['final_val_loss']:9.4f} {r['final_val_bits']:9.4f} "
              f"{r['tokens_per_s']:10,.0f} {r['median_block_tokens_per_s']:10,.0f} "
              f"{r['train_time_s']:8.1f} {ol:>10}")
    print()
    print("validation loss by step (nats/token): "
          + ", ".join(f"{eb['step']}: {eb['val_loss']:.4f} / {et['val_loss']:.4f}"
                      for eb, et in zip(res["bptt"]["evals"], res["torch"]["evals"], strict=True))
          + "  (bptt / torch)")
    if s["loss_ok"]:
        verdict = "ok"
    elif s["val_loss_rel_diff"] < 0:
        verdict = "NOT MET: bptt's loss is the lower one; with different initial weights, try --same-init"
    else:
        verdict = "NOT MET"
    print(f"val loss, bptt relative to torch: {s['val_loss_rel_diff']:+.2%} (target within "
          f"{LOSS_TOLERANCE:.0%}: {verdict})")
    verdict = "ok" if s["speed_ok"] else "NOT MET"
    print(f"throughput bptt/torch: {s['throughput_ratio']:.2f}x overall, "
          f"{s['median_block_throughput_ratio']:.2f}x median of paired blocks "
          f"(target >= {SPEED_TARGET:.1f}x: {verdict})")
    if s["quiet_pairs"]:
        print(f"quiet block pairs (other processes <= {QUIET:.0%} of the machine in both blocks): "
              f"{s['quiet_pairs']} of {len(res['bptt']['blocks'])}; median tokens/s bptt "
              f"{s['quiet_bptt_tokens_per_s']:,.0f}, torch {s['quiet_torch_tokens_per_s']:,.0f}, "
              f"ratio {s['quiet_throughput_ratio']:.2f}x")
    loads = [r["mean_other_load"] for r in res.values() if r["mean_other_load"] is not None]
    if loads and max(loads) > QUIET:
        print(f"NOTE: other processes used {max(loads):.0%} of the machine on average while this ran: the "
              f"overall tokens/s are low and noisy; compare the quiet block pairs")


def markdown(report: dict[str, Any]) -> str:
    res, s, c, m = report["results"], report["summary"], report["config"], report["machine"]
    lines = [
        f"Character LSTM on `{Path(c['data']).name}` ({c['train_tokens']:,} training / {c['val_tokens']:,} "
        f"validation characters, vocabulary {c['vocab_size']}): one-hot -> LSTM {c['num_layers']}x"
        f"{c['hidden_size']} -> Linear, Adam lr {c['lr']:g}, clip {c['clip_norm']:g}, seq {c['seq_length']}, "
        f"batch {c['batch_size']}, {c['steps']} steps, float32. {m['cpu_model']}, {m['usable_cpus']} CPUs, "
        f"numpy {m['numpy']}, torch {m['torch']} ({m['torch_threads']} threads, "
        f"OMP_WAIT_POLICY={m['env'].get('OMP_WAIT_POLICY', 'unset')}), {m['date']}.",
        "",
        "| | final train loss | val loss (nats/token) | val bits/token | training tokens/s | other load |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in res.items():
        ol = "?" if r["mean_other_load"] is None else f"{r['mean_other_load']:.0%}"
        lines.append(f"| {name} | {r['final_train_loss']:.4f} | {r['final_val_loss']:.4f} | "
                     f"{r['final_val_bits']:.4f} | {r['tokens_per_s']:,.0f} | {ol} |")
    lines += [
        "",
        f"bptt's validation loss relative to PyTorch's: **{s['val_loss_rel_diff']:+.2%}** (target: within "
        f"{LOSS_TOLERANCE:.0%}); throughput bptt/torch: **{s['throughput_ratio']:.2f}x** "
        f"({s['median_block_throughput_ratio']:.2f}x median of paired {c['block']}-step blocks; target >= "
        f"{SPEED_TARGET:.1f}x).",
    ]
    if s["quiet_pairs"]:
        lines[-1] += (f" In the {s['quiet_pairs']} block pairs where other processes used at most {QUIET:.0%} "
                      f"of the machine: bptt {s['quiet_bptt_tokens_per_s']:,.0f} tokens/s, torch "
                      f"{s['quiet_torch_tokens_per_s']:,.0f} tokens/s, **{s['quiet_throughput_ratio']:.2f}x**.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1000, help="training steps for each framework (default 1000)")
    p.add_argument("--data", default=str(DEFAULT_DATA),
                   help="UTF-8 corpus (default ../shared/data/tinyshakespeare.txt beside the repository)")
    p.add_argument("--json", default=None, metavar="PATH", help="write the full report as JSON")
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    p.add_argument("--block", type=int, default=50, help="steps per interleaved block (default 50)")
    p.add_argument("--eval-every", type=int, default=250, help="validation every N steps (default 250)")
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--seq-length", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--omp-wait-policy", choices=WAIT_POLICIES, default="default",
                   help="OMP_WAIT_POLICY for torch's OpenMP threads, set before torch is imported: default "
                        "(unset: libgomp's own short spin, then sleep; PyTorch as its users run it), passive "
                        "or active")
    p.add_argument("--same-init", action="store_true",
                   help="load PyTorch's initial weights into bptt (separates init noise from the rest)")
    args = p.parse_args(argv)
    for name in ("steps", "block", "eval_every"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    report = run(args)
    print_report(report)
    if args.markdown:
        print()
        print(markdown(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
