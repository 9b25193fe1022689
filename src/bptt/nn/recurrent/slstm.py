r"""``SLSTM``: xLSTM's sLSTM (Beck et al., NeurIPS 2024) as a stacked layer on :mod:`bptt.functional.slstm`
(stacking etc. in :mod:`.xlstm_base`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import functional as F
from ...functional import reference as R
from .. import checks as C
from ..module import Parameter
from .xlstm_base import XLSTMBase


class SLSTM(XLSTMBase):
    r"""Multi-layer sLSTM: exponential input gate, sigmoid or exponential forget gate, normaliser and
    stabiliser states, block-diagonal memory mixing over ``num_heads`` heads (the paper's equations (8)-(17);
    see :mod:`bptt.functional.reference.slstm` for them one per line and the hand-derived backward pass)::

        [i~, f~, z~, o~] = x_t W_ih^T + h_{t-1} R^T + b        R block-diagonal: head k reads head k only
        m_t = max(log f_t + m_{t-1}, i~_t)                      log f = log sigmoid(f~) or f~ (forget_gate)
        i'  = exp(i~ - m_t),  f' = exp(log f + m_{t-1} - m_t)
        c_t = f' c_{t-1} + i' tanh(z~),  n_t = f' n_{t-1} + i',  h_t = sigmoid(o~) c_t / n_t

    The state is ``(h, c, n, m)``, each ``(num_layers, B, hidden_size)`` (zeros by default). Parameters per
    layer ``k``: ``weight_ih_l{k}`` ``(4H, input)``, ``weight_hh_l{k}`` ``(4H, H / num_heads)`` (the diagonal
    blocks of ``R``; with one head it is PyTorch's ``(4H, H)``), ``bias_l{k}`` ``(4H,)``, row blocks in the gate
    order ``i, f, z, o``; initialised ``U(-1/sqrt(H), 1/sqrt(H))`` like ``torch.nn.LSTM``.

    This is the sLSTM *layer* (the recurrence with its input and recurrent weights), not the authors' full
    residual sLSTM block (layer norm, causal convolution, group norm, gated feed-forward up-projection); see
    docs/cells.md for how it maps to the ``xlstm`` package.
    """

    STATE_NAMES = ("h", "c", "n", "m")
    PARAMETER_ROLES = ("W_ih", "W_hh", "b")
    _op = F.slstm
    _reference_op = R.slstm
    mode = "SLSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        *,
        num_heads: int = 1,
        forget_gate: str = "sigmoid",
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        options = {"forget_gate": C.choice(forget_gate, F.slstm.FORGET_GATES, "forget_gate", "SLSTM")}
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, num_heads, dtype=dtype,
                         rng=rng, options=options)

    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        return ((self.hidden_size,),) * 4

    def _make_params(self, layer: int, in_size: int, gen: np.random.Generator) -> dict[str, tuple[str, Parameter]]:
        H = self.hidden_size
        k = 1.0 / math.sqrt(H)
        shapes = [("W_ih", "weight_ih", (4 * H, in_size)), ("W_hh", "weight_hh", (4 * H, self.head_size))]
        if self.bias:
            shapes.append(("b", "bias", (4 * H,)))
        return {f"{name}_l{layer}": (role, Parameter(gen.uniform(-k, k, shape).astype(self.dtype)))
                for role, name, shape in shapes}

    def _op_options(self) -> dict[str, Any]:
        return {"forget_gate": self.forget_gate}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", forget_gate={self.forget_gate!r}" if self.forget_gate != "sigmoid" else "")
