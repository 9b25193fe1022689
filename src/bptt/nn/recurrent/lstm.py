"""``LSTM``: PyTorch's ``torch.nn.LSTM`` on :mod:`bptt.functional.lstm` (stacking etc. in :mod:`.base`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import functional as F
from ...functional import reference as R
from .. import checks as C
from ..module import Parameter
from .base import RNNBase


class LSTM(RNNBase):
    r"""Multi-layer LSTM, PyTorch's ``torch.nn.LSTM`` (gate order i, f, g, o).

    ``forget_bias`` (default 0, PyTorch semantics) is a constant added to the forget gate's pre-activation at
    run time, as TensorFlow's LSTM cells do; it is not a parameter and receives no gradient.
    ``proj_size > 0`` adds PyTorch's projection ``h_t = (o_t * tanh(c_t)) W_hr^T`` (parameters ``weight_hr_l{k}``).
    ``peepholes=True`` adds TensorFlow 1's ``LSTMCell(use_peepholes=True)`` / ONNX's ``P``: the input and
    forget gates see ``c_{t-1}``, the output gate sees ``c_t`` (parameters ``weight_peep_l{k}`` of shape
    ``(3H,)``, blocks ``p_i, p_f, p_o``, initialised like the other weights). PyTorch's LSTM has no peepholes.
    See :mod:`bptt.functional.lstm` for the equations and their derivatives.
    """

    PARAMETER_ROLES = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr", "W_peep")
    _op = F.lstm
    _reference_op = R.lstm
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
        peepholes: bool = False,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            dtype=dtype, rng=rng, forget_bias=forget_bias, proj_size=proj_size,
            options={"peepholes": C.boolean(peepholes, "peepholes", "LSTM")},
        )

    def _make_params(self, sfx: str, in_size: int, gen: np.random.Generator) -> dict[str, Parameter]:
        made = super()._make_params(sfx, in_size, gen)
        if self.peepholes:
            k = 1.0 / math.sqrt(self.hidden_size)
            made["W_peep"] = Parameter(gen.uniform(-k, k, (3 * self.hidden_size,)).astype(self.dtype))
            setattr(self, "weight_peep" + sfx, made["W_peep"])
        return made

    def _op_options(self) -> dict[str, Any]:
        return {"forget_bias": self.forget_bias}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        s += f", forget_bias={self.forget_bias}" if self.forget_bias else ""
        return s + (", peepholes=True" if self.peepholes else "")
