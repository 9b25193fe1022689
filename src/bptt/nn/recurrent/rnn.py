"""``RNN``: PyTorch's ``torch.nn.RNN`` (Elman, tanh or ReLU) on :mod:`bptt.functional.rnn` (stacking etc. in
:mod:`.base`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ...functional.workspace import Workspace
from .. import checks as C
from .. import hooks
from ..module import Parameter
from .base import LayerOutput, RNNBase


class RNN(RNNBase):
    """Multi-layer Elman RNN, PyTorch's ``torch.nn.RNN`` (``nonlinearity`` ``'tanh'`` or ``'relu'``)."""

    PARAMETER_ROLES = ("W_ih", "W_hh", "b_ih", "b_hh")
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

    def _run_forward(self, params: dict[str, Parameter], x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                     reverse: bool, lengths: np.ndarray | None, dropout_mask: np.ndarray | None,
                     ws: Workspace | None, record: hooks.ForwardHook | None) -> LayerOutput:
        (y, h_n), cache = F.rnn.forward(
            x, h0, *self._op_arrays(params), nonlinearity=self.nonlinearity, reverse=reverse, lengths=lengths,
            ws=ws, record=record,
        )
        return LayerOutput(y, h_n, None, cache)

    def _run_backward(self, cache: F.rnn.RNNCache, dy: np.ndarray | None, dh_n: np.ndarray | None,
                      dc_n: np.ndarray | None, need_dx: bool, record: hooks.BackwardHook | None
                      ) -> tuple[np.ndarray | None, np.ndarray, None, dict[str, np.ndarray | None]]:
        g = F.rnn.backward((dy, dh_n), cache, ws=self._ws, need_dx=need_dx, record=record)
        return g.dx, g.dh0, None, dict(zip(self.PARAMETER_ROLES, g[2:]))

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")
