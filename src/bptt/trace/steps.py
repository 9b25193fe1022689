"""Per-step views of recorded arrays: :class:`Steps` (one pass of one layer-direction) and :class:`Step` (one
time step of it), and the lookup error every part of :mod:`bptt.trace` raises."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["Step", "Steps", "TraceError", "direction_index", "step_norms"]


class TraceError(LookupError):
    """A trace lookup that cannot be answered (unknown module, layer, direction, step or name)."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


def direction_index(direction: int | str, where: str = "trace") -> int:
    """``0`` for ``"forward"`` / ``0``, ``1`` for ``"reverse"`` / ``1``; a :class:`TraceError` otherwise."""
    if isinstance(direction, str):
        d = {"forward": 0, "fw": 0, "reverse": 1, "backward": 1, "bw": 1}.get(direction.lower())
        if d is not None:
            return d
    elif isinstance(direction, (int, np.integer)) and not isinstance(direction, bool) and direction in (0, 1):
        return int(direction)
    raise TraceError(f"{where}: direction must be 'forward' or 'reverse' (or 0 / 1), got {direction!r}")


def step_norms(a: np.ndarray) -> np.ndarray:
    """Frobenius norm of each ``a[t]`` (float64), shape ``(T,)``."""
    flat = np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1)
    return np.sqrt(np.einsum("ij,ij->i", flat, flat))


class Steps:
    """Per-step view of a group of time-ordered arrays.

    ``steps[t]`` is step ``t`` (a read-only mapping ``name -> array``, e.g. ``steps[2]["dc"]`` of shape
    ``(B, H)``); ``steps["dc"]`` is the whole ``(T, B, H)`` array; ``len(steps)`` is ``T``; iterating yields the
    steps in time order; ``order`` is the order in which the pass visited them.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], T: int, order: tuple[int, ...]) -> None:
        self._arrays = dict(arrays)
        self._T = T
        self.order = tuple(order)  #: processing order of the time steps

    @property
    def names(self) -> list[str]:
        """Every recorded name, in the reference's (the seed's) order."""
        return list(self._arrays)

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def array(self, name: str) -> np.ndarray:
        """The full time-ordered array of ``name`` (``(T, B, ...)``; weight-gradient shares ``(T, ...)``)."""
        a = self._arrays.get(name)
        if a is None:
            raise TraceError(f"trace: no quantity named {name!r}; recorded: {', '.join(self._arrays)}")
        return a

    def materialize(self) -> dict[str, np.ndarray]:
        """Every quantity as its full array, by name."""
        return dict(self._arrays)

    def __len__(self) -> int:
        return self._T

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self.array(key)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            t = int(key)
            if not -self._T <= t < self._T:
                raise TraceError(f"trace: step {t} is out of range for a sequence of T={self._T} steps "
                                 f"(valid: 0..{self._T - 1}, or negative from the end)")
            return Step(self, t % self._T)
        raise TraceError(f"trace: index steps by an int (time step) or a str (name), got {type(key).__name__}")

    def __iter__(self) -> Iterator[Step]:
        return (Step(self, t) for t in range(self._T))

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-step shape of every quantity (``(B, H)`` for ``dc``, ``(4H, D)`` for ``dW_ih``, ...)."""
        return {n: tuple(a.shape[1:]) for n, a in self._arrays.items()}

    def norms(self, name: str | None = None) -> Any:
        """``||q_t||`` (Frobenius over the batch and units) for every step: one ``(T,)`` array for ``name``,
        else a dict of them for every quantity."""
        if name is not None:
            return step_norms(self.array(name))
        return {n: step_norms(a) for n, a in self._arrays.items()}

    def __repr__(self) -> str:
        return f"Steps(T={self._T}, names=[{', '.join(self._arrays)}])"


class Step:
    """One time step of a :class:`Steps`: ``step["dc"]`` is ``steps["dc"][t]``."""

    __slots__ = ("_steps", "t")

    def __init__(self, steps: Steps, t: int) -> None:
        self._steps = steps
        self.t = t

    def __getitem__(self, name: str) -> np.ndarray:
        return self._steps.array(name)[self.t]

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def keys(self) -> list[str]:
        return self._steps.names

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps.names)

    def __len__(self) -> int:
        return len(self._steps.names)

    def items(self) -> list[tuple[str, np.ndarray]]:
        return [(n, self[n]) for n in self._steps.names]

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._steps else default

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: tuple(self[n].shape) for n in self._steps.names}

    def norms(self) -> dict[str, float]:
        return {n: float(np.linalg.norm(np.asarray(self[n], dtype=np.float64))) for n in self._steps.names}

    def __repr__(self) -> str:
        return f"Step(t={self.t}, names=[{', '.join(self._steps.names)}])"
