"""Data-parallel training over MPI: ``mpiexec -n N bptt train ...`` is the one-process run, computed by N.

**Detection.** :func:`world` looks at the environment an MPI launcher gives the processes it starts
(:data:`LAUNCHER_VARIABLES`: ``PMI_RANK``/``PMI_SIZE`` from MPICH's and Intel MPI's Hydra ``mpiexec``,
``OMPI_COMM_WORLD_RANK``/``OMPI_COMM_WORLD_SIZE`` from Open MPI, ``PMIX_RANK`` from PMIx launchers,
``SLURM_PROCID``/``SLURM_STEP_NUM_TASKS`` from Slurm's ``srun``). Only when a launcher started more than one
process is :mod:`mpi4py` imported (importing it initialises MPI); otherwise the run is a
:class:`~bptt.training.communicator.SingleProcess` one and mpi4py is never imported. A launcher that started N
processes whose MPI sees a different number (an ``mpiexec`` of another MPI than the one mpi4py was built with,
``srun`` without ``--mpi=pmi2``/``pmix``) is refused: N copies of a one-process run would overwrite each other.

**The computation** (one step; ``B`` the global ``--batch-size``, ``N`` processes):

.. code-block:: text

    every process draws the same global batch (same data, same seed) and keeps rows
        shard_rows(B, rank, N) = [rank*B // N, (rank+1)*B // N)       (contiguous, sizes differ by <= 1)
    dropout masks are drawn for all B rows and sliced (bptt.nn.Module.shard_batch): the one-process masks
    forward + backward on the rows: mean loss l_r over n_r tokens, gradients g_r of that mean
    ONE Allreduce(SUM) of one flat buffer [n_r * g_r, n_r * l_r, n_r]        (the parameters' gradients are
        views of that buffer, so nothing is copied)  ->  [sum n_r g_r, sum n_r l_r, n]
    g = sum n_r g_r / n,  l = sum n_r l_r / n:  the token-weighted means the one process computes
    clipping, the non-finite check and the optimizer step run on every process on the same g: same weights

Weighting by tokens makes variable-length batches (translation, padding excluded) exact too: the reduced
loss is the mean over every target token of the global batch, not a mean of per-process means. Validation
is sharded the same way (sums and counts reduced). Every process holds the whole training state; the
checkpoint written by rank 0 holds the global one (the carried state of all streams, gathered), so a run
resumes with any number of processes.

**Faults.** :meth:`MPIWorld.setup` makes the part of a run before its first step all-or-nothing (see
:class:`~bptt.training.communicator.Communicator`); a process failing later calls :meth:`MPIWorld.abort`
(``MPI_Abort``) so that no other process waits for it for ever (``bptt train`` does this, see
:mod:`bptt.cli.runs`). A Ctrl-C on ``mpiexec`` reaches every process (Hydra forwards SIGINT); the loop
agrees on it at the end of a step (:meth:`MPIWorld.any`) and rank 0 saves the checkpoint of that step.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..nn import Parameter
from .communicator import Communicator, PeerFailed, SingleProcess, StepOutcome, shard_rows

__all__ = ["LAUNCHER_VARIABLES", "DistributedError", "MPIWorld", "launched", "launcher_rank", "world"]

#: (rank variable, size variable or None, launcher) in the order they are looked at.
LAUNCHER_VARIABLES: tuple[tuple[str, str | None, str], ...] = (
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "Open MPI"),
    ("PMI_RANK", "PMI_SIZE", "MPICH / Intel MPI (Hydra)"),
    ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "Slurm srun"),
    ("PMIX_RANK", None, "PMIx"),
)

INSTALL_HINT = ("pip install 'bptt[mpi]' (mpi4py with MPICH's wheels, whose mpiexec starts the processes), or "
                "pip install mpi4py built against the MPI whose launcher you use")


class DistributedError(RuntimeError):
    """The processes of a launch cannot form a data-parallel run (no mpi4py, or a launcher/MPI mismatch)."""


def launched(environ: Mapping[str, str] | None = None) -> tuple[int, int | None, str] | None:
    """``(rank, size, variables)`` when an MPI launcher started this process (``size`` None when the launcher
    does not say), else None. Reads the environment only."""
    env = os.environ if environ is None else environ
    for rank_var, size_var, _ in LAUNCHER_VARIABLES:
        if rank_var not in env:
            continue
        if size_var is not None and size_var not in env:
            continue  # e.g. SLURM_PROCID inside an sbatch script, without srun: not a launch of N processes
        try:
            rank = int(env[rank_var])
            size = None if size_var is None else int(env[size_var])
        except ValueError:
            continue
        where = rank_var if size_var is None else f"{rank_var}={rank}, {size_var}={size}"
        return rank, size, where
    return None


def launcher_rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's rank according to the launcher's environment (0 when not launched by one)."""
    found = launched(environ)
    return 0 if found is None else found[0]


