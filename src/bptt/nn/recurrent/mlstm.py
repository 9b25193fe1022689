r"""``MLSTM``: xLSTM's mLSTM (Beck et al., NeurIPS 2024) as a stacked layer on :mod:`bptt.functional.mlstm`
(recurrent form) or :mod:`bptt.functional.mlstm_parallel` (parallel form); stacking etc. in
:mod:`.xlstm_base`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import functional as F
from ...functional import reference as R
from .. import checks as C
from ..module import Parameter
from .xlstm_base import XLSTMBase

FORMS = ("parallel", "recurrent")


class MLSTM(XLSTMBase):
    r"""Multi-layer mLSTM: a matrix memory per head with a covariance update, normaliser and stabiliser, no
    memory mixing (the paper's equations (19)-(27); see :mod:`bptt.functional.reference.mlstm` and
    :mod:`bptt.functional.reference.mlstm_parallel` for both forms one equation per line)::

        q, k, v = W_q x + b_q,  W_k x / sqrt(S) + b_k,  W_v x + b_v        per head of size S = H / num_heads
        m_t = max(log f_t + m_{t-1}, i~_t),  i' = exp(i~ - m_t),  f' = exp(log f + m_{t-1} - m_t)
        C_t = f' C_{t-1} + i' v k^T,  n_t = f' n_{t-1} + i' k
        h_t = sigmoid(W_o x + b_o) * C_t q_t / max(|n_t^T q_t|, exp(-m_t))

    ``form="parallel"`` (default) computes all steps at once through a masked ``(T, T)`` decay matrix per head
    (``O(T^2)`` memory); ``"recurrent"`` steps through time keeping every ``C_t`` (``O(T S^2)``). Both are the
    same function (equal to 1e-10 in float64). The state is ``(C, n, m)``: ``(num_layers, B, num_heads, S, S)``,
    ``(num_layers, B, num_heads, S)``, ``(num_layers, B, num_heads)`` (zeros by default); there is no ``h`` in
    the state (no recurrent weights).

    Parameters per layer ``k``: ``weight_l{k}`` ``(4H + 2 num_heads, input)`` stacking ``[W_q, W_k, W_v, w_i,
    w_f, W_o]`` and ``bias_l{k}``. The projections are initialised like ``torch.nn.Linear``
    (``U(-1/sqrt(input), 1/sqrt(input))``), the gates as in the authors' ``mLSTMCell``: zero gate weights,
    input-gate biases ``N(0, 0.1^2)`` and forget-gate biases spaced linearly from 3 to 6 across the heads.

    This is the mLSTM *layer*, not the authors' full mLSTM block (its up-projection, causal convolution,
    learnable skip, group norm and SiLU output branch); see docs/cells.md. ``bptt.trace`` does not record it
    (inside a trace it runs as usual, unrecorded).
    """

    STATE_NAMES = ("C", "n", "m")
    PARAMETER_ROLES = ("W", "b")
    mode = "MLSTM"
    recordable = False  # not a bptt.trace cell kind: runs unrecorded inside a trace

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
        form: str = "parallel",
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        options = {"forget_gate": C.choice(forget_gate, F.slstm.FORGET_GATES, "forget_gate", "MLSTM"),
                   "form": C.choice(form, FORMS, "form", "MLSTM")}
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, num_heads, dtype=dtype,
                         rng=rng, options=options)

    @property
    def _op(self) -> Any:
        return F.mlstm_parallel if self.form == "parallel" else F.mlstm

    @property
    def _reference_op(self) -> Any:
        return R.mlstm_parallel if self.form == "parallel" else R.mlstm

    def state_shapes(self) -> tuple[tuple[int, ...], ...]:
        K, S = self.num_heads, self.head_size
        return (K, S, S), (K, S), (K,)

    def _make_params(self, layer: int, in_size: int, gen: np.random.Generator) -> dict[str, tuple[str, Parameter]]:
        H, K = self.hidden_size, self.num_heads
        bound = 1.0 / math.sqrt(in_size)
        W = gen.uniform(-bound, bound, (4 * H + 2 * K, in_size))
        W[3 * H:3 * H + 2 * K] = 0.0  # gate weights: zero (the authors' mLSTMCell)
        made = {f"weight_l{layer}": ("W", Parameter(W.astype(self.dtype)))}
        if self.bias:
            b = gen.uniform(-bound, bound, 4 * H + 2 * K)
            b[3 * H:3 * H + K] = gen.normal(0.0, 0.1, K)  # input gate
            b[3 * H + K:3 * H + 2 * K] = np.linspace(3.0, 6.0, K)  # forget gate: remember at first
            made[f"bias_l{layer}"] = ("b", Parameter(b.astype(self.dtype)))
        return made

    def _op_options(self) -> dict[str, Any]:
        return {"forget_gate": self.forget_gate}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        s += f", form={self.form!r}" if self.form != "parallel" else ""
        return s + (f", forget_gate={self.forget_gate!r}" if self.forget_gate != "sigmoid" else "")
