"""How the processes of one training run talk to each other; one process by default.

The training loop (:class:`bptt.training.loop.Trainer`) asks its communicator three things, each at one
place of a step:

- :meth:`~Communicator.reduce_step` between the backward pass and gradient clipping: turn this process's
  gradients and loss into the run's (a data-parallel communicator sums the gradients of every process into
  each, e.g. one ``Allreduce`` of a flat buffer, and reduces the loss and the token count);
- :meth:`~Communicator.any` after the step: did any process see a Ctrl-C (so all stop at the same step);
- :attr:`~Communicator.is_root`: this process writes the run directory and reports progress.

:class:`SingleProcess` is the communicator of a run in one process: it changes nothing.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from ..nn import Parameter

__all__ = ["Communicator", "SingleProcess", "StepOutcome"]


class StepOutcome(NamedTuple):
    """What one forward and backward pass gave: the mean ``loss`` and the number of ``tokens`` it averaged."""

    loss: float
    tokens: int


class Communicator(Protocol):
    """The processes of one training run (see the module docstring)."""

    rank: int
    size: int

    @property
    def is_root(self) -> bool: ...

    def reduce_step(self, outcome: StepOutcome, params: list[Parameter]) -> StepOutcome: ...

    def any(self, flag: bool) -> bool: ...


class SingleProcess:
    """A run in one process: rank 0 of 1; reductions return their input."""

    rank = 0
    size = 1

    @property
    def is_root(self) -> bool:
        return True

    def reduce_step(self, outcome: StepOutcome, params: list[Parameter]) -> StepOutcome:
        return outcome

    def any(self, flag: bool) -> bool:
        return flag
