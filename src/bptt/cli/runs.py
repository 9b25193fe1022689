"""What ``bptt train`` and ``bptt translate train`` share: the processes of the run, the configuration of a
fresh or resumed run from the flags, and running it with progress, one-line errors and the exit code of an
interruption.

Under an MPI launcher (``mpiexec -n N bptt train ...``, see :mod:`bptt.training.distributed`) the command
runs in every process: rank 0 alone prints progress and results; an error every process meets alike
(bad flags, data or checkpoint, found before the first step; divergence; Ctrl-C) is printed once, by the
lowest rank that met it, and every process exits with its code; a process failing on its own during training
prints its error on stderr and aborts the run (``MPI_Abort``), so no process waits for it for ever.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..data import DataError
from ..models.checkpoint import CheckpointError
from ..training import Interrupted, RunConfig, TrainingError
from ..training.communicator import Communicator, PeerFailed
from ..training.distributed import DistributedError, MPIWorld, launcher_rank, world
from ..training.rundir import RunDirectory, RunDirectoryError
from .errors import CLIError, Reported, Stopped
from .progress import Progress

__all__ = ["resolve_config", "run_training", "training_processes", "validated"]


class Diverged(CLIError):
    """The loss or the gradient norm stopped being finite (every process of a run sees it at the same step)."""


@contextlib.contextmanager
def training_processes(prog: str) -> Iterator[Communicator]:
    """The processes of a training command (one, or an MPI launch's), with the error rules of a data-parallel
    run (see the module docstring) around the command's body; ``prog`` names the command in messages."""
    try:
        comm = world()
    except DistributedError as exc:  # every process of the launch fails alike: the launcher's rank 0 says it
        raise (CLIError(str(exc)) if launcher_rank() == 0 else Reported(CLIError.exit_code)) from None
    if not isinstance(comm, MPIWorld):
        yield comm
        return
    try:
        yield comm
    except (Reported, Stopped, Diverged):
        raise  # every process met it at the same step: rank 0 reports it, the others exit with its code
    except BaseException as exc:
        if comm.phase == comm.SETUP:  # failed before the first step: tell the others, who may be waiting
            comm.report_setup_failure(exc)
        if comm.phase == comm.FAILED:
            if comm.rank == comm.failed_rank:
                raise  # the one report of the failure
            raise Reported(_exit_code(exc)) from None
        _abort(comm, prog, exc)


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, CLIError):
        return exc.exit_code
    if isinstance(exc, PeerFailed):  # mpiexec exits with the OR of the codes: the failing process's, usually 2
        return CLIError.exit_code
    return 130 if isinstance(exc, KeyboardInterrupt) else 1


def _abort(comm: MPIWorld, prog: str, exc: BaseException) -> None:
    """One process failed during training: its error on stderr, then ``MPI_Abort`` ends every process."""
    who = f"process {comm.rank} of {comm.size}"
    if isinstance(exc, KeyboardInterrupt):
        line = f"{prog}: interrupted ({who}); aborting the run"
    elif isinstance(exc, CLIError):
        line = f"{prog}: {exc.prefix}{who}: {exc}; aborting the run"
    else:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        line = f"{prog}: error: {who} failed ({type(exc).__name__}: {exc}); aborting the run"
    print(line, file=sys.stderr, flush=True)
    sys.stdout.flush()
    comm.abort(_exit_code(exc))


def resolve_config(config: type[RunConfig], out: Path, given: dict[str, Any], resume: bool,
                   conflicts: Callable[[dict[str, Any]], list[str]] | None = None) -> dict[str, Any]:
    """The settings a training command runs with, as a mapping.

    Fresh: the declared defaults with the ``given`` flags. ``out`` must be free for the run (see
    :meth:`~bptt.training.rundir.RunDirectory.check`: new, empty or this kind's run; a saved run only with
    ``resume``; checked by the launcher's rank 0, the process that writes the run).
    ``resume``: the checkpoint's settings with the given schedule flags; a given shaping flag that differs
    from the checkpoint's (or anything ``conflicts(saved)`` reports) is refused, naming both values.
    """
    run_dir = RunDirectory(out, config.KIND)
    if launcher_rank() == 0:
        try:
            run_dir.check(resume)
        except RunDirectoryError as exc:
            raise CLIError(str(exc)) from None
    if not resume:
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
                 final_line: Callable[[dict[str, Any]], str], samples: bool = False,
                 processes: Communicator | None = None) -> int:
    """Run ``train(cfg, out, resume=..., on_start=..., on_log=..., on_progress=..., communicator=...)`` with a
    progress bar.

    ``start_lines(info)`` are printed before the first step, ``log_line(record)`` for evaluation records
    (every record without a progress bar), ``final_line(summary)`` and the checkpoint's path at the end;
    ``samples``: also show the samples. Ctrl-C is :class:`Stopped` (exit 130, the checkpoint saved); bad data,
    checkpoints or settings and divergence are a :class:`CLIError`. ``processes``: the communicator of
    :func:`training_processes` (default one process); only its root prints.
    """
    if processes is not None and not processes.is_root:
        return _run_quietly(train, cfg, out, resume=resume, processes=processes)
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
        summary = train(cfg, out, resume=resume, communicator=processes, **hooks)
    except Interrupted as exc:
        raise Stopped(f"{exc}; continue with --resume") from None
    except TrainingError as exc:
        raise Diverged(str(exc)) from None
    except (DataError, CheckpointError, RunDirectoryError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    finally:
        progress.close()
    print(final_line(summary))
    print(f"checkpoint: {summary['checkpoint']}")
    return 0



def _run_quietly(train: Callable[..., dict[str, Any]], cfg: RunConfig, out: Path, *, resume: bool,
                 processes: Communicator) -> int:
    """A process other than rank 0: the same run, nothing printed; the outcomes every process meets alike
    (Ctrl-C, divergence) end it with rank 0's exit code, rank 0 reporting them."""
    try:
        train(cfg, out, resume=resume, communicator=processes)
    except Interrupted:
        raise Reported(Stopped.exit_code) from None
    except TrainingError:
        raise Reported(Diverged.exit_code) from None
    except (DataError, CheckpointError, RunDirectoryError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    return 0
