"""The training loop, one for every trainer: steps, clipping, divergence, metrics, evaluation, samples,
checkpoints, resume and Ctrl-C.

A trainer plugs in a :class:`Task`: the data, the model and its optimizer, the loss of one batch, the
validation figures, a sample, and its own part of the checkpoint. :func:`run` resolves a resumed run's
configuration, builds the task and hands it to a :class:`Trainer`, which owns everything else:

.. code-block:: text

    setup (every process, all or nothing: communicator.setup()):
        read the checkpoint, build the task, restore its state, take the run directory over
    for each step:
        outcome = task.step()                          # next batch, forward, backward: gradients in place
        outcome = communicator.reduce_step(outcome)    # one process: unchanged; N: the global gradients
        clip the gradient norm; a non-finite loss or norm stops the run (TrainingError)
        optimizer.step(); task.commit()
        every log_every steps (and at evaluations): a metrics record -> metrics.jsonl, on_log
            every eval_every steps and at the last: task.evaluate() joins the record
        every sample_every steps: on_sample(step, task.sample())
        at evaluations: checkpoint
        on_progress(step, total, loss); a Ctrl-C requested during the step (on any process) stops here

Ctrl-C is deferred to the end of the current step, so the checkpoint saved on interruption is exactly the
state after a finished step (a second Ctrl-C stops at once and saves nothing), and ``--resume`` from it
replays the computation of an uninterrupted run bit for bit. Every read and write of the output directory
goes through a :class:`~bptt.training.rundir.RunDirectory`; every exchange between processes through a
:class:`~bptt.training.communicator.Communicator`. In a data-parallel run (:mod:`bptt.training.distributed`)
every process runs this loop on its share of each batch; rank 0 alone writes (the others get a
:class:`~bptt.training.rundir.ReadOnlyRunDirectory`) and only its hooks should report. Nothing here prints:
callers observe through :class:`Hooks`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np

from ..models import checkpoint as ckpt
from ..nn import Module, Parameter
from ..nn.utils import clip_grad_norm_
from ..optim import Optimizer
from .checkpoint import TrainingCheckpoint, pack_optimizer, resumed_config, unpack_optimizer
from .communicator import Communicator, SingleProcess, StepOutcome
from .config import RunConfig
from .metrics import Window
from .rundir import ReadOnlyRunDirectory, RunDirectory, RunDirectoryError

__all__ = ["Hooks", "Interrupted", "Result", "Schedule", "Task", "Trainer", "TrainingError", "run"]


class TrainingError(RuntimeError):
    """Training cannot go on (the loss or the gradients stopped being finite)."""


class Interrupted(Exception):
    """Raised by the training loop after Ctrl-C, once the checkpoint is saved."""

    def __init__(self, step: int, path: Path) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint saved to {path}")
        self.step = step
        self.path = path


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How long a run lasts and what happens when: every ``log_every`` steps a metrics record, every
    ``eval_every`` steps (and at the last) an evaluation and a checkpoint, every ``sample_every`` steps a
    sample (None: never). ``lr`` is set on the optimizer when a run resumes; ``clip_norm`` (None: no
    clipping) bounds the gradient norm."""

    total_steps: int
    log_every: int
    eval_every: int
    lr: float
    clip_norm: float | None
    sample_every: int | None = None


@dataclasses.dataclass
class Hooks:
    """Callbacks of a run: ``on_start(info)`` once before the first step (``info``: ``step``,
    ``total_steps``, ``parameters`` and the task's :meth:`Task.describe`), ``on_log(record)`` for every
    metrics record, ``on_sample(step, text)`` for every sample, ``on_progress(step, total, loss)`` after
    every step (a ``KeyboardInterrupt`` raised there stops the run like Ctrl-C)."""

    on_start: Callable[[dict[str, Any]], None] | None = None
    on_log: Callable[[dict[str, Any]], None] | None = None
    on_sample: Callable[[int, str], None] | None = None
    on_progress: Callable[[int, int, float], None] | None = None


class Result(NamedTuple):
    """How a run ended: the last ``step``, the last ``evaluation`` (the task's figures) and the checkpoint."""

    step: int
    evaluation: dict[str, Any]
    checkpoint: Path


