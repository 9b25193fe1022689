"""``GRU``: PyTorch's ``torch.nn.GRU`` on :mod:`bptt.functional.gru` (stacking etc. in :mod:`.base`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ...functional import reference as R
from .base import RNNBase


class GRU(RNNBase):
    """Multi-layer GRU, PyTorch's ``torch.nn.GRU`` (gate order r, z, n; ``b_hn`` inside the reset product)."""

    PARAMETER_ROLES = ("W_ih", "W_hh", "b_ih", "b_hh")
    _op = F.gru
    _reference_op = R.gru
    _gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype=dtype, rng=rng
        )
