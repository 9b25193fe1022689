r"""Truncated backpropagation through time over a long token stream (seed 001's training loop, batched).

The stream of ``N`` tokens is cut into ``B`` contiguous streams of ``L = (N - 1) // B`` tokens each, laid side
by side as the columns of a ``(L, B)`` matrix; each step takes the next ``T`` rows as the input and the same
rows shifted by one token as the target:

.. code-block:: text

    stream b:  tokens[b*L : (b+1)*L + 1]
    chunk k:   x = rows [k*T, (k+1)*T),  y = rows [k*T + 1, (k+1)*T + 1)

Because chunk ``k + 1`` of column ``b`` continues exactly where chunk ``k`` stopped, the recurrent state at the
end of one chunk is the right initial state for the next: **carry** ``h_n`` (and ``c_n``) into the next call.
Backpropagation stops at the chunk boundary (**detach**): the ``dh0``/``dc0`` that ``backward`` returns
for a chunk are simply not propagated further. When the streams run out (fewer than ``T`` rows left) the
iterator wraps around to row 0 and sets ``reset=True``: the carried state must then be zeroed, because the
next chunk does not continue the previous one.

>>> import numpy as np
>>> it = TBPTTStreams(np.arange(100), batch_size=4, seq_length=5)
>>> batch = next(it)
>>> batch.x.shape, batch.y.shape, batch.reset
((5, 4), (5, 4), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Batch:
    """One chunk: ``x`` and ``y`` are ``(T, B)`` int64 ids; ``reset`` says "zero the carried state first"."""

    x: np.ndarray
    y: np.ndarray
    reset: bool
    epoch: int
    position: int


class TBPTTStreams:
    """Endless iterator of :class:`Batch` over ``B`` contiguous streams in chunks of ``T`` (resumable).

    ``state_dict()`` / ``load_state_dict()`` save and restore the position, so a resumed run sees exactly
    the chunks an uninterrupted run would have seen.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_length: int) -> None:
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"TBPTTStreams: ids must be a 1-D integer array, got shape {ids.shape} {ids.dtype}")
        if batch_size <= 0 or seq_length <= 0:
            raise ValueError(
                f"TBPTTStreams: batch_size and seq_length must be > 0, got {batch_size} and {seq_length}"
            )
        L = (len(ids) - 1) // batch_size
        if L < seq_length:
            need = batch_size * seq_length + 1
            raise ValueError(
                f"TBPTTStreams: the text has {len(ids)} tokens, fewer than one batch needs "
                f"(batch_size * seq_length + 1 = {need}); use a longer text or smaller --batch-size/--seq-length"
            )
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.stream_length = L
        # column b is stream b: data[:, b] = ids[b*L : b*L + L + 1]
        idx = np.arange(batch_size)[None, :] * L + np.arange(L + 1)[:, None]
        self.data = ids[idx].astype(np.int64)
        self.position = 0
        self.epoch = 0
        self._fresh = True

    @property
    def chunks_per_epoch(self) -> int:
        return self.stream_length // self.seq_length

    def __iter__(self) -> TBPTTStreams:
        return self

    def __next__(self) -> Batch:
        T = self.seq_length
        reset = self._fresh
        if self.position + T > self.stream_length:
            self.position = 0
            self.epoch += 1
            reset = True
        p = self.position
        batch = Batch(self.data[p : p + T], self.data[p + 1 : p + T + 1], reset, self.epoch, p)
        self.position = p + T
        self._fresh = False
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "epoch": self.epoch, "fresh": self._fresh}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
        self._fresh = bool(state["fresh"])


def eval_chunks(ids: np.ndarray, batch_size: int, seq_length: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping ``(x, y)`` chunks covering the stream once (for validation; state carried across)."""
    ids = np.asarray(ids, dtype=np.int64)
    L = (len(ids) - 1) // batch_size
    if L < 1:
        return []
    idx = np.arange(batch_size)[None, :] * L + np.arange(L + 1)[:, None]
    data = ids[idx]
    out = []
    for p in range(0, L, seq_length):
        q = min(p + seq_length, L)
        out.append((data[p:q], data[p + 1 : q + 1]))
    return out