def world(environ: Mapping[str, str] | None = None) -> Communicator:
    """The communicator of this process: an :class:`MPIWorld` when an MPI launcher started more than one
    process, else :class:`~bptt.training.communicator.SingleProcess` (mpi4py not imported). Raises
    :class:`DistributedError` when the launch cannot be a data-parallel run."""
    found = launched(environ)
    if found is None or found[1] == 1:
        return SingleProcess()
    rank, size, where = found
    try:
        from mpi4py import MPI  # noqa: PLC0415 - optional extra, imported only in an MPI launch
    except ImportError:
        raise DistributedError(f"started by an MPI launcher ({where}), but mpi4py is not installed: "
                               f"{INSTALL_HINT}") from None
    comm = MPI.COMM_WORLD
    if size is None:
        if comm.Get_size() == 1:
            return SingleProcess()
    elif (comm.Get_size(), comm.Get_rank()) != (size, rank):
        raise DistributedError(
            f"the launcher started this process as rank {rank} of {size} ({where}), but mpi4py's MPI "
            f"({MPI.Get_library_version().splitlines()[0].strip()}) sees rank {comm.Get_rank()} of "
            f"{comm.Get_size()}: launch with the mpiexec of the MPI mpi4py was built with (srun: --mpi=pmi2 or "
            f"--mpi=pmix), or {INSTALL_HINT}")
    return MPIWorld(comm, MPI)


class MPIWorld:
    """The processes of ``MPI.COMM_WORLD`` as one data-parallel run (see the module docstring)."""

    SETUP, FAILED, TRAINING = "setup", "failed", "training"

    def __init__(self, comm: Any, mpi: Any) -> None:
        self.comm = comm
        self._mpi = mpi
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        self.phase = self.SETUP
        self.failed_rank: int | None = None  # the lowest rank whose setup failed (it reports the error)
        self._buffer: np.ndarray | None = None
        self._views: list[np.ndarray] = []
        self._params: list[Parameter] = []

    def __repr__(self) -> str:
        return f"MPIWorld(rank={self.rank}, size={self.size})"

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------------------------------ setup
    @contextlib.contextmanager
    def setup(self) -> Iterator[None]:
        """All-or-nothing setup: a process whose block raises tells the others (one ``allgather``) and
        re-raises; when another process failed, the block's end raises :class:`PeerFailed` here."""
        try:
            yield
        except BaseException as exc:
            self.report_setup_failure(exc)
            raise
        self._agree(None)
        self.phase = self.TRAINING

    def report_setup_failure(self, exc: BaseException) -> None:
        """Tell the other processes that this one cannot start (once; nothing after the setup agreed)."""
        if self.phase == self.SETUP:
            self._agree(str(exc) or type(exc).__name__)

    def _agree(self, error: str | None) -> None:
        errors = self.comm.allgather(error)
        failed = [(rank, message) for rank, message in enumerate(errors) if message is not None]
        if not failed:
            return
        self.phase = self.FAILED
        self.failed_rank, message = failed[0]
        if error is None:
            raise PeerFailed(self.failed_rank, message)

    # ------------------------------------------------------------------------------------------ steps
    def shard(self, n: int) -> slice:
        return shard_rows(n, self.rank, self.size)

    def reduce_step(self, outcome: StepOutcome, params: list[Parameter]) -> StepOutcome:
        """One ``Allreduce`` of ``[tokens * gradients, tokens * loss, tokens]``; the gradients become the
        token-weighted mean of every process's (in place) and the loss and tokens the run's."""
        buf = self._flat(params)
        grads = buf[:-2]
        n = float(outcome.tokens)
        if n != 1.0:
            grads *= buf.dtype.type(n)
        buf[-2] = outcome.loss * n
        buf[-1] = n
        self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        total = float(buf[-1])
        grads /= buf.dtype.type(total)
        return StepOutcome(float(buf[-2]) / total, int(round(total)))

    def _flat(self, params: list[Parameter]) -> np.ndarray:
        """The flat buffer whose leading part the parameters' gradients are views of (made on first use, and
        again if the parameters or their gradient arrays changed)."""
        if (self._buffer is None or len(params) != len(self._params)
                or any(p is not q or p.grad is not v for p, q, v in zip(params, self._params, self._views))):
            dtypes = {p.grad.dtype for p in params}
            if len(dtypes) != 1:
                raise TypeError("MPIWorld.reduce_step: the parameters must share one dtype, got "
                                f"{sorted(map(str, dtypes))}")
            total = sum(p.grad.size for p in params)
            buf = np.zeros(total + 2, dtype=dtypes.pop())
            views, offset = [], 0
            for p in params:
                view = buf[offset : offset + p.grad.size].reshape(p.grad.shape)
                view[...] = p.grad
                p.grad = view
                views.append(view)
                offset += p.grad.size
            self._buffer, self._views, self._params = buf, views, list(params)
        return self._buffer

    def any(self, flag: bool) -> bool:
        buf = np.array([1 if flag else 0], dtype=np.int32)
        self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.MAX)
        return bool(buf[0])

    def sum(self, values: Sequence[float]) -> np.ndarray:
        buf = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        return buf

    def gather(self, array: np.ndarray, axis: int) -> np.ndarray | None:
        """Every process's ``array`` joined along ``axis`` in rank order, on rank 0 (None elsewhere)."""
        parts = self.comm.gather(np.ascontiguousarray(array), root=0)
        return None if parts is None else np.concatenate(parts, axis=axis)

    # ------------------------------------------------------------------------------------------ faults
    def abort(self, exit_code: int) -> None:
        """End every process of the run now (``MPI_Abort``): for a failure one process cannot share."""
        self.comm.Abort(exit_code)
