"""``RNN``: PyTorch's ``torch.nn.RNN`` (Elman, tanh or ReLU) on :mod:`bptt.functional.rnn` (stacking etc. in
:mod:`.base`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ...functional import reference as R
from .. import checks as C
from .base import RNNBase


class RNN(RNNBase):
    """Multi-layer Elman RNN, PyTorch's ``torch.nn.RNN`` (``nonlinearity`` ``'tanh'`` or ``'relu'``)."""

    PARAMETER_ROLES = ("W_ih", "W_hh", "b_ih", "b_hh")
    _op = F.rnn
    _reference_op = R.rnn
    _gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        C.choice(nonlinearity, ("tanh", "relu"), "nonlinearity", "RNN")
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype=dtype, rng=rng,
            options={"nonlinearity": nonlinearity},
        )

    def _op_options(self) -> dict[str, Any]:
        return {"nonlinearity": self.nonlinearity}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")
