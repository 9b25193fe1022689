"""Pieces shared by the training loops (language models and translators): run-directory metrics, the
checked gradient step, and Ctrl-C handling that only ever saves the state after a finished step."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import Parameter
from ..nn.utils import clip_grad_norm_
from . import checkpoint as ckpt


class ConfigDict:
    """``to_dict`` / ``from_dict`` for the run-configuration dataclasses (unknown keys are ignored)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in d.items() if k in names})


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss or gradients, bad configuration)."""


class Interrupted(Exception):
    """Raised by a training loop after Ctrl-C, once the checkpoint is saved."""

    def __init__(self, step: int, path: Path) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint saved to {path}")
        self.step = step
        self.path = path


def metrics_path(out: Path) -> Path:
    return out / "metrics.jsonl"


def truncate_metrics(out: Path, step: int) -> None:
    """Keep only the records up to ``step`` (a resumed run rewrites what followed the checkpoint)."""
    p = metrics_path(out)
    if not p.exists():
        return
    kept = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue
    p.write_text("".join(k + "\n" for k in kept), encoding="utf-8")


def append_metrics(out: Path, record: dict[str, Any], on_log: Callable[[dict[str, Any]], None] | None) -> None:
    with open(metrics_path(out), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    if on_log is not None:
        on_log(record)


def clip_and_check(params: list[Parameter], clip_norm: float | None, loss: float, step: int, out: Path,
                   last_saved: int) -> float:
    """Clip (when ``clip_norm``) and return the gradient norm; raise :class:`TrainingError` when the loss or
    the norm is not finite, naming the step and the checkpoint that is kept."""
    if clip_norm is not None:
        gnorm = clip_grad_norm_(params, clip_norm)
    else:
        gnorm = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    if not (math.isfinite(loss) and math.isfinite(gnorm)):
        what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", gnorm)
        kept = (f"the last good checkpoint (step {last_saved}) is kept in {out}"
                if (out / ckpt.FILENAME).exists() else "no checkpoint had been saved yet")
        raise TrainingError(f"training stopped at step {step + 1}: the {what} is not finite ({value}); {kept}")
    return gnorm


class _Sigint:
    requested = False


@contextlib.contextmanager
def deferred_sigint() -> Iterator[_Sigint]:
    """Defer Ctrl-C (SIGINT) to a point the loop chooses: the first one only sets ``.requested`` (the loop
    raises ``KeyboardInterrupt`` after finishing its step), a second one interrupts at once. Only in the main
    thread (elsewhere signals cannot be handled and nothing changes)."""
    flag = _Sigint()

    def on_sigint(signum: int, frame: Any) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
