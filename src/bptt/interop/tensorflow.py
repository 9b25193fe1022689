"""LSTM weights between PyTorch's layout and TensorFlow 1's LSTM cells (``BasicLSTMCell``, ``LSTMCell``,
``LayerNormBasicLSTMCell(layer_norm=False)``): ``[x, h] @ kernel + bias``, columns ``i, j, f, o``, plus the
cells' run-time ``forget_bias`` (see :mod:`bptt.interop` for the forget-bias rule)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _common as _c

__all__ = ["tf_lstm_to_torch", "torch_lstm_to_tf"]


def torch_lstm_to_tf(
    state_dict: Mapping[str, Any],
    *,
    tf_forget_bias: float,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
    prefix: str = "",
) -> dict[str, np.ndarray]:
    """One layer-direction of a PyTorch-layout LSTM state dict -> TensorFlow cell ``kernel`` and ``bias``.

    Reads ``{prefix}weight_ih_l{layer}[_reverse]`` ``(4H, D)``, ``weight_hh`` ``(4H, H)`` and (optional)
    ``bias_ih``/``bias_hh`` ``(4H,)`` with row blocks ``i, f, g, o`` (``layer=None``: ``LSTMCell`` names).
    Returns ``{"kernel": (D + H, 4H), "bias": (4H,)}`` in the layout of TF1's ``BasicLSTMCell``, ``LSTMCell``
    and ``LayerNormBasicLSTMCell(layer_norm=False)`` -- ``[x, h] @ kernel + bias`` with column blocks
    ``i, j, f, o`` (``j`` is PyTorch's ``g``)::

        kernel = [[W_ih^T], [W_hh^T]]  (columns reordered)
        bias   = b_ih + b_hh,  with  bias[f] += torch_forget_bias - tf_forget_bias

    ``tf_forget_bias`` (required) is the ``forget_bias`` of the TF cell that will run the weights: pass the
    cell's value (TF default 1.0; the cell adds it back, "kept"), or 0.0 and build the cell with
    ``forget_bias=0.0`` ("folded"). ``torch_forget_bias`` is the source ``bptt.nn.LSTM``'s ``forget_bias``
    (0 for ``torch.nn.LSTM``). A ``bias=False`` source gives a zero bias (TF cells always have one).
    """
    where = "torch_lstm_to_tf"
    shift = _c.forget_shift(torch_forget_bias, "torch_forget_bias", tf_forget_bias, "tf_forget_bias", where)
    W_ih, W_hh, b_ih, b_hh = _c.read_torch(state_dict, prefix, _c.suffix(layer, reverse, where), 4, where)
    kernel, bias = _c.torch_to_tf_arrays(W_ih, W_hh, b_ih, b_hh, shift)
    if bias is None:  # TF cells always have a bias
        bias = np.zeros(W_hh.shape[0], dtype=W_hh.dtype)
    return {"kernel": kernel, "bias": bias}


def tf_lstm_to_torch(
    kernel: Any,
    bias: Any,
    *,
    tf_forget_bias: float,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
) -> dict[str, np.ndarray]:
    """TF cell ``kernel (D + H, 4H)`` and ``bias (4H,)`` (columns ``i, j, f, o``) -> PyTorch LSTM weights.

    Returns ``weight_ih{sfx}`` ``(4H, D)``, ``weight_hh{sfx}`` ``(4H, H)``, ``bias_ih{sfx}`` and
    ``bias_hh{sfx}`` ``(4H,)`` (rows ``i, f, g, o``; ``sfx = _l{layer}[_reverse]``, empty for
    ``layer=None``), ready for ``load_state_dict`` (or merging into a multi-layer dict). The whole bias goes
    into ``bias_ih`` and ``bias_hh`` is zero, with::

        bias_ih[f] = bias[f] + tf_forget_bias - torch_forget_bias

    ``tf_forget_bias`` (required) is the ``forget_bias`` the TF cell used (TF default 1.0). With the default
    ``torch_forget_bias=0.0`` it is folded into ``bias_ih`` (for ``torch.nn.LSTM``); pass
    ``torch_forget_bias=tf_forget_bias`` to keep it for a ``bptt.nn.LSTM(forget_bias=...)``.
    """
    where = "tf_lstm_to_torch"
    shift = _c.forget_shift(tf_forget_bias, "tf_forget_bias", torch_forget_bias, "torch_forget_bias", where)
    sfx = _c.suffix(layer, reverse, where)
    K, b, H = _c.read_tf(kernel, bias, where)
    return _c.torch_out(sfx, *_c.tf_to_torch_arrays(K, b, H, shift), None)
