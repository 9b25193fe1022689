"""Build padded batches and ``lengths`` from lists of sequences (the ``lengths=`` argument of the RNN layers).

>>> import numpy as np
>>> x, lengths = pad_sequence([np.ones((3, 2)), np.ones((1, 2))])
>>> x.shape, lengths.tolist()
((3, 2, 2), [3, 1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_sequence(
    sequences: Sequence[np.ndarray], batch_first: bool = False, padding_value: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``B`` arrays of shapes ``(L_b, *F)`` into ``(T, B, *F)`` (``(B, T, *F)`` with ``batch_first``),
    ``T = max L_b``, padded with ``padding_value``; return it with ``lengths`` (int64, ``(B,)``).

    All sequences must share the trailing shape and dtype and have at least one step.
    """
    where = "pad_sequence"
    if isinstance(sequences, np.ndarray) or not isinstance(sequences, Sequence) or len(sequences) == 0:
        raise ValueError(f"{where}: sequences must be a non-empty list of arrays, got {type(sequences).__name__}")
    arrs = [np.asarray(s) for s in sequences]
    tail, dtype = arrs[0].shape[1:], arrs[0].dtype
    for b, a in enumerate(arrs):
        if a.ndim < 1 or a.shape[0] < 1:
            raise ValueError(f"{where}: sequences[{b}] must have at least one step, got shape {a.shape}")
        if a.shape[1:] != tail:
            raise ValueError(f"{where}: sequences[{b}] has trailing shape {a.shape[1:]}, expected {tail}")
        if a.dtype != dtype:
            raise TypeError(f"{where}: sequences[{b}] has dtype {a.dtype}, expected {dtype} (that of sequences[0])")
    lengths = np.array([a.shape[0] for a in arrs], dtype=np.int64)
    T, B = int(lengths.max()), len(arrs)
    out = np.full((T, B) + tail, padding_value, dtype=dtype)
    for b, a in enumerate(arrs):
        out[: a.shape[0], b] = a
    return (np.ascontiguousarray(out.swapaxes(0, 1)) if batch_first else out), lengths


def unpad_sequence(padded: np.ndarray, lengths: np.ndarray, batch_first: bool = False) -> list[np.ndarray]:
    """Inverse of :func:`pad_sequence`: the list of ``(L_b, *F)`` arrays (copies)."""
    padded = np.asarray(padded)
    lengths = np.asarray(lengths)
    x = padded.swapaxes(0, 1) if batch_first else padded
    if lengths.shape != (x.shape[1],):
        raise ValueError(f"unpad_sequence: lengths must have shape ({x.shape[1]},), got {lengths.shape}")
    return [x[: int(n), b].copy() for b, n in enumerate(lengths)]
