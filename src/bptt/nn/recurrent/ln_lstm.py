"""``LayerNormLSTM``: TensorFlow 1's ``LayerNormBasicLSTMCell`` as a stacked layer, on
:mod:`bptt.functional.ln_lstm` (stacking etc. in :mod:`.base`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import functional as F
from ...functional import reference as R
from ...functional.workspace import Workspace
from .. import checks as C
from .. import hooks
from ..module import Parameter
from .base import RNNBase
from .layer_api import LayerOutput

#: The five layer norms, in the order of the rows of the functional op's ``gamma`` and ``beta``.
LN_SCOPES = ("input", "transform", "forget", "output", "state")


class LayerNormLSTM(RNNBase):
    r"""TensorFlow 1's ``tf.contrib.rnn.LayerNormBasicLSTMCell`` as a multi-layer, optionally bidirectional layer.

    Per step (see :mod:`bptt.functional.ln_lstm` for the derivatives)::

        [i, j, f, o] = split([x, h] @ kernel (+ bias only when layer_norm=False))
        i, j, f, o   = LN_input(i), LN_transform(j), LN_forget(f), LN_output(o)     (when layer_norm)
        g  = tanh(j)                (recurrent dropout on g when dropout_keep_prob < 1, training mode only)
        c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g
        c' = LN_state(c')           (when layer_norm: the normalised value is the new state)
        h' = tanh(c') * sigmoid(o)

    with ``LN(v) = (v - mean) / sqrt(var + 1e-12) * gamma + beta`` over the ``H`` units (population variance,
    TensorFlow's hard-coded epsilon). Parameters per layer ``k`` and direction (``_reverse`` suffix):
    ``kernel_l{k}`` ``(in + H, 4H)`` with TensorFlow's column blocks ``i, j, f, o``; ``bias_l{k}`` ``(4H,)`` only
    when ``layer_norm=False`` (and ``bias=True``); ``{input,transform,forget,output,state}_{gamma,beta}_l{k}``
    ``(H,)`` only when ``layer_norm=True``, initialised to ``norm_gain`` and ``norm_shift``. The kernel and
    bias are initialised Glorot-uniform, the default of TensorFlow 1's ``get_variable`` that the cell uses.
    Stacking and bidirectional layout follow :class:`LSTM` (PyTorch's interleaved stacking); ``dropout``
    (default 0) is PyTorch-style dropout between layers. Same call/backward contract as :class:`LSTM`,
    including ``lengths``.
    """

    PARAMETER_ROLES = ("kernel", "bias", *(f"gamma_{s}" for s in LN_SCOPES), *(f"beta_{s}" for s in LN_SCOPES))
    _op = F.ln_lstm
    _reference_op = R.ln_lstm
    _recurrent_dropout = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        bidirectional: bool = False,
        forget_bias: float = 1.0,
        layer_norm: bool = True,
        norm_gain: float = 1.0,
        norm_shift: float = 0.0,
        dropout_keep_prob: float = 1.0,
        *,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        where = "LayerNormLSTM"
        options = {
            "layer_norm": C.boolean(layer_norm, "layer_norm", where),
            "norm_gain": C.finite_float(norm_gain, "norm_gain", where),
            "norm_shift": C.finite_float(norm_shift, "norm_shift", where),
        }
        keep = C.finite_float(dropout_keep_prob, "dropout_keep_prob", where)
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"{where}: dropout_keep_prob must be in (0, 1], got {keep}")
        options["dropout_keep_prob"] = keep
        super().__init__(
            "LNLSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            dtype=dtype, rng=rng, forget_bias=forget_bias, options=options,
        )

    def _make_params(self, sfx: str, in_size: int, gen: np.random.Generator) -> dict[str, Parameter]:
        H = self.hidden_size
        limit = math.sqrt(6.0 / (in_size + H + 4 * H))
        made = {"kernel": Parameter(gen.uniform(-limit, limit, (in_size + H, 4 * H)).astype(self.dtype))}
        setattr(self, "kernel" + sfx, made["kernel"])
        if self.bias and not self.layer_norm:
            b_limit = math.sqrt(6.0 / (8 * H))
            made["bias"] = Parameter(gen.uniform(-b_limit, b_limit, 4 * H).astype(self.dtype))
            setattr(self, "bias" + sfx, made["bias"])
        if self.layer_norm:
            for scope in LN_SCOPES:
                made[f"gamma_{scope}"] = Parameter(np.full(H, self.norm_gain, dtype=self.dtype))
                made[f"beta_{scope}"] = Parameter(np.full(H, self.norm_shift, dtype=self.dtype))
                setattr(self, f"{scope}_gamma{sfx}", made[f"gamma_{scope}"])
                setattr(self, f"{scope}_beta{sfx}", made[f"beta_{scope}"])
        return {role: made[role] for role in self.PARAMETER_ROLES if role in made}  # the op's order

    def _run_forward(self, params: dict[str, Parameter], x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None,
                     reverse: bool, lengths: np.ndarray | None, dropout_mask: np.ndarray | None,
                     ws: Workspace | None, record: hooks.ForwardHook | None, reference: bool) -> LayerOutput:
        op, tier_kwargs = self._tier(reference, ws)
        kernel = params["kernel"].data
        bias = params["bias"].data if "bias" in params else None
        gamma = beta = None
        if self.layer_norm:
            gamma = np.stack([params[f"gamma_{s}"].data for s in LN_SCOPES])
            beta = np.stack([params[f"beta_{s}"].data for s in LN_SCOPES])
        (y, h_n, c_n), cache = op.forward(
            x, h0, c0, kernel, bias, gamma, beta, forget_bias=self.forget_bias, g_mask=dropout_mask,
            reverse=reverse, lengths=lengths, record=record, **tier_kwargs,
        )
        return LayerOutput(y, h_n, c_n, cache)

    def _run_backward(self, cache: Any, dy: np.ndarray | None, dh_n: np.ndarray | None, dc_n: np.ndarray | None,
                      need_dx: bool, record: Any
                      ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None, dict[str, np.ndarray | None]]:
        op, tier_kwargs = self._tier(self.is_reference_cache(cache), self._ws)
        g = op.backward((dy, dh_n, dc_n), cache, need_dx=need_dx, record=record, **tier_kwargs)
        grads = {"kernel": g.dkernel, "bias": g.dbias}
        if self.layer_norm:
            for j, scope in enumerate(LN_SCOPES):
                grads[f"gamma_{scope}"] = g.dgamma[j]
                grads[f"beta_{scope}"] = g.dbeta[j]
        return g.dx, g.dh0, g.dc0, grads

    def _dropout_masks(self, T: int, B: int) -> list[np.ndarray] | None:
        keep = self.dropout_keep_prob
        if keep >= 1.0:
            return None
        H = self.hidden_size
        n = self.num_layers * self.num_directions
        scale = self.dtype.type(1.0 / keep)
        return [(self._uniform((T, B, H)) < keep).astype(self.dtype) * scale for _ in range(n)]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        s += f", forget_bias={self.forget_bias}"
        if not self.layer_norm:
            s += ", layer_norm=False"
        if self.dropout_keep_prob < 1.0:
            s += f", dropout_keep_prob={self.dropout_keep_prob}"
        return s
