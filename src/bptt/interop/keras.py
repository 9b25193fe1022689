"""LSTM and GRU weights (and their gradients) between PyTorch's layout and Keras' ``LSTM`` (``kernel``,
``recurrent_kernel``, ``bias``; gate blocks ``i, f, c, o``) and ``GRU(reset_after=True)`` (gate blocks ``z, r, h``;
``bias (2, 3H)``).

Every converter takes the Keras layer's ``get_config()`` as ``config=`` and then refuses a layer that computes
another function (an activation other than ``tanh`` / ``sigmoid``, e.g. old tf.keras' ``hard_sigmoid``; see
:func:`bptt.interop._options.check_keras_config`): weights alone cannot tell. ``kind="grad"`` converts
gradients (:mod:`bptt.interop._options`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn import checks as C
from . import _common as _c
from ._options import check_keras_config, is_grad, shared_bias_grad

__all__ = ["keras_gru_to_torch", "keras_lstm_to_torch", "torch_gru_to_keras", "torch_lstm_to_keras"]


_RESET_BEFORE = (
    "Keras GRU(reset_after=False) (like TF1's GRUCell) computes n = tanh(x W_n + b_n + (r * h) U_n): "
    "the reset gate is applied BEFORE the recurrent matmul. PyTorch's GRU (and bptt.nn.GRU) computes "
    "n = tanh(x W_in + b_in + r * (h W_hn + b_hn)), which is Keras GRU(reset_after=True). These are "
    "different models: no PyTorch GRU computes the same function, so these weights cannot be converted "
    "(build/train the Keras layer with reset_after=True, the TF2 default)"
)


def torch_lstm_to_keras(
    state_dict: Mapping[str, Any],
    *,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
    prefix: str = "",
    kind: str = "weights",
    config: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """One layer-direction of a PyTorch-layout LSTM state dict -> Keras ``LSTM`` weights.

    Returns ``{"kernel": (D, 4H), "recurrent_kernel": (H, 4H), "bias": (4H,)}`` (Keras' ``get_weights()``
    order; gate blocks ``i, f, c, o`` = PyTorch's ``i, f, g, o``): ``kernel = W_ih^T``,
    ``recurrent_kernel = W_hh^T``, ``bias = b_ih + b_hh`` with ``bias[f] += torch_forget_bias``. Keras has no
    run-time forget bias (``unit_forget_bias`` is an initializer), so a ``bptt.nn.LSTM``'s ``forget_bias``
    (``torch_forget_bias``; 0 for ``torch.nn.LSTM``) is folded in. ``"bias"`` is omitted when the source has
    no biases and ``torch_forget_bias`` is 0 (a Keras layer with ``use_bias=False``). ``config``: the target
    Keras layer's ``get_config()``, checked to compute the same function. ``kind="grad"``: gradients,
    ``bias = dbias_ih`` (equal to ``dbias_hh``), no shift.
    """
    where = "torch_lstm_to_keras"
    grad = is_grad(kind, where)
    shift = 0.0 if grad else _c.forget_bias(torch_forget_bias, "torch_forget_bias", where)
    sfx = _c.suffix(layer, reverse, where)
    W_ih, W_hh, b_ih, b_hh, _, _ = _c.read_torch(state_dict, prefix, sfx, 4, where)
    out = {"kernel": W_ih.T.copy(), "recurrent_kernel": W_hh.T.copy()}  # copies: never alias the input
    if grad:
        bias = None if b_ih is None else shared_bias_grad(b_ih, b_hh, (prefix + "bias_ih" + sfx,
                                                                       prefix + "bias_hh" + sfx), where)
    else:
        bias = None if b_ih is None else b_ih + b_hh
        bias = _c.shift_forget(bias, shift, _c.F_TORCH, W_hh.shape[0], W_hh.dtype)
    if bias is not None:
        out["bias"] = bias
    check_keras_config(config, "LSTM", W_hh.shape[1], bias is not None, where)
    return out


def keras_lstm_to_torch(
    kernel: Any,
    recurrent_kernel: Any,
    bias: Any = None,
    *,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
    kind: str = "weights",
    config: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Keras ``LSTM`` weights -> PyTorch LSTM weights
    (``keras_lstm_to_torch(*layer.get_weights(), config=layer.get_config())``).

    ``kernel`` ``(D, 4H)``, ``recurrent_kernel`` ``(H, 4H)``, ``bias`` ``(4H,)`` or ``None``
    (``use_bias=False``), gate blocks ``i, f, c, o``. Returns ``weight_ih{sfx} = kernel^T`` ``(4H, D)``,
    ``weight_hh{sfx} = recurrent_kernel^T`` ``(4H, H)`` and ``bias_ih{sfx} = bias`` with
    ``bias_ih[f] -= torch_forget_bias``, ``bias_hh{sfx} = 0`` (``sfx = _l{layer}[_reverse]``, empty for
    ``layer=None``). ``torch_forget_bias`` is the target ``bptt.nn.LSTM``'s ``forget_bias`` (0 for
    ``torch.nn.LSTM``). Without a bias (and ``torch_forget_bias=0``) no bias keys are returned (a
    ``bias=False`` PyTorch layer). ``config``: the Keras layer's ``get_config()``; a layer with another
    activation (e.g. ``recurrent_activation="hard_sigmoid"``) is refused. ``kind="grad"``: gradients,
    ``bias_ih = bias_hh = bias`` (each PyTorch bias receives the gradient of the sum), no shift.
    """
    where = "keras_lstm_to_torch"
    grad = is_grad(kind, where)
    shift = 0.0 if grad else -_c.forget_bias(torch_forget_bias, "torch_forget_bias", where)
    sfx = _c.suffix(layer, reverse, where)
    W, U, H = _c.read_keras(kernel, recurrent_kernel, 4, where)
    b = None
    if bias is not None:
        b = _c.float_array(bias, "bias", where)
        _c.expect_shape(b, (4 * H,), "bias", where, f"4H with H={H} from recurrent_kernel")
    check_keras_config(config, "LSTM", H, b is not None, where)
    W, U, b = _c.common_dtype(W, U, b)
    b = None if b is None else b.copy()
    b = _c.shift_forget(b, shift, _c.F_TORCH, 4 * H, U.dtype)
    b_hh = b.copy() if grad and b is not None else None
    return _c.torch_out(sfx, W.T.copy(), U.T.copy(), b, b_hh)  # copies: never alias the input


def _check_reset_after(reset_after: Any, where: str) -> None:
    if reset_after is None:
        return
    C.boolean(reset_after, "reset_after", where)
    if not reset_after:
        raise ValueError(f"{where}: reset_after=False is not supported: {_RESET_BEFORE}")


def torch_gru_to_keras(
    state_dict: Mapping[str, Any],
    *,
    reset_after: bool = True,
    layer: int | None = 0,
    reverse: bool = False,
    prefix: str = "",
    kind: str = "weights",
    config: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """One layer-direction of a PyTorch-layout GRU state dict -> Keras ``GRU(reset_after=True)`` weights.

    Returns ``{"kernel": (D, 3H), "recurrent_kernel": (H, 3H), "bias": (2, 3H)}`` with gate blocks
    ``z, r, h`` (PyTorch's ``r, z, n`` reordered: z first): ``kernel = W_ih^T``, ``recurrent_kernel =
    W_hh^T``, ``bias[0] = b_ih``, ``bias[1] = b_hh`` (each reordered; exact, no sums). ``"bias"`` is omitted
    for a ``bias=False`` source (Keras ``use_bias=False``). ``reset_after=False`` raises ``ValueError``: that
    Keras GRU is a different model. ``config``: the target layer's ``get_config()``, checked. ``kind="grad"``
    converts gradients, the same exact rearrangement (both biases are kept).
    """
    where = "torch_gru_to_keras"
    is_grad(kind, where)
    _check_reset_after(reset_after, where)
    W_ih, W_hh, b_ih, b_hh, _, _ = _c.read_torch(state_dict, prefix, _c.suffix(layer, reverse, where), 3, where)
    out = {
        "kernel": _c.blocks(W_ih.T, _c.GRU_TORCH_KERAS, axis=1),
        "recurrent_kernel": _c.blocks(W_hh.T, _c.GRU_TORCH_KERAS, axis=1),
    }
    if b_ih is not None:
        out["bias"] = _c.blocks(np.stack([b_ih, b_hh]), _c.GRU_TORCH_KERAS, axis=1)
    check_keras_config(config, "GRU", W_hh.shape[1], b_ih is not None, where)
    return out


def keras_gru_to_torch(
    kernel: Any,
    recurrent_kernel: Any,
    bias: Any = None,
    *,
    reset_after: bool | None = None,
    layer: int | None = 0,
    reverse: bool = False,
    kind: str = "weights",
    config: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Keras ``GRU(reset_after=True)`` weights -> PyTorch GRU weights.

    Call as ``keras_gru_to_torch(*layer.get_weights())``.

    ``kernel`` ``(D, 3H)``, ``recurrent_kernel`` ``(H, 3H)``, ``bias`` ``(2, 3H)`` (row 0 input bias, row 1
    recurrent bias) or ``None`` (``use_bias=False``), gate blocks ``z, r, h``. Returns ``weight_ih{sfx}``
    ``(3H, D)``, ``weight_hh{sfx}`` ``(3H, H)``, ``bias_ih{sfx} = bias[0]``, ``bias_hh{sfx} = bias[1]`` in
    PyTorch's ``r, z, n`` order (``sfx = _l{layer}[_reverse]``, empty for ``layer=None``).

    ``reset_after`` is detected from the bias: ``(2, 3H)`` is ``reset_after=True``; a ``(3H,)`` bias (or
    ``reset_after=False``) is Keras' reset-before GRU, a different model: ``ValueError``. Without a bias the
    shape cannot tell, so ``reset_after=True`` must then be passed explicitly (or the layer's ``config``,
    which is also checked for the activations). ``kind="grad"`` converts gradients, the same rearrangement.
    """
    where = "keras_gru_to_torch"
    is_grad(kind, where)
    _check_reset_after(reset_after, where)
    sfx = _c.suffix(layer, reverse, where)
    W, U, H = _c.read_keras(kernel, recurrent_kernel, 3, where)
    check_keras_config(config, "GRU", H, bias is not None, where)
    if reset_after is None and config is not None:
        reset_after = True  # the config check passed: reset_after=True
    b = None
    if bias is None:
        if reset_after is None:
            raise ValueError(
                f"{where}: with no bias (use_bias=False) reset_after cannot be read from the bias shape; "
                "pass reset_after=True if the Keras GRU used reset_after=True (reset_after=False is a "
                "different model that cannot be converted)"
            )
    else:
        b = _c.float_array(bias, "bias", where)
        if b.shape == (3 * H,):
            raise ValueError(f"{where}: bias of shape ({3 * H},) means reset_after=False: {_RESET_BEFORE}")
        _c.expect_shape(b, (2, 3 * H), "bias", where, f"reset_after=True: rows input, recurrent; 3H with H={H}")
    W, U, b = _c.common_dtype(W, U, b)
    W_ih = np.ascontiguousarray(_c.blocks(W, _c.GRU_TORCH_KERAS, axis=1).T)
    W_hh = np.ascontiguousarray(_c.blocks(U, _c.GRU_TORCH_KERAS, axis=1).T)
    if b is None:
        return _c.torch_out(sfx, W_ih, W_hh, None, None)
    b = _c.blocks(b, _c.GRU_TORCH_KERAS, axis=1)
    return _c.torch_out(sfx, W_ih, W_hh, b[0].copy(), b[1].copy())
