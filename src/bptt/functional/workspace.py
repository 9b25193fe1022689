"""Reusable scratch memory for the recurrent ops (an optional, explicit argument: no global state).

Large fresh arrays cost page faults: the kernel maps and zeroes every 4 KiB page on first touch, which at
the benchmark shapes was 10-20% of an LSTM's forward+backward time. A :class:`Workspace` keeps the buffers of
a finished forward/backward pair and hands them to the next one. The recurrent layers in :mod:`bptt.nn` each
own one; a forward pass *takes* its cache buffers from it, and the matching backward pass *gives* them back
once the gradients are computed (so a cache must not be used again after its backward when a workspace was
passed). Without a workspace (``ws=None``) every op allocates fresh arrays and caches stay valid forever.
"""

from __future__ import annotations

import numpy as np


class Workspace:
    """A pool of C-contiguous arrays keyed by ``(shape, dtype)``. Not thread-safe."""

    __slots__ = ("_free",)

    def __init__(self) -> None:
        self._free: dict[tuple, list[np.ndarray]] = {}

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape``/``dtype`` (recycled when one is free)."""
        key = (tuple(shape), np.dtype(dtype).str)
        free = self._free.get(key)
        return free.pop() if free else np.empty(shape, dtype=dtype)

    def give(self, *arrays: np.ndarray | None) -> None:
        """Return buffers obtained from :meth:`take` (their contents become garbage)."""
        for a in arrays:
            if a is not None and a.base is None and a.flags.c_contiguous:
                free = self._free.setdefault((a.shape, a.dtype.str), [])
                if not any(b is a for b in free):  # a buffer given twice must not be handed out twice
                    free.append(a)

    def clear(self) -> None:
        self._free.clear()

    def nbytes(self) -> int:
        return sum(a.nbytes for lst in self._free.values() for a in lst)


def empty(ws: Workspace | None, shape: tuple[int, ...], dtype: np.dtype, owned: list) -> np.ndarray:
    """``np.empty`` through the workspace; records the buffer in ``owned`` so backward can return it."""
    if ws is None:
        return np.empty(shape, dtype=dtype)
    a = ws.take(shape, dtype)
    owned.append(a)
    return a


def take(ws: Workspace | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """``np.empty`` through the workspace, for an array the caller keeps (e.g. a weight gradient that the
    layer gives back once it has been accumulated)."""
    return np.empty(shape, dtype=dtype) if ws is None else ws.take(shape, dtype)


def scaled_transpose(W: np.ndarray, scale: np.ndarray, out: np.ndarray, block: int = 128) -> np.ndarray:
    """``out[...] = (W * scale[:, None]).T`` as a C-contiguous array, copied in row blocks.

    A plain ``np.ascontiguousarray(W.T)`` walks one side of the matrix with a large stride and was ~4x slower
    at ``(2048, 512)``; blocks of 128 rows keep both sides in cache.
    """
    n = W.shape[0]
    for i in range(0, n, block):
        np.multiply(W[i : i + block].T, scale[None, i : i + block], out=out[:, i : i + block])
    return out
