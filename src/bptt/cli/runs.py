"""What ``bptt train`` and ``bptt translate train`` share: the configuration of a fresh or resumed run from
the flags, and running it with progress, one-line errors and the exit code of an interruption."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..data import DataError
from ..models.checkpoint import CheckpointError
from ..training import Interrupted, RunConfig, TrainingError
from ..training.rundir import RunDirectory
from .errors import CLIError, Stopped
from .progress import Progress

__all__ = ["resolve_config", "run_training", "validated"]


def resolve_config(config: type[RunConfig], out: Path, given: dict[str, Any], resume: bool,
                   conflicts: Callable[[dict[str, Any]], list[str]] | None = None) -> dict[str, Any]:
    """The settings a training command runs with, as a mapping.

    Fresh: the declared defaults with the ``given`` flags (refused when ``out`` already holds a checkpoint).
    ``resume``: the checkpoint's settings with the given schedule flags; a given shaping flag that differs
    from the checkpoint's (or anything ``conflicts(saved)`` reports) is refused, naming both values.
    """
    run_dir = RunDirectory(out)
    if not resume:
        if run_dir.has_checkpoint():
            raise CLIError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
        return {**config().to_dict(), **given}
    try:
        checkpoint = run_dir.load_checkpoint(config.KIND, {})
    except CheckpointError as exc:
        raise CLIError(f"cannot resume: {exc}") from None
    saved = checkpoint.meta["train_config"]
    shaping = config.shaping()
    found = [f"--{k.replace('_', '-')} {v} (checkpoint has {saved.get(k)})"
             for k, v in given.items() if k in shaping and saved.get(k) != v]
    found += conflicts(saved) if conflicts is not None else []
    if found:
        raise CLIError("--resume continues the run in the checkpoint; these settings conflict with it: "
                       + "; ".join(found))
    return {**saved, **{k: v for k, v in given.items() if k not in shaping}}


def validated(config: type[RunConfig], settings: dict[str, Any]) -> Any:
    """The configuration of ``settings``, validated (a bad value is a :class:`CLIError`)."""
    cfg = config.from_dict(settings)
    try:
        cfg.validate()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return cfg


def run_training(train: Callable[..., dict[str, Any]], cfg: RunConfig, out: Path, *, resume: bool,
                 start_lines: Callable[[dict[str, Any]], Iterable[str]],
                 log_line: Callable[[dict[str, Any]], str],
                 final_line: Callable[[dict[str, Any]], str], samples: bool = False) -> int:
    """Run ``train(cfg, out, resume=..., on_start=..., on_log=..., on_progress=...)`` with a progress bar.

    ``start_lines(info)`` are printed before the first step, ``log_line(record)`` for evaluation records
    (every record without a progress bar), ``final_line(summary)`` and the checkpoint's path at the end;
    ``samples``: also show the samples. Ctrl-C is :class:`Stopped` (exit 130, the checkpoint saved); bad data,
    checkpoints or settings and divergence are a :class:`CLIError`.
    """
    progress = Progress()

    def on_start(info: dict[str, Any]) -> None:
        for line in start_lines(info):
            print(line)
        sys.stdout.flush()
        progress.start(info["total_steps"], info["step"])

    def on_log(record: dict[str, Any]) -> None:
        if "val_loss" in record or progress.verbose:
            progress.write(log_line(record))

    def on_sample(step: int, text: str) -> None:
        progress.write(f"--- sample at step {step} ---\n{text}\n---")

    hooks: dict[str, Any] = {"on_start": on_start, "on_log": on_log, "on_progress": progress.step}
    if samples:
        hooks["on_sample"] = on_sample
    try:
        summary = train(cfg, out, resume=resume, **hooks)
    except Interrupted as exc:
        raise Stopped(f"{exc}; continue with --resume") from None
    except (DataError, CheckpointError, TrainingError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    finally:
        progress.close()
    print(final_line(summary))
    print(f"checkpoint: {summary['checkpoint']}")
    return 0

