r"""``MinGRU`` and ``MinLSTM`` (Feng et al., 2024, "Were RNNs All We Needed?") as stacked layers, on
:mod:`bptt.functional.min_gru` and :mod:`bptt.functional.min_lstm` (stacking etc. in :mod:`.base`).

**Parameters**, per layer ``k`` and direction (``_reverse`` suffix), PyTorch-style names:

- ``weight_ih_l{k}`` ``(G·H, in)``: the gates' input weights, row blocks ``z, h`` (minGRU, ``G = 2``) or
  ``f, i, h`` (minLSTM, ``G = 3``) -- the paper's ``Linear_dh`` maps stacked (there is no ``weight_hh``: the gates
  do not read the previous state);
- ``bias_ih_l{k}`` ``(G·H,)`` with ``bias=True`` (the paper's listings use ``nn.Linear``, which has a bias;
  mingru-pytorch uses ``bias=False``);
- ``weight_out_l{k}`` ``(P, H)`` with ``proj_size = P > 0``: the output projection :math:`y_t = h_t W_{out}^\top`
  (mingru-pytorch's ``to_out``, the down-projection that goes with the expansion factor :math:`d_h = \alpha d_x`
  of the paper's parameter count, §3.1/§3.2: ``hidden_size = α·input_size``). The state stays ``h`` (size ``H``):
  ``h0``/``h_n`` are ``(num_layers·num_directions, B, H)`` while the output is ``(T, B, num_directions·P)``.

**Init**: ``U(-1/sqrt(in), 1/sqrt(in))`` for ``weight_ih`` and ``bias_ih`` (``fan_in = in``), ``U(-1/sqrt(H),
1/sqrt(H))`` for ``weight_out``: PyTorch's ``nn.Linear`` default, which the paper's listings and mingru-pytorch use.

**Mode**: ``mode="parallel"`` (default) evaluates each layer with Heinsen's log-space scan, vectorised over time;
``mode="sequential"`` with the step loop. Both compute the same function (to about 1e-15 relative in float64) and
its exact gradient; the mode is a setting, not a parameter (``scan_mode`` attribute; ``mode`` stays PyTorch's
name of the layer kind, ``"MinGRU"``/``"MinLSTM"``).

**Initial state** ``h0`` (default zeros) is the state itself in both modes; the paper's parallel listing starts
from ``g(h0)`` instead (docs/cells.md). **lengths** (packed sequences): a padded step keeps the state, outputs
zeros and passes the gradient straight through, as for :class:`~bptt.nn.GRU`; the reverse direction starts at
each sequence's own last element. Call contract as :class:`~bptt.nn.GRU`: ``out, h_n = m(x, h0, lengths)``,
``dx, dh0 = m.backward(dout, dh_n)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import functional as F
from ...functional import reference as R
from ..module import Parameter
from .base import RNNBase

MODES = ("parallel", "sequential")


class MinRNNBase(RNNBase):
    """What ``MinGRU`` and ``MinLSTM`` share (not used directly)."""

    PARAMETER_ROLES = ("W_ih", "b_ih", "W_out")
    _kind = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 *, mode: str = "parallel", dtype: Any = np.float32, rng: Any = None) -> None:
        where = self._kind
        if mode not in MODES:
            raise ValueError(f"{where}: mode must be 'parallel' or 'sequential', got {mode!r}")
        super().__init__(self._kind, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype, rng=rng, proj_size=proj_size, options={"scan_mode": mode})

    def _check_proj_size(self) -> None:
        """Any positive ``proj_size`` is an output projection (no restriction relative to ``hidden_size``)."""

    @property
    def state_size(self) -> int:
        """Size of the state ``h``: ``hidden_size`` (the projection only maps the output)."""
        return self.hidden_size

    def _make_params(self, sfx: str, in_size: int, gen: np.random.Generator) -> dict[str, Parameter]:
        H, G = self.hidden_size, self._gates
        k = 1.0 / math.sqrt(in_size)
        made = {"W_ih": Parameter(gen.uniform(-k, k, (G * H, in_size)).astype(self.dtype))}
        setattr(self, "weight_ih" + sfx, made["W_ih"])
        if self.bias:
            made["b_ih"] = Parameter(gen.uniform(-k, k, G * H).astype(self.dtype))
            setattr(self, "bias_ih" + sfx, made["b_ih"])
        if self.proj_size:
            k_out = 1.0 / math.sqrt(H)
            made["W_out"] = Parameter(gen.uniform(-k_out, k_out, (self.proj_size, H)).astype(self.dtype))
            setattr(self, "weight_out" + sfx, made["W_out"])
        return made

    def _op_options(self) -> dict[str, Any]:
        return {"mode": self.scan_mode}

    def extra_repr(self) -> str:
        return super().extra_repr() + (", mode='sequential'" if self.scan_mode == "sequential" else "")


class MinGRU(MinRNNBase):
    r"""Multi-layer minGRU (Feng et al., 2024, §3.1; Appendix B's log-space variant):

    .. math::

        z_t = \sigma(x_t W_z^\top + b_z), \quad \tilde h_t = g(x_t W_h^\top + b_h), \quad
        h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    with :math:`g(a) = a + 1/2` for :math:`a \ge 0`, :math:`\sigma(a)` below. See the module docstring for the
    parameters, init, modes and conventions, :mod:`bptt.functional.min_gru` for the derivatives.
    """

    _op = F.min_gru
    _reference_op = R.min_gru
    _gates = 2
    _kind = "MinGRU"


class MinLSTM(MinRNNBase):
    r"""Multi-layer minLSTM (Feng et al., 2024, §3.2; Appendix B's log-space variant):

    .. math::

        f_t = \sigma(k^f_t), \quad i_t = \sigma(k^i_t), \quad \tilde h_t = g(k^h_t), \quad
        h_t = \frac{f_t}{f_t + i_t} \odot h_{t-1} + \frac{i_t}{f_t + i_t} \odot \tilde h_t

    with :math:`[k^f_t, k^i_t, k^h_t] = x_t W_{ih}^\top + b_{ih}`. See the module docstring for the parameters,
    init, modes and conventions, :mod:`bptt.functional.min_lstm` for the derivatives.
    """

    _op = F.min_lstm
    _reference_op = R.min_lstm
    _gates = 3
    _kind = "MinLSTM"
