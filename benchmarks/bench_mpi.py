"""Throughput of data-parallel training: bptt's character LM in 1 and 2 MPI processes against PyTorch.

The model and data are bench_lm.py's: one-hot -> 2-layer LSTM (hidden 256) -> Linear -> softmax cross-entropy,
Adam lr 2e-3, clip 5, sequence 64, global batch 32, float32, tinyshakespeare (last 5% held out). Contenders,
each a fresh subprocess (so thread settings apply from the start), every one with ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` removed from its environment (they pin OpenBLAS to older kernels on some machines):

============  ==========================================================================================
``bptt-1``    ``python bench_mpi.py --worker bptt``: one process, NumPy's OpenBLAS with its default threads
``bptt-1x1``  the same with ``OPENBLAS_NUM_THREADS=1``: the per-process baseline of the scaling efficiency
``bptt-2``    ``OPENBLAS_NUM_THREADS=1 mpiexec -n 2 python bench_mpi.py --worker bptt``: 2 processes, 16
              streams each, one ``Allreduce`` per step
``torch``     ``python bench_mpi.py --worker torch``: bench_lm.py's PyTorch model and step in one process,
              ``torch.set_num_threads(os.cpu_count())``, ``OMP_WAIT_POLICY`` unset (as its users run it)
============  ==========================================================================================

The bptt worker runs the library's own loop (:func:`bptt.training.run` with
:class:`~bptt.training.lm.LanguageModelTask` and the communicator :func:`bptt.training.distributed.world`
returns: what ``bptt train`` runs). The first ``--warmup`` steps are not timed; tokens/s counts the steps
between the progress callbacks of step ``warmup`` and of step ``steps - 1`` (the last step's evaluation and
checkpoint are excluded), ``B * T`` global tokens per step. A wrapper around the communicator times
``reduce_step`` (the ``Allreduce`` with its scaling, and the wait for the slower process); before training,
a bare ``Allreduce`` of a buffer of the same size is timed after a ``Barrier`` (the transfer alone).

Each round runs every contender once, the order rotating from round to round; the table reports medians over
rounds. Scaling efficiency = tokens/s of ``bptt-2`` / (2 x tokens/s of ``bptt-1x1``).

Usage (from the repository root, with the ``mpi`` and ``test`` extras installed)::

    python benchmarks/bench_mpi.py --rounds 3 --steps 300 --markdown --json mpi.json
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "tinyshakespeare.txt"
PINNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CONTENDERS = ("bptt-1", "bptt-1x1", "bptt-2", "torch")
TARGET = 1.3  # bptt-2's tokens/s at least 1.3x PyTorch's


def openblas_info() -> dict[str, Any]:
    """The OpenBLAS NumPy loaded: its build configuration, the kernel chosen at run time, its threads."""
    import numpy as np  # noqa: PLC0415 - only in the workers

    np.dot(np.ones((2, 2)), np.ones((2, 2)))
    paths = sorted({line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.lower()})
    info: dict[str, Any] = {"library": paths[0] if paths else None}
    if not paths:
        return info
    lib = ctypes.CDLL(paths[0])
    for key, names, kind in (("corename", ("scipy_openblas_get_corename64_", "openblas_get_corename"), ctypes.c_char_p),
                             ("config", ("scipy_openblas_get_config64_", "openblas_get_config"), ctypes.c_char_p),
                             ("threads", ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"),
                              ctypes.c_int)):
        for name in names:
            if hasattr(lib, name):
                f = getattr(lib, name)
                f.restype = kind
                value = f()
                info[key] = value.decode() if isinstance(value, bytes) else value
                break
    return info


# ---------------------------------------------------------------------------------------------- workers
class TimedCommunicator:
    """The real communicator, with the time spent in ``reduce_step`` summed per step."""

    def __init__(self, comm: Any) -> None:
        self.inner = comm
        self.reduce_seconds: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def reduce_step(self, outcome: Any, params: Any) -> Any:
        t0 = time.perf_counter()
        out = self.inner.reduce_step(outcome, params)
        self.reduce_seconds.append(time.perf_counter() - t0)
        return out


def bare_allreduce_seconds(n: int, repeats: int = 30) -> float | None:
    """Median time of one ``Allreduce`` of ``n`` float32 after a ``Barrier`` (None in one process)."""
    import numpy as np  # noqa: PLC0415
    from mpi4py import MPI  # noqa: PLC0415 - only under mpiexec

    comm = MPI.COMM_WORLD
    buf = np.ones(n, dtype=np.float32)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - t0)
        buf[:] = 1.0
    return statistics.median(times)


def worker_bptt(args: argparse.Namespace) -> dict[str, Any] | None:
    from bptt.training import Hooks, run  # noqa: PLC0415
    from bptt.training.distributed import world  # noqa: PLC0415
    from bptt.training.lm import LanguageModelTask, TrainConfig  # noqa: PLC0415

    comm = TimedCommunicator(world())
    cfg = TrainConfig(corpus=str(Path(args.data).resolve()), hidden_size=256, num_layers=2, seq_length=64,
                      batch_size=32, optimizer="adam", lr=2e-3, clip_norm=5.0, val_fraction=0.05, seed=0,
                      dtype="float32", steps=args.steps, eval_every=10**9, log_every=10**9, sample_every=10**9)
    n_params = 4 * 256 * (65 + 256) + 2 * 4 * 256 + 4 * 256 * 512 + 2 * 4 * 256 + 65 * 256 + 65  # vocab 65
    bare = bare_allreduce_seconds(n_params + 2) if comm.size > 1 else None
    marks: dict[int, float] = {}
    records: list[dict[str, Any]] = []

    def on_progress(step: int, total: int, loss: float) -> None:
        marks[step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        run(LanguageModelTask, cfg, Path(out) / "run", communicator=comm,
            hooks=Hooks(on_progress=on_progress, on_log=records.append))
    if not comm.is_root:
        return None
    timed = args.steps - 1 - args.warmup
    seconds = marks[args.steps - 1] - marks[args.warmup]
    reduce = comm.reduce_seconds[args.warmup : args.steps - 1]
    return {"tokens_per_s": timed * 32 * 64 / seconds, "timed_steps": timed, "seconds": seconds,
            "step_ms": 1000 * seconds / timed, "world_size": comm.size,
            "reduce_ms": 1000 * statistics.median(reduce), "reduce_share": sum(reduce) / seconds,
            "bare_allreduce_ms": None if bare is None else 1000 * bare,
            "mean_train_loss": records[-1]["train_loss"], "val_loss": records[-1]["val_loss"],
            "openblas": openblas_info()}


def worker_torch(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch  # noqa: PLC0415
    from bench_lm import TorchRunner, eval_batch_size  # noqa: PLC0415

    from bptt.data import TBPTTStreams, Vocabulary, eval_chunks, read_text, split_train_val  # noqa: PLC0415
    from bptt.training.lm import TrainConfig  # noqa: PLC0415

    torch.set_num_threads(os.cpu_count() or 1)
    text = read_text(args.data)
    vocab = Vocabulary.from_text(text, "char")
    train_ids, val_ids = split_train_val(vocab.encode(text), 0.05)
    cfg = TrainConfig(hidden_size=256, num_layers=2, seq_length=64, batch_size=32, lr=2e-3, clip_norm=5.0, seed=0)
    runner = TorchRunner(cfg, len(vocab))
    streams = TBPTTStreams(train_ids, 32, 64)
    marks, losses = {}, []
    for step in range(1, args.steps + 1):
        losses.append(runner.step(next(streams)))
        marks[step] = time.perf_counter()
    timed = args.steps - 1 - args.warmup
    seconds = marks[args.steps - 1] - marks[args.warmup]
    chunks = eval_chunks(val_ids, eval_batch_size(len(val_ids), 32, 64), 64)
    return {"tokens_per_s": timed * 32 * 64 / seconds, "timed_steps": timed, "seconds": seconds,
            "step_ms": 1000 * seconds / timed, "world_size": 1, "mean_train_loss": statistics.fmean(losses),
            "val_loss": runner.evaluate(chunks), "torch_threads": torch.get_num_threads(),
            "openblas": openblas_info()}


# ---------------------------------------------------------------------------------------------- driver
def command(name: str, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in PINNING and k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    worker = [sys.executable, str(Path(__file__).resolve()), "--data", str(args.data), "--steps", str(args.steps),
              "--warmup", str(args.warmup), "--worker"]
    if name == "torch":
        return [*worker, "torch"], env
    if name != "bptt-1":
        env["OPENBLAS_NUM_THREADS"] = "1"
    if name == "bptt-2":
        mpiexec = Path(sys.executable).parent / "mpiexec"
        return [str(mpiexec) if mpiexec.exists() else "mpiexec", "-n", "2", *worker, "bptt"], env
    return [*worker, "bptt"], env


def run_contender(name: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd, env = command(name, args)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"bench_mpi.py: {name} failed ({done.returncode}):\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["loadavg_after"] = list(os.getloadavg())
    return result


def summarize(results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    med = {name: statistics.median(r["tokens_per_s"] for r in runs) for name, runs in results.items()}
    two = results["bptt-2"]
    return {
        "tokens_per_s": med,
        "bptt2_vs_torch": med["bptt-2"] / med["torch"],
        "bptt1_vs_torch": med["bptt-1"] / med["torch"],
        "speedup_2_vs_1": med["bptt-2"] / med["bptt-1"],
        "scaling_efficiency": med["bptt-2"] / (2 * med["bptt-1x1"]),
        "reduce_share": statistics.median(r["reduce_share"] for r in two),
        "reduce_ms": statistics.median(r["reduce_ms"] for r in two),
        "bare_allreduce_ms": statistics.median(r["bare_allreduce_ms"] for r in two),
        "step_ms": {name: statistics.median(r["step_ms"] for r in runs) for name, runs in results.items()},
        "target_met": med["bptt-2"] / med["torch"] >= TARGET,
    }


def markdown(summary: dict[str, Any], results: dict[str, list[dict[str, Any]]]) -> str:
    rows = ["| contender | processes x BLAS threads | tokens/s (median) | ms/step | vs PyTorch | mean train loss | "
            "val loss |", "|---|---|---:|---:|---:|---:|---:|"]
    layout = {"bptt-1": "1 x default (2)", "bptt-1x1": "1 x 1", "bptt-2": "2 x 1", "torch": "1 x 2 (torch threads)"}
    for name, runs in results.items():
        tps = summary["tokens_per_s"][name]
        rows.append(f"| {name} | {layout[name]} | {tps:,.0f} | {summary['step_ms'][name]:.1f} | "
                    f"{tps / summary['tokens_per_s']['torch']:.2f}x | {runs[-1]['mean_train_loss']:.4f} | "
                    f"{runs[-1]['val_loss']:.4f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="UTF-8 text (default tinyshakespeare.txt)")
    p.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="untimed first steps (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="runs of every contender (default 3)")
    p.add_argument("--only", choices=CONTENDERS, action="append", help="run only these contenders")
    p.add_argument("--json", default=None, metavar="PATH")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--worker", choices=("bptt", "torch"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < args.warmup + 2:
        p.error("--steps must exceed --warmup by at least 2")
    if args.worker == "bptt":
        result = worker_bptt(args)
        if result is not None:
            print(json.dumps(result))
        return 0
    if args.worker == "torch":
        print(json.dumps(worker_torch(args)))
        return 0
    if not Path(args.data).is_file():
        raise SystemExit(f"bench_mpi.py: error: corpus not found: {args.data} (pass --data PATH)")
    names = args.only or list(CONTENDERS)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    print(f"bench_mpi: {args.rounds} rounds of {names}, {args.steps} steps each ({args.warmup} untimed); "
          f"load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())}; removed from the workers' "
          f"environment: {', '.join(k for k in PINNING if k in os.environ) or 'nothing (not set)'}")
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            res = run_contender(name, args)
            results[name].append(res)
            extra = "" if res.get("bare_allreduce_ms") is None else (
                f", reduce_step {res['reduce_ms']:.2f} ms ({100 * res['reduce_share']:.1f}% of the step time), "
                f"bare Allreduce {res['bare_allreduce_ms']:.2f} ms")
            print(f"round {r + 1} {name:8s}: {res['tokens_per_s']:8,.0f} tokens/s, {res['step_ms']:.1f} ms/step, "
                  f"train loss {res['mean_train_loss']:.4f}, val {res['val_loss']:.4f}, OpenBLAS "
                  f"{res['openblas'].get('corename')} x{res['openblas'].get('threads')}{extra}; "
                  f"load {res['loadavg_after'][0]:.2f}", flush=True)
    report: dict[str, Any] = {"args": vars(args), "results": results}
    if set(CONTENDERS) <= set(names):
        summary = summarize(results)
        report["summary"] = summary
        print(f"bptt-2 / torch {summary['bptt2_vs_torch']:.2f}x (target {TARGET}x: "
              f"{'met' if summary['target_met'] else 'missed'}); bptt-2 / bptt-1 {summary['speedup_2_vs_1']:.2f}x; "
              f"scaling efficiency {100 * summary['scaling_efficiency']:.0f}%; reduce_step {summary['reduce_ms']:.2f} "
              f"ms = {100 * summary['reduce_share']:.1f}% of bptt-2's step (bare Allreduce "
              f"{summary['bare_allreduce_ms']:.2f} ms)")
        if args.markdown:
            print(markdown(summary, results))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
