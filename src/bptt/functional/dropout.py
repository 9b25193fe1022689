r"""Inverted dropout.

During training each element is kept with probability :math:`1 - p` and the kept ones are scaled so the
expectation is unchanged:

.. math::

    m_k \sim \mathrm{Bernoulli}(1 - p), \qquad y = x \odot m / (1 - p), \qquad dx = dy \odot m / (1 - p)

At evaluation time (``training=False``) or with ``p = 0`` it is the identity. Randomness comes only from
the ``rng`` argument (a :class:`numpy.random.Generator`), so a seed reproduces the mask exactly; or the caller
hands the uniform draws themselves (``uniform``: element ``k`` is kept when ``uniform[k] >= p``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DropoutCache(NamedTuple):
    scaled_mask: np.ndarray  # m / (1 - p), the input's shape and dtype


def forward(
    x: np.ndarray, p: float, rng: np.random.Generator | None, training: bool = True, *,
    uniform: np.ndarray | None = None,
) -> tuple[np.ndarray, DropoutCache | None]:
    """Return ``y`` and the cache holding the scaled mask ``m / (1 - p)`` (``None`` for the identity).

    The mask is ``uniform >= p`` for ``uniform`` of ``x``'s shape, drawn as ``rng.random(x.shape)`` unless given.
    """
    if not training or p == 0.0:
        return x, None
    if rng is None and uniform is None:
        raise ValueError("dropout.forward: an rng (numpy.random.Generator) is required when training with p > 0")
    if p == 1.0:
        scale = np.zeros(x.shape, dtype=x.dtype)
    else:
        if uniform is None:
            uniform = rng.random(x.shape)
        scale = (uniform >= p).astype(x.dtype)
        scale *= x.dtype.type(1.0 / (1.0 - p))
    return x * scale, DropoutCache(scale)


def backward(dy: np.ndarray, cache: DropoutCache | None) -> np.ndarray:
    """Return ``dx = dy * m / (1 - p)``."""
    if cache is None:
        return dy
    return dy * cache.scaled_mask
