"""``bptt.nn.LayerNormLSTM(layer_norm=False)`` <-> ``bptt.nn.LSTM`` / ``torch.nn.LSTM`` state dicts (TF cell
layout ``kernel_l{k}``, ``bias_l{k}`` <-> PyTorch's ``weight_ih_l{k}`` etc.)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _common as _c

__all__ = ["ln_lstm_to_torch_lstm", "torch_lstm_to_ln_lstm"]


def ln_lstm_to_torch_lstm(
    state_dict: Mapping[str, Any],
    *,
    ln_forget_bias: float,
    torch_forget_bias: float = 0.0,
    prefix: str = "",
) -> dict[str, np.ndarray]:
    """A ``bptt.nn.LayerNormLSTM(layer_norm=False)`` state dict -> a ``bptt.nn.LSTM`` / ``torch.nn.LSTM`` one.

    Every ``{prefix}kernel_l{k}[_reverse]`` ``(D + H, 4H)`` (TF columns ``i, j, f, o``) and ``bias_l{k}``
    ``(4H,)`` becomes ``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` as in :func:`tf_lstm_to_torch`:
    ``bias_ih[f] = bias[f] + ln_forget_bias - torch_forget_bias``, ``bias_hh = 0``. ``ln_forget_bias``
    (required) is the LayerNormLSTM's ``forget_bias`` (its default is 1.0); ``torch_forget_bias`` the target
    LSTM's (0 for ``torch.nn.LSTM``). A bias-free source gives a bias-free result when the forget biases are
    equal. Layer-norm parameters (``layer_norm=True``) have no plain-LSTM equivalent: ``ValueError``.
    """
    where = "ln_lstm_to_torch_lstm"
    shift = _c.forget_shift(ln_forget_bias, "ln_forget_bias", torch_forget_bias, "torch_forget_bias", where)
    sd = _c.mapping(state_dict, where)
    prefix = _c.prefix_arg(prefix, where)
    ln_keys = [k for k in sd if isinstance(k, str) and k.startswith(prefix)
               and re.match(r"^(input|transform|forget|output|state)_(gamma|beta)_l\d", k[len(prefix):])]
    if ln_keys:
        raise ValueError(
            f"{where}: state_dict has layer-norm parameters ({ln_keys[0]!r}, ...): a LayerNormLSTM with "
            "layer_norm=True has no plain LSTM equivalent (only layer_norm=False converts)"
        )
    L, nd = _c.discover(sd, prefix, _c.LN_KEY, "kernel", where)
    out: dict[str, np.ndarray] = {}
    shapes = []
    for sfx in _c.stack_suffixes(L, nd):
        K = _c.get(sd, prefix, "kernel" + sfx, where)
        bkey = prefix + "bias" + sfx
        b = sd.get(bkey)
        kname = f"state_dict[{prefix + 'kernel' + sfx!r}]"
        K, b, H = _c.read_tf(K, b, where, kname, f"state_dict[{bkey!r}]", bias_optional=True)
        b = None if b is None else b.copy()
        W_ih, W_hh, b_ih = _c.tf_to_torch_arrays(K, b, H, shift)
        out.update({prefix + key: v for key, v in _c.torch_out(sfx, W_ih, W_hh, b_ih, None).items()})
        shapes.append((K.shape[0] - H, H))
    _c.check_stack(shapes, nd, where)
    return out


def torch_lstm_to_ln_lstm(
    state_dict: Mapping[str, Any],
    *,
    ln_forget_bias: float,
    torch_forget_bias: float = 0.0,
    prefix: str = "",
) -> dict[str, np.ndarray]:
    """A ``bptt.nn.LSTM`` / ``torch.nn.LSTM`` state dict -> a ``bptt.nn.LayerNormLSTM(layer_norm=False)`` one.

    Every layer-direction becomes ``{prefix}kernel_l{k}[_reverse]`` ``(D + H, 4H)`` and ``bias_l{k}``
    ``(4H,)`` as in :func:`torch_lstm_to_tf` with ``tf_forget_bias=ln_forget_bias`` (required: the target
    LayerNormLSTM's ``forget_bias``, default 1.0): ``bias[f] = b_ih[f] + b_hh[f] + torch_forget_bias -
    ln_forget_bias``. A ``bias=False`` source gives no ``bias_l{k}`` keys when the forget biases are equal.
    """
    where = "torch_lstm_to_ln_lstm"
    shift = _c.forget_shift(torch_forget_bias, "torch_forget_bias", ln_forget_bias, "ln_forget_bias", where)
    sd = _c.mapping(state_dict, where)
    prefix = _c.prefix_arg(prefix, where)
    L, nd = _c.discover(sd, prefix, _c.TORCH_KEY, "weight_ih", where)
    out: dict[str, np.ndarray] = {}
    shapes = []
    for sfx in _c.stack_suffixes(L, nd):
        W_ih, W_hh, b_ih, b_hh, _, _ = _c.read_torch(sd, prefix, sfx, 4, where, target="ln_lstm")
        out[prefix + "kernel" + sfx], bias = _c.torch_to_tf_arrays(W_ih, W_hh, b_ih, b_hh, shift)
        if bias is not None:
            out[prefix + "bias" + sfx] = bias
        shapes.append((W_ih.shape[1], W_hh.shape[1]))
    _c.check_stack(shapes, nd, where)
    return out
