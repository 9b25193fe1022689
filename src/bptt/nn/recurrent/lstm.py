"""``LSTM``: PyTorch's ``torch.nn.LSTM`` on :mod:`bptt.functional.lstm` (stacking etc. in :mod:`.base`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ...functional.workspace import Workspace
from .. import hooks
from ..module import Parameter
from .base import LayerOutput, RNNBase


class LSTM(RNNBase):
    r"""Multi-layer LSTM, PyTorch's ``torch.nn.LSTM`` (gate order i, f, g, o).

    ``forget_bias`` (default 0, PyTorch semantics) is a constant added to the forget gate's pre-activation at
    run time, as TensorFlow's LSTM cells do; it is not a parameter and receives no gradient.
    ``proj_size > 0`` adds PyTorch's projection ``h_t = (o_t * tanh(c_t)) W_hr^T`` (parameters ``weight_hr_l{k}``).
    See :mod:`bptt.functional.lstm` for the equations and their derivatives.
    """

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

    def _run_forward(self, params: dict[str, Parameter], x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                     reverse: bool, lengths: np.ndarray | None, dropout_mask: np.ndarray | None,
                     ws: Workspace | None, record: hooks.ForwardHook | None) -> LayerOutput:
        (y, h_n, c_n), cache = F.lstm.forward(
            x, h0, c0, *self._op_arrays(params),
            forget_bias=self.forget_bias, reverse=reverse, lengths=lengths, ws=ws, record=record,
        )
        return LayerOutput(y, h_n, c_n, cache)

    def _run_backward(self, cache: F.lstm.LSTMCache, dy: np.ndarray | None, dh_n: np.ndarray | None,
                      dc_n: np.ndarray | None, need_dx: bool, record: hooks.BackwardHook | None
                      ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None, dict[str, np.ndarray | None]]:
        g = F.lstm.backward((dy, dh_n, dc_n), cache, ws=self._ws, need_dx=need_dx, record=record)
        return g.dx, g.dh0, g.dc0, dict(zip(self.PARAMETER_ROLES, g[3:]))

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", forget_bias={self.forget_bias}" if self.forget_bias else "")
