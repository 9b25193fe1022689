r"""Logistic sigmoid.

.. math::

    \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \frac{d\sigma}{dx} = \sigma(x)\,(1 - \sigma(x))

Evaluated as :math:`e^{-\log(1 + e^{-x})}` through ``logaddexp``, which never overflows and keeps full
relative precision for large negative ``x``. (The recurrent layers use the identity
:math:`\sigma(x) = \tfrac12\tanh(x/2) + \tfrac12` instead, so one ``tanh`` call covers all gates.)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SigmoidCache(NamedTuple):
    s: np.ndarray  # the output sigmoid(x)


def forward(x: np.ndarray) -> tuple[np.ndarray, SigmoidCache]:
    """Return ``s = sigmoid(x)``; the cache holds ``s`` itself."""
    s = np.exp(-np.logaddexp(0, -x)).astype(x.dtype, copy=False)
    return s, SigmoidCache(s)


def backward(ds: np.ndarray, cache: SigmoidCache) -> np.ndarray:
    """Return ``dx = ds * s * (1 - s)``."""
    s = cache.s
    return ds * s * (1 - s)
