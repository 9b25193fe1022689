"""Speed of bptt's LSTM and GRU layers against PyTorch on the CPU, in one process.

For each mode (LSTM, GRU) and shape (T, B, D, H), float32, one layer, same weights (PyTorch's state dict
loaded into bptt) and same inputs:

* fwd+bwd: ``out, hc = m(x); m.backward(dout)`` against ``out, _ = tm(x_t); out.backward(dout_t)``
  (``x_t.requires_grad=True``; ``dout`` a fixed random array);
* fwd only: bptt under ``bptt.nn.no_grad()``, torch under ``torch.no_grad()``;
* the plain ``np.matmul`` calls bptt's fwd+bwd is made of (same shapes and memory layouts, preallocated
  outputs), so bptt's GFLOP/s can be read against what the BLAS achieves on the same GEMMs.

Runs are interleaved (each repetition runs every contender once, the order rotating from one repetition to
the next), with 2 warm-up runs each and ``--repeats`` timed runs each (``time.perf_counter``); gradients are
zeroed between runs, untimed. Medians are reported. Before each timed call the script sleeps ``--gap``
seconds and makes one untimed call of the same contender: NumPy's OpenBLAS threads and PyTorch's OpenMP
threads spin for a while after each call, and on few cores one library's spinning pool slows the other
down several times over; the untimed call leaves the contender's own threads and caches hot, as in a
training loop. CPU used by other processes during each case is reported (``NOISY`` above 10%).

Usage::

    python benchmarks/bench_rnn.py                      # all modes and shapes, text report
    python benchmarks/bench_rnn.py --markdown           # plus a table for docs/benchmarks.md
    python benchmarks/bench_rnn.py --modes lstm --shapes 0,2 --repeats 15 --json out.json
    python benchmarks/bench_rnn.py --profile --modes gru --shapes 64x32x128x256   # where bptt's time goes
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import datetime
import gc
import io
import json
import linecache
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import bptt

DEFAULT_SHAPES: list[tuple[int, int, int, int]] = [
    (64, 32, 128, 256), (100, 32, 65, 512), (35, 20, 200, 200), (50, 1, 65, 100),
]
GATES = {"lstm": 4, "gru": 3}
WARMUP = 2
NOISY = 0.1  # other processes' share of the CPUs above which a measurement is flagged


# ---------------------------------------------------------------------------------------------- machine info
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    except OSError:
        pass
    return []


def _openblas() -> dict[str, Any]:
    """Thread count, core name and config of the OpenBLAS NumPy has loaded (read with ctypes), if any."""
    info: dict[str, Any] = {}
    path = None
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                if "openblas" in line.lower() and ".so" in line:
                    path = line.split()[-1]
                    break
    except OSError:
        return info
    if path is None:
        return info
    info["library"] = os.path.basename(path)
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return info
    for key, names, restype in (
        ("threads", ("openblas_get_num_threads", "openblas_get_num_threads64_",
                     "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads"), ctypes.c_int),
        ("corename", ("openblas_get_corename", "openblas_get_corename64_",
                      "scipy_openblas_get_corename64_", "scipy_openblas_get_corename"), ctypes.c_char_p),
        ("config", ("openblas_get_config", "openblas_get_config64_",
                    "scipy_openblas_get_config64_", "scipy_openblas_get_config"), ctypes.c_char_p),
    ):
        for name in names:
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            fn.restype = restype
            fn.argtypes = []
            value = fn()
            info[key] = value.decode().strip() if isinstance(value, bytes) else value
            break
    return info


def _numpy_blas() -> str:
    cfg = getattr(np.__config__, "CONFIG", None)
    if isinstance(cfg, dict):
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    return "unknown (numpy.show_config() for details)"


def _git_state() -> str | None:
    """``<short commit>`` of the checkout bptt is imported from, ``+dirty`` if its src/ has local changes."""
    root = Path(bptt.__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def machine_info() -> dict[str, Any]:
    torch_cfg = torch.__config__.show()
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch_cfg)
    cap = re.search(r"CPU capability usage: (\S+)", torch_cfg)
    env_keys = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "os_cpu_count": os.cpu_count(),
        "usable_cpus": affinity,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
        "openblas": _openblas(),
        "torch": torch.__version__,
        "torch_blas": m.group(1) if m else "?",
        "torch_cpu_capability": cap.group(1) if cap else "?",
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "bptt": bptt.__version__,
        "bptt_git": _git_state(),
        "env": {k: os.environ[k] for k in env_keys if k in os.environ},
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def print_machine_info(info: dict[str, Any]) -> None:
    ob = info["openblas"]
    print(f"date            {info['date']}")
    flags = ", " + " ".join(info["cpu_flags"]) if info["cpu_flags"] else ""
    print(f"cpu             {info['cpu_model']}  (os.cpu_count()={info['os_cpu_count']}, "
          f"usable={info['usable_cpus']}{flags})")
    print(f"python          {info['python']}  {info['platform']}")
    print(f"numpy           {info['numpy']}  BLAS: {info['numpy_blas']}")
    if ob:
        print(f"  openblas      threads={ob.get('threads', '?')} core={ob.get('corename', '?')} "
              f"[{ob.get('config', ob.get('library', ''))}]")
    print(f"torch           {info['torch']}  BLAS: {info['torch_blas']}, "
          f"CPU capability {info['torch_cpu_capability']}, threads={info['torch_threads']} "
          f"(set_num_threads(os.cpu_count())), interop={info['torch_interop_threads']}")
    print(f"bptt            {info['bptt']}  ({Path(bptt.__file__).parent}"
          f"{', git ' + info['bptt_git'] if info['bptt_git'] else ''})")
    if info["loadavg_at_start"] is not None:
        print("load average    " + " ".join(f"{v:.2f}" for v in info["loadavg_at_start"])
              + f" (1, 5, 15 min) on {info['usable_cpus']} usable CPUs")
    env = info["env"]
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in env:
            print(f"NOTE: {key}={env[key]} is set (it changes OpenBLAS's kernel choice / blocking)")
    others = {k: v for k, v in env.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    if others:
        print("env             " + " ".join(f"{k}={v}" for k, v in others.items()))


class OtherLoad:
    """CPU time used by *other* processes while a block runs, as a fraction of the machine (0 = quiet).

    From ``/proc/stat`` (all busy jiffies, steal included) minus this process's own CPU time. A benchmark
    on a shared machine is only meaningful when this stays small; with multithreaded BLAS on few cores,
    even one competing process can slow a run down many times over (threads wait for a descheduled peer).
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
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
        return (sum(vals[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> OtherLoad:
        self._b0, self._own0, self._w0 = self._busy(), sum(os.times()[:2]), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        b1 = self._busy()
        if self._b0 is None or b1 is None:
            return
        wall = time.perf_counter() - self._w0
        own = sum(os.times()[:2]) - self._own0
        ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.fraction = max(0.0, (b1 - self._b0 - own) / (wall * ncpu)) if wall > 0 else None


def wait_idle(max_seconds: float) -> None:
    """Wait (up to ``max_seconds``) until other processes use at most ``NOISY`` of the CPUs for a second."""
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        with OtherLoad() as load:
            time.sleep(1.0)
        if load.fraction is None or load.fraction <= NOISY:
            return


# ---------------------------------------------------------------------------------------------- FLOPs
def gemm_flops(mode: str, T: int, B: int, D: int, H: int) -> dict[str, int]:
    """Exact multiply-add FLOPs (2 per MAC) of the GEMMs in one fwd+bwd of one layer."""
    G = GATES[mode] * H
    return {
        "fwd_input_proj": 2 * T * B * D * G,   # (T*B, D) @ (D, G)
        "fwd_recurrent": 2 * T * B * H * G,    # T x (B, H) @ (H, G)
        "bwd_dx": 2 * T * B * G * D,           # (T*B, G) @ (G, D)
        "bwd_dW_ih": 2 * G * T * B * D,        # (G, T*B) @ (T*B, D)
        "bwd_dW_hh": 2 * G * T * B * H,        # (G, T*B) @ (T*B, H)
        "bwd_dh": 2 * T * B * G * H,           # T x (B, G) @ (G, H)
    }


def make_plain_matmul(
    mode: str, T: int, B: int, D: int, H: int, rng: np.random.Generator
) -> Callable[[], None]:
    """The GEMMs of bptt's fwd+bwd as bare ``np.matmul`` calls (same shapes and layouts, given outputs)."""
    G = GATES[mode] * H
    f32 = np.float32

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(f32)

    X, W_ih, W_hh = r(T * B, D), r(G, D), r(G, H)
    W_hh_T = np.ascontiguousarray(W_hh.T)  # bptt keeps a C-ordered (H, G) copy for the forward step
    Hs = r(T + 1, B, H)
    dA = r(T * B, G)
    dA3 = dA.reshape(T, B, G)
    A = np.empty((T * B, G), f32)
    rec = np.empty((B, G), f32)
    dh = np.empty((B, H), f32)
    dx = np.empty((T * B, D), f32)
    dW_ih = np.empty((G, D), f32)
    dW_hh = np.empty((G, H), f32)
    H_prev = Hs[:-1].reshape(T * B, H)

    def run() -> None:
        np.matmul(X, W_ih.T, out=A)
        for t in range(T):
            np.matmul(Hs[t], W_hh_T, out=rec)
        for t in range(T - 1, -1, -1):
            np.matmul(dA3[t], W_hh, out=dh)
        np.matmul(dA, W_ih, out=dx)
        np.matmul(dA.T, X, out=dW_ih)
        np.matmul(dA.T, H_prev, out=dW_hh)

    return run


# ---------------------------------------------------------------------------------------------- setup
class Case:
    """One (mode, shape): the two modules, the inputs, and the callables to time."""

    def __init__(self, mode: str, shape: tuple[int, int, int, int], seed: int = 0) -> None:
        T, B, D, H = shape
        self.mode, self.shape = mode, shape
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        tcls, bcls = {"lstm": (torch.nn.LSTM, bptt.nn.LSTM), "gru": (torch.nn.GRU, bptt.nn.GRU)}[mode]
        self.tm = tcls(D, H)
        self.bm = bcls(D, H, rng=seed)
        self.bm.load_state_dict(self.tm.state_dict())
        self.x = rng.standard_normal((T, B, D)).astype(np.float32)
        self.dout = rng.standard_normal((T, B, H)).astype(np.float32)
        self.x_t = torch.tensor(self.x, requires_grad=True)
        self.dout_t = torch.tensor(self.dout)
        self.tparams = list(self.tm.parameters())
        self.matmul = make_plain_matmul(mode, T, B, D, H, rng)

    # fwd+bwd ---------------------------------------------------------------------------------------
    def bptt_fb(self) -> None:
        out, hc = self.bm(self.x)
        self.bm.backward(self.dout)

    def torch_fb(self) -> None:
        out, _ = self.tm(self.x_t)
        out.backward(self.dout_t)

    # fwd only --------------------------------------------------------------------------------------
    def bptt_f(self) -> None:
        with bptt.nn.no_grad():
            self.bm(self.x)

    def torch_f(self) -> None:
        with torch.no_grad():
            self.tm(self.x_t)

    # untimed resets --------------------------------------------------------------------------------
    def bptt_zero(self) -> None:
        self.bm.zero_grad()
        self.bm.clear_caches()

    def torch_zero(self) -> None:
        # In place, as bptt's zero_grad: backward then accumulates into existing buffers in both libraries.
        for p in self.tparams:
            if p.grad is not None:
                p.grad.zero_()
        self.x_t.grad = None  # bptt returns a fresh dx too

    def check(self) -> dict[str, float]:
        """Max abs differences bptt - torch of the output and every gradient (a guard: same computation?)."""
        self.bptt_zero()
        self.torch_zero()
        out, _ = self.bm(self.x)
        dx, _ = self.bm.backward(self.dout)
        tout, _ = self.tm(self.x_t)
        tout.backward(self.dout_t)
        diffs = {"out": float(np.abs(out - tout.detach().numpy()).max()),
                 "dx": float(np.abs(dx - self.x_t.grad.numpy()).max())}
        bgrads = dict(self.bm.named_parameters())
        for name, p in self.tm.named_parameters():
            diffs[name] = float(np.abs(bgrads[name].grad - p.grad.numpy()).max())
        self.bptt_zero()
        self.torch_zero()
        return diffs


def interleaved(contenders: dict[str, tuple[Callable[[], None], Callable[[], None] | None]], repeats: int,
                gap: float, prime: bool) -> dict[str, list[float]]:
    """Time each contender ``repeats`` times (after ``WARMUP`` runs), interleaved, order rotating each round.

    ``contenders`` maps name -> (timed function, untimed reset run before each call, or None). Before each
    timed call: ``gc.collect()``, sleep ``gap`` seconds (so the *other* library's worker threads, which spin
    for a while after each call, have gone idle instead of competing for the cores) and, with ``prime``, one
    untimed call of the same contender (so its own threads and caches are hot, as in a training loop of
    back-to-back calls). The garbage collector is off during the timed call. Returns name -> seconds.
    """
    names = list(contenders)
    times: dict[str, list[float]] = {n: [] for n in names}
    gc_was_enabled = gc.isenabled()
    try:
        for rep in range(WARMUP + repeats):
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                fn, reset = contenders[name]
                gc.collect()
                if gap:
                    time.sleep(gap)
                gc.disable()
                if prime:
                    if reset is not None:
                        reset()
                    fn()
                if reset is not None:
                    reset()
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                gc.enable()
                if rep >= WARMUP:
                    times[name].append(t1 - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
        else:
            gc.disable()
    return times


def _summ(ts: list[float]) -> dict[str, Any]:
    ms = sorted(1e3 * t for t in ts)
    q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return {"median_ms": statistics.median(ms), "min_ms": ms[0], "max_ms": ms[-1],
            "q1_ms": q[0], "q3_ms": q[2], "all_ms": [1e3 * t for t in ts]}


def bench_case(case: Case, repeats: int, gap: float, prime: bool) -> dict[str, Any]:
    T, B, D, H = case.shape
    diffs = case.check()
    with OtherLoad() as load:
        fb = interleaved({
            "bptt": (case.bptt_fb, case.bptt_zero),
            "torch": (case.torch_fb, case.torch_zero),
            "matmul": (case.matmul, None),
        }, repeats, gap, prime)
        fwd = interleaved({
            "bptt": (case.bptt_f, None),
            "torch": (case.torch_f, None),
        }, repeats, gap, prime)
    flops = gemm_flops(case.mode, T, B, D, H)
    total = sum(flops.values())
    res: dict[str, Any] = {
        "mode": case.mode.upper(), "T": T, "B": B, "D": D, "H": H, "dtype": "float32",
        "fwd_bwd": {k: _summ(v) for k, v in fb.items()},
        "fwd": {k: _summ(v) for k, v in fwd.items()},
        "gemm_flops": flops, "gemm_flops_total": total,
        "max_abs_diff_vs_torch": diffs,
        "other_cpu_load": load.fraction,
    }
    b, t, m = (res["fwd_bwd"][k]["median_ms"] for k in ("bptt", "torch", "matmul"))
    res["ratio"] = b / t
    res["fwd_ratio"] = res["fwd"]["bptt"]["median_ms"] / res["fwd"]["torch"]["median_ms"]
    res["bptt_gflops"] = total / (b * 1e6)
    res["torch_gflops"] = total / (t * 1e6)
    res["matmul_gflops"] = total / (m * 1e6)
    res["gemm_fraction"] = m / b  # = bptt GFLOP/s / plain matmul GFLOP/s
    return res


# ---------------------------------------------------------------------------------------------- report
def shape_str(r: dict[str, Any]) -> str:
    return f"{r['T']}x{r['B']}x{r['D']}x{r['H']}"


def print_row(r: dict[str, Any]) -> None:
    fb, fw = r["fwd_bwd"], r["fwd"]
    worst = max(r["max_abs_diff_vs_torch"].values())
    print(f"{r['mode']:<4} T,B,D,H={shape_str(r):<16}"
          f" fwd+bwd  bptt {fb['bptt']['median_ms']:8.2f} ms  torch {fb['torch']['median_ms']:8.2f} ms"
          f"  ratio {r['ratio']:5.2f}"
          f" | fwd  bptt {fw['bptt']['median_ms']:7.2f} ms  torch {fw['torch']['median_ms']:7.2f} ms"
          f"  ratio {r['fwd_ratio']:5.2f}")
    print(f"{'':<4} {'':<24}"
          f" GEMM {r['gemm_flops_total'] / 1e9:.3f} GFLOP: bptt GFLOP/s {r['bptt_gflops']:6.1f},"
          f" plain matmul GFLOP/s {r['matmul_gflops']:6.1f} ({fb['matmul']['median_ms']:.2f} ms),"
          f" fraction {r['gemm_fraction']:.2f}; torch GFLOP/s {r['torch_gflops']:6.1f}")
    other = r["other_cpu_load"]
    print(f"{'':<4} {'':<24}"
          f" bptt IQR {fb['bptt']['q1_ms']:.2f}-{fb['bptt']['q3_ms']:.2f} ms,"
          f" torch IQR {fb['torch']['q1_ms']:.2f}-{fb['torch']['q3_ms']:.2f} ms; max|diff| {worst:.1e};"
          f" other processes' CPU load {'?' if other is None else f'{100 * other:.0f}%'}"
          + ("  <-- NOISY: machine not idle" if other is not None and other > NOISY else ""))


def markdown_table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| shape (T, B, D, H) | mode | bptt ms | torch ms | ratio | fwd ratio | GFLOP/s | matmul GFLOP/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| ({r['T']}, {r['B']}, {r['D']}, {r['H']}) | {r['mode']} "
            f"| {r['fwd_bwd']['bptt']['median_ms']:.2f} | {r['fwd_bwd']['torch']['median_ms']:.2f} "
            f"| {r['ratio']:.2f} | {r['fwd_ratio']:.2f} "
            f"| {r['bptt_gflops']:.1f} | {r['matmul_gflops']:.1f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- profile
_PKG_DIR = str(Path(bptt.__file__).resolve().parent)


class LineTimer:
    """Wall time per source line of bptt's own code (``sys.settrace``), NumPy calls included in their line.

    The clock is read on entry to the trace callback and restarted on exit, so the tracer's own cost is
    mostly excluded; what remains inflates the total somewhat (the report shows traced vs untraced time).
    """

    def __init__(self) -> None:
        self.times: dict[tuple[str, int, str], float] = defaultdict(float)
        self.hits: dict[tuple[str, int, str], int] = defaultdict(int)
        self._key: tuple[str, int, str] | None = None
        self._t = 0.0
        self._traced: dict[Any, bool] = {}

    def _charge(self, now: float) -> None:
        if self._key is not None:
            self.times[self._key] += now - self._t

    def _is_ours(self, code: Any) -> bool:
        ours = self._traced.get(code)
        if ours is None:
            ours = self._traced[code] = str(Path(code.co_filename).resolve()).startswith(_PKG_DIR)
        return ours

    def _global(self, frame: Any, event: str, arg: Any) -> Any:
        now = time.perf_counter()
        self._charge(now)
        result = None
        if event == "call" and self._is_ours(frame.f_code):
            self._key = None  # until the callee's first line
            result = self._local
        self._t = time.perf_counter()
        return result

    def _local(self, frame: Any, event: str, arg: Any) -> Any:
        now = time.perf_counter()
        self._charge(now)
        code = frame.f_code
        if event == "line":
            self._key = (code.co_filename, frame.f_lineno, code.co_name)
            self.hits[self._key] += 1
        elif event == "return":
            back = frame.f_back
            if back is not None and self._is_ours(back.f_code):
                self._key = (back.f_code.co_filename, back.f_lineno, back.f_code.co_name)
            else:
                self._key = None
        self._t = time.perf_counter()
        return self._local

    def run(self, fn: Callable[[], None]) -> None:
        self._key = None
        sys.settrace(self._global)
        try:
            fn()
        finally:
            sys.settrace(None)
            self._key = None


def profile_case(case: Case, runs: int, top: int) -> None:
    T, B, D, H = case.shape
    print(f"\n=== profile: {case.mode.upper()} T,B,D,H={T}x{B}x{D}x{H}, {runs} fwd+bwd runs ===")
    for _ in range(WARMUP):
        case.bptt_zero()
        case.bptt_fb()

    # Untimed-overhead phase split: forward, backward, zero_grad.
    phases: dict[str, list[float]] = {"forward (m(x))": [], "backward (m.backward)": [], "zero_grad": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        case.bm.zero_grad()
        t1 = time.perf_counter()
        case.bm(case.x)
        t2 = time.perf_counter()
        case.bm.backward(case.dout)
        t3 = time.perf_counter()
        phases["zero_grad"].append(t1 - t0)
        phases["forward (m(x))"].append(t2 - t1)
        phases["backward (m.backward)"].append(t3 - t2)
    untraced = sum(statistics.median(v) for k, v in phases.items() if k != "zero_grad")
    print("phases (median ms): "
          + ", ".join(f"{k} {1e3 * statistics.median(v):.2f}" for k, v in phases.items()))
    flops = gemm_flops(case.mode, T, B, D, H)
    fwd_gemm = flops["fwd_input_proj"] + flops["fwd_recurrent"]
    print(f"GEMM GFLOP: forward {fwd_gemm / 1e9:.3f}, backward {(sum(flops.values()) - fwd_gemm) / 1e9:.3f}"
          f" (per GEMM: {', '.join(f'{k} {v / 1e9:.3f}' for k, v in flops.items())})")

    # cProfile, function level (NumPy ufuncs are not profiled on their own: their time is the caller's).
    prof = cProfile.Profile()
    for _ in range(runs):
        case.bptt_zero()
        prof.runcall(case.bptt_fb)
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    print("\n--- cProfile, top functions by tottime (summed over all runs) ---")
    text = buf.getvalue()
    start = text.find("   ncalls")
    print(text[start:].rstrip() if start >= 0 else text.rstrip())

    # Line-level: where inside lstm.py / gru.py the time goes.
    lt = LineTimer()
    traced_total = 0.0
    for _ in range(runs):
        case.bptt_zero()
        t0 = time.perf_counter()
        lt.run(case.bptt_fb)
        traced_total += time.perf_counter() - t0
    total = sum(lt.times.values())
    print(f"\n--- line-level wall time (sys.settrace), top {top} lines, per fwd+bwd ---")
    print(f"traced {1e3 * traced_total / runs:.2f} ms/run (attributed {1e3 * total / runs:.2f} ms) "
          f"vs untraced {1e3 * untraced:.2f} ms/run: the difference is tracer overhead")
    print(f"{'ms/run':>8} {'%':>5} {'hits/run':>8}  location  source")
    for key, secs in sorted(lt.times.items(), key=lambda kv: -kv[1])[:top]:
        fname, lineno, func = key
        src = linecache.getline(fname, lineno).strip()
        rel = os.path.relpath(fname, os.path.dirname(_PKG_DIR))
        print(f"{1e3 * secs / runs:8.3f} {100 * secs / total:5.1f} {lt.hits[key] / runs:8.0f}  "
              f"{rel}:{lineno} ({func})  {src[:90]}")
    by_func: dict[str, float] = defaultdict(float)
    for (fname, _, func), secs in lt.times.items():
        by_func[f"{os.path.relpath(fname, os.path.dirname(_PKG_DIR))}:{func}"] += secs
    print("\nper function (self time, NumPy calls included):")
    for name, secs in sorted(by_func.items(), key=lambda kv: -kv[1])[:10]:
        print(f"{1e3 * secs / runs:8.3f} {100 * secs / total:5.1f}  {name}")


# ---------------------------------------------------------------------------------------------- main
def parse_shapes(spec: str | None) -> list[tuple[int, int, int, int]]:
    if not spec:
        return list(DEFAULT_SHAPES)
    shapes = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if item.isdigit():
            idx = int(item)
            if not 0 <= idx < len(DEFAULT_SHAPES):
                raise SystemExit(f"--shapes: index {idx} out of range 0..{len(DEFAULT_SHAPES) - 1}")
            shapes.append(DEFAULT_SHAPES[idx])
            continue
        parts = re.split(r"[x,:/]", item.lower())
        if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise SystemExit(f"--shapes: {item!r} is neither an index nor TxBxDxH (e.g. 64x32x128x256)")
        shapes.append(tuple(int(p) for p in parts))  # type: ignore[arg-type]
    return shapes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="lstm,gru", help="comma-separated subset of lstm,gru (default both)")
    ap.add_argument("--shapes", default=None,
                    help="comma-separated shapes: indices into the default list "
                         + ", ".join(f"{i}={'x'.join(map(str, s))}" for i, s in enumerate(DEFAULT_SHAPES))
                         + " or explicit TxBxDxH (default: all four)")
    ap.add_argument("--repeats", type=int, default=9,
                    help="timed repetitions per contender (>= 7, default 9)")
    ap.add_argument("--gap", type=float, default=0.05,
                    help="seconds to sleep (untimed) before each timed run, so that the other library's "
                         "spinning BLAS/OpenMP threads are idle (default 0.05)")
    ap.add_argument("--no-prime", action="store_true",
                    help="do not make one untimed call of the same contender right before each timed call")
    ap.add_argument("--retries", type=int, default=0,
                    help="re-measure a case up to N times while other processes use > 10%% of the CPUs, "
                         "keeping the quietest attempt (default 0)")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before measuring a case, wait up to SECONDS for other processes to use <= 10%% "
                         "of the CPUs (default 0: do not wait)")
    ap.add_argument("--json", metavar="PATH",
                    help="write machine info and all results (every sample) as JSON")
    ap.add_argument("--markdown", action="store_true",
                    help="also print a markdown table for docs/benchmarks.md")
    ap.add_argument("--profile", action="store_true",
                    help="instead of benchmarking, profile bptt's fwd+bwd on the first selected shape for "
                         "each selected mode (phases, cProfile top functions, line-level wall time)")
    ap.add_argument("--profile-runs", type=int, default=5, help="fwd+bwd runs to profile (default 5)")
    ap.add_argument("--top", type=int, default=25, help="rows in the profile listings (default 25)")
    args = ap.parse_args(argv)

    modes = [m.strip().lower() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in GATES]
    if bad or not modes:
        ap.error(f"--modes: unknown {bad}; choose from lstm,gru")
    if args.repeats < 7:
        ap.error("--repeats must be >= 7")
    shapes = parse_shapes(args.shapes)

    torch.set_num_threads(os.cpu_count() or 1)
    info = machine_info()
    print_machine_info(info)

    if args.profile:
        for mode in modes:
            profile_case(Case(mode, shapes[0]), args.profile_runs, args.top)
        return 0

    print(f"\nfloat32, one layer; {WARMUP} warm-up + {args.repeats} timed runs each, interleaved; "
          f"{args.gap} s gap{', primed' if not args.no_prime else ''} before each; medians\n")
    results = []
    for mode in modes:
        for shape in shapes:
            case = Case(mode, shape)
            wait_idle(args.wait_idle)
            r = bench_case(case, args.repeats, args.gap, not args.no_prime)
            attempts = 1
            load = r["other_cpu_load"] or 0.0
            while load > NOISY and attempts <= args.retries:
                print(f"(re-measuring {mode.upper()} {shape_str(r)}: other processes used "
                      f"{100 * load:.0f}% of the CPUs)")
                wait_idle(args.wait_idle)
                r2 = bench_case(case, args.repeats, args.gap, not args.no_prime)
                attempts += 1
                load = r2["other_cpu_load"] or 0.0
                if load < (r["other_cpu_load"] or 0.0):
                    r = r2
            r["attempts"] = attempts
            worst = max(r["max_abs_diff_vs_torch"].values())
            if worst > 1e-3:
                print(f"WARNING: bptt and torch disagree (max abs diff {worst:.2e}): "
                      f"{r['max_abs_diff_vs_torch']}", file=sys.stderr)
            print_row(r)
            results.append(r)
            sys.stdout.flush()

    noisy = [r for r in results if (r["other_cpu_load"] or 0.0) > NOISY]
    if noisy:
        which = ", ".join(r["mode"] + " " + shape_str(r) for r in noisy)
        print(f"\nWARNING: {len(noisy)} of {len(results)} cases ran while other processes used > 10% of the "
              f"CPUs ({which}): re-run on an idle machine")
    if args.markdown:
        print()
        print(markdown_table(results))
    if args.json:
        settings = {"repeats": args.repeats, "warmup": WARMUP, "gap": args.gap, "prime": not args.no_prime,
                    "retries": args.retries, "wait_idle": args.wait_idle,
                    "dtype": "float32", "command": " ".join(sys.argv)}
        payload = {"machine": info, "settings": settings, "results": results}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
