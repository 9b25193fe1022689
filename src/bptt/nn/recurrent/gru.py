"""``GRU``: PyTorch's ``torch.nn.GRU`` on :mod:`bptt.functional.gru` (stacking etc. in :mod:`.base`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import functional as F
from ...functional.workspace import Workspace
from .. import hooks
from ..module import Parameter
from .base import LayerOutput, RNNBase


class GRU(RNNBase):
    """Multi-layer GRU, PyTorch's ``torch.nn.GRU`` (gate order r, z, n; ``b_hn`` inside the reset product)."""

    PARAMETER_ROLES = ("W_ih", "W_hh", "b_ih", "b_hh")
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

    def _run_forward(self, params: dict[str, Parameter], x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                     reverse: bool, lengths: np.ndarray | None, dropout_mask: np.ndarray | None,
                     ws: Workspace | None, record: hooks.ForwardHook | None) -> LayerOutput:
        (y, h_n), cache = F.gru.forward(
            x, h0, *self._op_arrays(params), reverse=reverse, lengths=lengths, ws=ws, record=record
        )
        return LayerOutput(y, h_n, None, cache)

    def _run_backward(self, cache: F.gru.GRUCache, dy: np.ndarray | None, dh_n: np.ndarray | None,
                      dc_n: np.ndarray | None, need_dx: bool, record: hooks.BackwardHook | None
                      ) -> tuple[np.ndarray | None, np.ndarray, None, dict[str, np.ndarray | None]]:
        g = F.gru.backward((dy, dh_n), cache, ws=self._ws, need_dx=need_dx, record=record)
        return g.dx, g.dh0, None, dict(zip(self.PARAMETER_ROLES, g[2:]))
