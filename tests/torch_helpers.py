"""Helpers for the tests that need PyTorch (modules named ``*_torch.py``, marked ``torch``).

Importing this module imports torch and limits it to one thread: the tensors in the tests are tiny, so threads
only add overhead and nondeterminism. conftest.py applies the same limit when a test module imported torch
directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

torch.set_num_threads(1)


def t64(a: Any, requires_grad: bool = True) -> torch.Tensor:
    """A float64 leaf tensor holding a copy of ``a``."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)