class Task(Protocol):
    """What a trainer plugs into the loop. Built as ``TaskType(config, checkpoint, communicator)``
    (``checkpoint`` None for a fresh run, else the :class:`~bptt.training.checkpoint.TrainingCheckpoint` being
    resumed: the task reads what it needs before building its model, e.g. the vocabulary). With a
    communicator of several processes the task computes its :meth:`Communicator.shard` of every batch and of
    the validation data (reducing the validation sums), and its :meth:`state` holds the whole run's state
    (e.g. the carried state of every stream, gathered), so a checkpoint resumes with any number of processes.
    """

    SCHEMA: ClassVar[dict[str, type]]  # the task's own checkpoint entries and their JSON types
    RATE_KEY: ClassVar[str]  # the throughput's name in the metrics records
    config: RunConfig
    model: Module
    optimizer: Optimizer
    schedule: Schedule

    @property
    def epoch(self) -> int:
        """Passes over the training data completed before the current batch."""
        ...

    def step(self) -> StepOutcome:
        """Draw the next batch; forward, zero the gradients, backward (leave the gradients in the parameters).
        Returns the mean loss of this process's share and its token count (the communicator weighs them)."""
        ...

    def commit(self) -> None:
        """The optimizer has applied the step (e.g. carry the recurrent state to the next batch)."""
        ...

    def evaluate(self) -> dict[str, Any]:
        """Validation figures for the metrics record (``val_loss``, ...); the model is back in training mode."""
        ...

    def sample(self) -> str:
        """A sample to show (tasks whose schedule has ``sample_every`` only)."""
        ...

    def generators(self) -> dict[str, np.random.Generator]:
        """Every random generator of the run (model, sampling) by a stable name."""
        ...

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The task's checkpoint entries: JSON (:attr:`SCHEMA`'s keys and more) and arrays."""
        ...

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` saved (the model's and optimizer's state are restored by the loop)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts about the data for ``on_start`` (sizes, vocabularies, ...)."""
        ...

    def config_record(self) -> dict[str, Any]:
        """The content of ``config.json``."""
        ...


class TaskType(Protocol):
    SCHEMA: ClassVar[dict[str, type]]

    def __call__(self, config: Any, checkpoint: TrainingCheckpoint | None, communicator: Communicator) -> Task: ...


def run(task_type: TaskType, config: RunConfig, out_dir: str | Path, *, resume: bool = False,
        hooks: Hooks | None = None, communicator: Communicator | None = None) -> Result:
    """Train (or with ``resume=True`` continue) a run of ``task_type`` in ``out_dir``.

    A resumed run keeps the checkpoint's configuration except the schedule settings
    (:meth:`~bptt.training.config.RunConfig.schedule`), which come from ``config``. Raises ``ValueError``
    for bad settings, :class:`~bptt.models.checkpoint.CheckpointError` for a bad checkpoint,
    :class:`TrainingError` on divergence, :class:`Interrupted` after Ctrl-C; the task raises
    :class:`~bptt.data.DataError` for bad data; :class:`~bptt.training.rundir.RunDirectoryError` when
    ``out_dir`` is not this run's to write (not bptt's, a saved run without ``resume``, in use by another
    process). With a ``communicator`` of several processes (see
    :mod:`bptt.training.distributed`) every process calls this; a process whose setup fails raises its error
    and the others :class:`~bptt.training.communicator.PeerFailed`.
    """
    comm = communicator or SingleProcess()
    with comm.setup():
        run_dir = (RunDirectory if comm.is_root else ReadOnlyRunDirectory)(out_dir, config.KIND)
        run_dir.check(resume)  # read-only, before any work (the root process checks again under its lock)
        checkpoint = None
        if resume:
            checkpoint = run_dir.load_checkpoint(config.KIND, task_type.SCHEMA)
            config = resumed_config(checkpoint, config)
        config.validate()
        task = task_type(config, checkpoint, comm)
        trainer = Trainer(task, run_dir, hooks or Hooks(), comm)
        trainer.begin(checkpoint)
    return trainer.train()


