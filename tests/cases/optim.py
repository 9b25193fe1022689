"""Cases shared by tests/optim/test_optim*.py: option grids, parameter shapes, seeded generators.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from bptt.nn import Parameter

SHAPES = [(3, 4), (7,), (2, 3, 5)]  # 12, 7 and 30 elements: vectorised bodies and scalar tails in torch

# one option set per optimizer that exercises every buffer it has
FULL = {
    "SGD": dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.5, weight_decay=0.1),
    "RMSprop": dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.1),
    "AdamW": dict(lr=0.01, amsgrad=True, weight_decay=0.1),
}


# ---------------------------------------------------------------------------------------------- helpers
def _rng(*parts: Any) -> np.random.Generator:
    """A Generator seeded by a stable hash of ``parts``."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


# ---------------------------------------------------------------------------------------------- state dicts
def copy_params(ps: list[Parameter]) -> list[Parameter]:
    return [Parameter(p.data.copy()) for p in ps]
