"""How the processes of one training run talk to each other; one process by default.

The training loop (:class:`bptt.training.loop.Trainer`) and the tasks ask their communicator these things,
each at one place of a run:

- :meth:`~Communicator.setup` around everything a run does before its first step (reading the data and the
  checkpoint, building the model, taking the run directory over): either every process gets through it, or
  every process raises (the failing ones their own error, the others :class:`PeerFailed`), so no process is
  left waiting for another in a collective call;
- :meth:`~Communicator.shard`: the rows of a batch this process computes (the task slices its batches);
- :meth:`~Communicator.reduce_step` between the backward pass and gradient clipping: turn this process's
  gradients and loss into the run's (a data-parallel communicator sums the token-weighted gradients, losses
  and token counts of every process into each, one ``Allreduce`` of one flat buffer);
- :meth:`~Communicator.any` after the step: did any process see a Ctrl-C (so all stop at the same step);
- :meth:`~Communicator.sum` (validation sums) and :meth:`~Communicator.gather` (the carried state of every
  stream, for the checkpoint);
- :attr:`~Communicator.is_root`: this process writes the run directory and reports progress.

:class:`SingleProcess` is the communicator of a run in one process: it changes nothing. The MPI one is
:class:`bptt.training.distributed.MPIWorld`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from ..nn import Parameter

__all__ = ["Communicator", "PeerFailed", "SingleProcess", "StepOutcome", "shard_rows"]


class StepOutcome(NamedTuple):
    """What one forward and backward pass gave: the mean ``loss`` and the number of ``tokens`` it averaged."""

    loss: float
    tokens: int


class PeerFailed(RuntimeError):
    """Another process of the run failed before training started (it reports its own error)."""

    def __init__(self, rank: int, message: str) -> None:
        super().__init__(f"process {rank} of the run failed before training started: {message}")
        self.rank = rank


def shard_rows(n: int, rank: int, size: int) -> slice:
    """The rows of a batch of ``n`` that process ``rank`` of ``size`` computes: contiguous blocks in rank order,
    ``floor(rank * n / size)`` up to ``floor((rank + 1) * n / size)`` (sizes differ by at most one; every
    process gets at least one row when ``n >= size``)."""
    return slice(rank * n // size, (rank + 1) * n // size)


class Communicator(Protocol):
    """The processes of one training run (see the module docstring)."""

    rank: int
    size: int

    @property
    def is_root(self) -> bool: ...

    def setup(self) -> contextlib.AbstractContextManager[None]: ...

    def shard(self, n: int) -> slice: ...

    def reduce_step(self, outcome: StepOutcome, params: list[Parameter]) -> StepOutcome: ...

    def any(self, flag: bool) -> bool: ...

    def sum(self, values: Sequence[float]) -> np.ndarray: ...

    def gather(self, array: np.ndarray, axis: int) -> np.ndarray | None: ...


class SingleProcess:
    """A run in one process: rank 0 of 1; reductions return their input."""

    rank = 0
    size = 1

    @property
    def is_root(self) -> bool:
        return True

    @contextlib.contextmanager
    def setup(self) -> Iterator[None]:
        yield

    def shard(self, n: int) -> slice:
        return slice(0, n)

    def reduce_step(self, outcome: StepOutcome, params: list[Parameter]) -> StepOutcome:
        return outcome

    def any(self, flag: bool) -> bool:
        return flag

    def sum(self, values: Sequence[float]) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)

    def gather(self, array: np.ndarray, axis: int) -> np.ndarray | None:
        return array
