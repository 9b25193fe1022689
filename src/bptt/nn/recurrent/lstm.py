"""``LSTM``: PyTorch's ``torch.nn.LSTM`` on :mod:`bptt.functional.lstm` (stacking etc. in :mod:`.base`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from .base import RNNBase


class LSTM(RNNBase):
    r"""Multi-layer LSTM, PyTorch's ``torch.nn.LSTM`` (gate order i, f, g, o).

    ``forget_bias`` (default 0, PyTorch semantics) is a constant added to the forget gate's pre-activation at
    run time, as TensorFlow's LSTM cells do; it is not a parameter and receives no gradient.
    ``proj_size > 0`` adds PyTorch's projection ``h_t = (o_t * tanh(c_t)) W_hr^T`` (parameters ``weight_hr_l{k}``).
    See :mod:`bptt.functional.lstm` for the equations and their derivatives.
    """

    _op = F.lstm
    _gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        forget_bias: float = 0.0,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            dtype=dtype, rng=rng, forget_bias=forget_bias, proj_size=proj_size,
        )

    def _op_options(self) -> dict[str, Any]:
        return {"forget_bias": self.forget_bias}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", forget_bias={self.forget_bias}" if self.forget_bias else "")