class Trainer:
    """Runs a :class:`Task` in a :class:`RunDirectory` (see the module docstring)."""

    def __init__(self, task: Task, run_dir: RunDirectory, hooks: Hooks, communicator: Communicator) -> None:
        self.task = task
        self.run_dir = run_dir
        if run_dir.kind is None:
            run_dir.kind = task.config.KIND
        self.hooks = hooks
        self.communicator = communicator
        self.params: list[Parameter] = list(task.model.parameters())
        self.step = 0
        self.window = Window()
        self.last_saved = 0

    def run(self, checkpoint: TrainingCheckpoint | None = None) -> Result:
        """:meth:`begin` then :meth:`train`."""
        self.begin(checkpoint)
        return self.train()

    def begin(self, checkpoint: TrainingCheckpoint | None = None) -> None:
        """Restore a resumed run's state and take the run directory over (the end of a run's setup)."""
        if checkpoint is not None:
            self._restore(checkpoint)
            if self.step >= self.task.schedule.total_steps:
                raise ValueError(f"the checkpoint is already at step {self.step}; pass --steps larger than "
                                 f"{self.step} to go on")
        self.run_dir.start(None if checkpoint is None else self.step)  # the lock, held until train() ends
        try:
            self._write(self.run_dir.write_config, self.task.config_record())
        except BaseException:
            self.run_dir.close()
            raise

    def train(self) -> Result:
        """The steps of the schedule (after :meth:`begin`); the run directory is released at the end."""
        try:
            return self._train()
        finally:
            self.run_dir.close()

    def _train(self) -> Result:
        task, schedule, hooks = self.task, self.task.schedule, self.hooks
        evaluation: dict[str, Any] = {}
        consistent = True
        try:
            # non-finite values are detected and reported; numpy's overflow warnings would only add noise
            with np.errstate(all="ignore"), deferred_sigint() as sigint:
                if hooks.on_start is not None:
                    hooks.on_start({"step": self.step, "total_steps": schedule.total_steps,
                                    "parameters": task.model.num_parameters(), **task.describe()})
                self.last_saved = self.step
                self.window.reopen()
                stop = False
                while self.step < schedule.total_steps:
                    # a Ctrl-C during the previous step or the start, on any process: every process stops here
                    if self.communicator.any(stop or sigint.requested):
                        raise KeyboardInterrupt
                    consistent = False  # from here until the step's bookkeeping is done
                    loss, grad_norm = self._train_step()
                    consistent = True
                    evaluation = self._after_step(grad_norm) or evaluation
                    if hooks.on_progress is not None:  # after the step is complete: a Ctrl-C raised here is clean
                        try:
                            hooks.on_progress(self.step, schedule.total_steps, loss)
                        except KeyboardInterrupt:
                            stop = True
        except KeyboardInterrupt:
            if not consistent:  # interrupted in the middle of a step: its state is half-updated, do not save it
                raise
            path = self._save()
            raise Interrupted(self.step, path) from None
        return Result(self.step, evaluation, self.run_dir.checkpoint_path)

    def _train_step(self) -> tuple[float, float]:
        outcome = self.communicator.reduce_step(self.task.step(), self.params)
        grad_norm = self._clip_and_check(outcome.loss)
        self.task.optimizer.step()
        self.task.commit()
        self.step += 1
        self.window.add(outcome.loss, outcome.tokens)
        return outcome.loss, grad_norm

    def _after_step(self, grad_norm: float) -> dict[str, Any] | None:
        """Log, evaluate, sample and save as the schedule says; return the evaluation if there was one."""
        task, schedule, step = self.task, self.task.schedule, self.step
        do_eval = step % schedule.eval_every == 0 or step == schedule.total_steps
        evaluation = None
        if step % schedule.log_every == 0 or do_eval:
            record = self.window.close(step, task.epoch, grad_norm, task.optimizer.param_groups[0]["lr"],
                                       task.RATE_KEY)
            record["world_size"] = self.communicator.size
            if do_eval:
                evaluation = task.evaluate()
                self._check_finite(evaluation)
                record.update(evaluation)
            self._write(self.run_dir.append_metrics, record)
            if self.hooks.on_log is not None:
                self.hooks.on_log(record)
            self.window.reopen()
        if schedule.sample_every is not None and step % schedule.sample_every == 0 \
                and self.hooks.on_sample is not None:
            self.hooks.on_sample(step, task.sample())
        if do_eval:
            self._save()
            self.last_saved = step
        return evaluation

    def _clip_and_check(self, loss: float) -> float:
        """Clip (when the schedule says so) and return the gradient norm; raise :class:`TrainingError` when the
        loss or the norm is not finite, naming the step and the checkpoint that is kept."""
        clip_norm = self.task.schedule.clip_norm
        if clip_norm is not None:
            grad_norm = clip_grad_norm_(self.params, clip_norm)
        else:
            grad_norm = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in self.params))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", grad_norm)
            raise TrainingError(f"training stopped at step {self.step + 1}: the {what} is not finite ({value}); "
                                f"{self._kept()}")
        return grad_norm

    def _check_finite(self, evaluation: dict[str, Any]) -> None:
        for key, value in evaluation.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise TrainingError(f"training stopped at step {self.step}: the {key.replace('_', ' ')} is not "
                                    f"finite ({value}); {self._kept()}")

    def _kept(self) -> str:
        if self.run_dir.has_checkpoint():
            return f"the last good checkpoint (step {self.last_saved}) is kept in {self.run_dir.path}"
        return "no checkpoint had been saved yet"

    def _write(self, write: Callable[..., Any], *args: Any) -> Any:
        """A write to the run directory; an ``OSError`` (a full disk, ...) stops the run with a
        :class:`~bptt.training.rundir.RunDirectoryError` naming the file, what is kept and what to do (only the
        writing process meets it: not a :class:`TrainingError`, which every process of a run meets alike)."""
        try:
            return write(*args)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            fix = _FIXES.get(exc.errno or 0, "fix that")
            then = "continue with --resume" if self.run_dir.has_checkpoint() else "start the run again"
            raise RunDirectoryError(f"cannot write {exc.filename or self.run_dir.path}: {reason}; {self._kept()}: "
                                    f"{fix} and {then}") from exc

    def _save(self) -> Path:
        task = self.task
        arrays: dict[str, np.ndarray] = {}
        optimizer = pack_optimizer(task.optimizer.state_dict(), arrays)
        task_meta, task_arrays = task.state()
        arrays.update({f"array/{k}": v for k, v in task_arrays.items()})
        meta = {"kind": task.config.KIND, "model_config": task.model.config(), "train_config": task.config.to_dict(),
                **task_meta, "step": self.step, "total_steps": task.schedule.total_steps, "optimizer": optimizer,
                "rng": {name: g.bit_generator.state for name, g in task.generators().items()},
                "window": self.window.to_dict()}
        params = {n: p.data for n, p in task.model.named_parameters()}
        return self._write(self.run_dir.save_checkpoint, meta, params, arrays)

    def _restore(self, checkpoint: TrainingCheckpoint) -> None:
        """Put the model, optimizer, random generators, task and logging window in the checkpoint's state,
        checking each against what this run built; a :class:`~bptt.models.checkpoint.CheckpointError` names
        the file and the entry that does not fit."""
        task, meta = self.task, checkpoint.meta
        ours = dict(task.model.named_parameters())
        for name, a in checkpoint.params.items():
            if name in ours and a.dtype != ours[name].data.dtype:
                raise checkpoint.invalid(f"parameter {name} has dtype {a.dtype} but the model's is "
                                         f"{ours[name].data.dtype}")
        try:
            task.model.load_state_dict(checkpoint.params)
        except (ValueError, TypeError, KeyError) as exc:
            raise checkpoint.invalid(f"the parameters do not fit the model of train_config ({exc})") from None
        self._restore_optimizer(checkpoint)
        gens, saved = task.generators(), meta["rng"]
        if set(saved) != set(gens):
            raise checkpoint.invalid(f"rng must hold the states of the generators {', '.join(sorted(gens))}, "
                                     f"got {', '.join(sorted(saved)) or 'none'}")
        for name, state in saved.items():
            try:
                gens[name].bit_generator.state = state
            except (ValueError, TypeError, KeyError) as exc:
                raise checkpoint.invalid(f"rng.{name} is not a generator state ({exc})") from None
        try:
            task.restore(meta, checkpoint.task_arrays)
        except ckpt.CheckpointError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise checkpoint.invalid(str(exc)) from None
        self.step = meta["step"]
        self.window = Window.from_dict(meta["window"])
        for group in task.optimizer.param_groups:  # the current run's lr wins (e.g. a lowered lr on resume)
            group["lr"] = task.schedule.lr

    def _restore_optimizer(self, checkpoint: TrainingCheckpoint) -> None:
        """The optimizer's state: loadable, its hyperparameters the run's (the learning rate aside), a state
        for every parameter (or for none, for an optimizer that keeps none) at the checkpoint's step."""
        optimizer, packed, step = self.task.optimizer, checkpoint.meta["optimizer"], checkpoint.meta["step"]
        ours = {k: v for k, v in optimizer.param_groups[0].items() if k not in ("params", "lr")}
        try:
            optimizer.load_state_dict(unpack_optimizer(packed, checkpoint.arrays))
        except ckpt.CheckpointError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise checkpoint.invalid(f"optimizer: {exc}") from None
        for key, value in ours.items():
            saved = optimizer.param_groups[0].get(key)
            if saved != value:
                raise checkpoint.invalid(f"optimizer.param_groups[0].{key} is {saved!r} but this run's optimizer "
                                         f"uses {value!r}")
        n_params, states = len(self.params), packed["state"]
        if optimizer.stateful() and step > 0 and len(optimizer.state) != n_params:
            raise checkpoint.invalid(f"optimizer.state holds the state of {len(optimizer.state)} of the "
                                     f"{n_params} parameters (step {step}: every parameter has one)")
        for index, st in states.items():
            if "step" in st and st["step"] != step:
                raise checkpoint.invalid(f"optimizer.state.{index}.step is {st['step']!r} but the checkpoint is at "
                                         f"step {step}")


_FIXES = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space", errno.EACCES: "fix the permissions",
          errno.EPERM: "fix the permissions", errno.EROFS: "make the file system writable"}


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
