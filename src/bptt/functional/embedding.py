r"""Embedding lookup.

Forward, for integer ``ids`` of any shape and a table ``E`` of shape ``(V, D)``:

.. math::  e_{\ldots} = E[\mathrm{ids}_{\ldots}]

Backward: the lookup is a one-hot matrix product :math:`e = \mathrm{onehot}(ids)\,E`, so

.. math::  dE = \mathrm{onehot}(ids)^\top de \quad (\text{rows of } de \text{ scattered-added into } dE)

Rows equal to ``padding_idx`` receive no gradient (as in PyTorch).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class EmbeddingCache(NamedTuple):
    ids: np.ndarray  # integer ids, any shape
    shape: tuple[int, int]  # the table's (V, D)
    dtype: np.dtype  # the table's dtype
    padding_idx: int | None


def forward(ids: np.ndarray, E: np.ndarray, padding_idx: int | None = None) -> tuple[np.ndarray, EmbeddingCache]:
    """Return ``E[ids]`` of shape ``ids.shape + (D,)`` and the cache."""
    e = E[ids]
    return e, EmbeddingCache(ids, E.shape, E.dtype, padding_idx)


def backward(de: np.ndarray, cache: EmbeddingCache) -> np.ndarray:
    """Return ``dE`` of shape ``(V, D)`` (repeated ids accumulate)."""
    ids, shape, dtype, padding_idx = cache
    V, D = shape
    flat = ids.reshape(-1)
    de2 = de.reshape(-1, D)
    if padding_idx is not None:
        keep = flat != padding_idx % V  # a negative padding_idx counts from the end, as in PyTorch
        flat, de2 = flat[keep], de2[keep]
    dE = np.zeros(shape, dtype=dtype)
    np.add.at(dE, flat, de2)
    return dE
