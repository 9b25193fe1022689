"""LSTM weights (and their gradients) between PyTorch's layout and TensorFlow 1's LSTM cells (``BasicLSTMCell``,
``LSTMCell``, ``LayerNormBasicLSTMCell(layer_norm=False)``): ``[x, h] @ kernel + bias``, columns ``i, j, f, o``,
plus the cells' run-time ``forget_bias`` (see :mod:`bptt.interop` for the forget-bias rule), and ``LSTMCell``'s
projection (``num_proj``: ``bptt.nn.LSTM``'s / PyTorch's ``proj_size``) and peepholes (``use_peepholes``:
``bptt.nn.LSTM(peepholes=True)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _common as _c
from ._options import is_grad, shared_bias_grad

__all__ = ["TF_CELL_WEIGHTS", "tf_lstm_to_torch", "torch_lstm_to_tf"]

#: Names of a TF1 ``LSTMCell``'s weights in the order of ``cell.weights`` (``projection`` is the variable
#: ``projection/kernel``); the converters' dicts use these keys in this order.
TF_CELL_WEIGHTS = ("kernel", "bias", "w_f_diag", "w_i_diag", "w_o_diag", "projection")


def _forget_shift(grad: bool, source: Any, source_name: str, target: Any, target_name: str, where: str) -> float:
    """The forget-block shift for weights; none for gradients (a constant shift changes no gradient), whose
    forget biases are optional but still checked when given."""
    if not grad:
        return _c.forget_shift(source, source_name, target, target_name, where)
    for value, name in ((source, source_name), (target, target_name)):
        if value is not None:
            _c.forget_bias(value, name, where)
    return 0.0


def torch_lstm_to_tf(
    state_dict: Mapping[str, Any],
    *,
    tf_forget_bias: float | None = None,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
    prefix: str = "",
    kind: str = "weights",
) -> dict[str, np.ndarray]:
    """One layer-direction of a PyTorch-layout LSTM state dict -> TensorFlow cell ``kernel`` and ``bias``.

    Reads ``{prefix}weight_ih_l{layer}[_reverse]`` ``(4H, D)``, ``weight_hh`` ``(4H, P)`` and (optional)
    ``bias_ih``/``bias_hh`` ``(4H,)`` with row blocks ``i, f, g, o`` (``layer=None``: ``LSTMCell`` names).
    Returns ``{"kernel": (D + P, 4H), "bias": (4H,)}`` in the layout of TF1's ``BasicLSTMCell``, ``LSTMCell``
    and ``LayerNormBasicLSTMCell(layer_norm=False)`` -- ``[x, h] @ kernel + bias`` with column blocks
    ``i, j, f, o`` (``j`` is PyTorch's ``g``)::

        kernel = [[W_ih^T], [W_hh^T]]  (columns reordered)
        bias   = b_ih + b_hh,  with  bias[f] += torch_forget_bias - tf_forget_bias

    ``tf_forget_bias`` (required for weights) is the ``forget_bias`` of the TF cell that will run the weights:
    pass the cell's value (TF default 1.0; the cell adds it back, "kept"), or 0.0 and build the cell with
    ``forget_bias=0.0`` ("folded"). ``torch_forget_bias`` is the source ``bptt.nn.LSTM``'s ``forget_bias``
    (0 for ``torch.nn.LSTM``). A ``bias=False`` source gives a zero bias (TF cells always have one).

    For ``LSTMCell(num_proj=P, use_peepholes=True)``: a projection ``weight_hr`` ``(P, H)`` (``proj_size``)
    gives ``"projection"`` ``(H, P) = W_hr^T`` (TF's ``projection/kernel``; ``P = H`` otherwise), and
    peepholes ``weight_peep`` ``(3H,)`` (``bptt.nn.LSTM(peepholes=True)``, blocks ``p_i, p_f, p_o``) give
    ``"w_f_diag"``, ``"w_i_diag"``, ``"w_o_diag"`` ``(H,)``. The dict's keys are in the order of the cell's
    ``weights`` (:data:`TF_CELL_WEIGHTS`), so ``cell.set_weights(list(d.values()))`` works.

    ``kind="grad"`` converts the *gradients* of those parameters instead (:mod:`bptt.interop._options`): the
    bias gradient is ``dbias_ih`` (equal to ``dbias_hh``), not their sum, and no forget shift is applied.
    """
    where = "torch_lstm_to_tf"
    grad = is_grad(kind, where)
    shift = _forget_shift(grad, torch_forget_bias, "torch_forget_bias", tf_forget_bias, "tf_forget_bias", where)
    sfx = _c.suffix(layer, reverse, where)
    t = _c.read_torch(state_dict, prefix, sfx, 4, where, target="tf")
    b_ih, b_hh = t.b_ih, t.b_hh
    if grad:
        if b_ih is None:
            raise ValueError(f"{where}: kind='grad' with a bias=False source: a TF cell always has a bias, whose "
                             "gradient a layer without biases does not compute")
        b_ih = shared_bias_grad(b_ih, b_hh, (prefix + "bias_ih" + sfx, prefix + "bias_hh" + sfx), where)
        b_hh = np.zeros_like(b_ih)
    kernel, bias = _c.torch_to_tf_arrays(t.W_ih, t.W_hh, b_ih, b_hh, shift)
    if bias is None:  # TF cells always have a bias
        bias = np.zeros(t.W_hh.shape[0], dtype=t.W_hh.dtype)
    out = {"kernel": kernel, "bias": bias}
    if t.W_peep is not None:
        p_i, p_f, p_o = np.split(t.W_peep, 3)
        out.update(w_f_diag=p_f.copy(), w_i_diag=p_i.copy(), w_o_diag=p_o.copy())
    if t.W_hr is not None:
        out["projection"] = np.ascontiguousarray(t.W_hr.T)
    return out


def tf_lstm_to_torch(
    kernel: Any,
    bias: Any,
    *,
    w_f_diag: Any = None,
    w_i_diag: Any = None,
    w_o_diag: Any = None,
    projection: Any = None,
    tf_forget_bias: float | None = None,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
    kind: str = "weights",
) -> dict[str, np.ndarray]:
    """TF cell ``kernel (D + P, 4H)`` and ``bias (4H,)`` (columns ``i, j, f, o``) -> PyTorch LSTM weights.

    Returns ``weight_ih{sfx}`` ``(4H, D)``, ``weight_hh{sfx}`` ``(4H, P)``, ``bias_ih{sfx}`` and
    ``bias_hh{sfx}`` ``(4H,)`` (rows ``i, f, g, o``; ``sfx = _l{layer}[_reverse]``, empty for
    ``layer=None``), ready for ``load_state_dict`` (or merging into a multi-layer dict). The whole bias goes
    into ``bias_ih`` and ``bias_hh`` is zero, with::

        bias_ih[f] = bias[f] + tf_forget_bias - torch_forget_bias

    ``tf_forget_bias`` (required for weights) is the ``forget_bias`` the TF cell used (TF default 1.0). With
    the default ``torch_forget_bias=0.0`` it is folded into ``bias_ih`` (for ``torch.nn.LSTM``); pass
    ``torch_forget_bias=tf_forget_bias`` to keep it for a ``bptt.nn.LSTM(forget_bias=...)``.

    TF1 ``LSTMCell(num_proj=P)``: pass ``projection`` (its ``projection/kernel``, ``(H, P)``) to get
    ``weight_hr{sfx} = projection^T`` (PyTorch's ``proj_size=P``). ``LSTMCell(use_peepholes=True)``: pass
    ``w_f_diag``, ``w_i_diag``, ``w_o_diag`` (all three, ``(H,)``) to get ``weight_peep{sfx}`` ``(3H,)`` for
    ``bptt.nn.LSTM(peepholes=True)`` (``tf_lstm_to_torch(*cell.get_weights(), ...)`` fails for such a cell:
    pass them by name, or use ``dict(zip(TF_CELL_WEIGHTS, ...))``).

    ``kind="grad"`` converts gradients: ``bias_ih`` and ``bias_hh`` both receive the bias gradient (each
    PyTorch bias gets the gradient of the sum), with no forget shift.
    """
    where = "tf_lstm_to_torch"
    grad = is_grad(kind, where)
    shift = _forget_shift(grad, tf_forget_bias, "tf_forget_bias", torch_forget_bias, "torch_forget_bias", where)
    sfx = _c.suffix(layer, reverse, where)
    R = None
    if projection is not None:
        R = _c.float_array(projection, "projection", where)
        _c.expect_ndim(R, 2, "projection", "(H, num_proj)", where)
    K, b, H = _c.read_tf(kernel, bias, where, P=None if R is None else R.shape[1])
    if R is not None and not 0 < R.shape[1] < H:
        raise ValueError(f"{where}: projection must have shape (H, num_proj) = ({H}, num_proj) with "
                         f"0 < num_proj < H (H={H} from kernel's columns), got {R.shape}")
    if R is not None:
        _c.expect_shape(R, (H, R.shape[1]), "projection", where, f"H={H} from kernel's columns")
    diags = (w_i_diag, w_f_diag, w_o_diag)
    peep = None
    if any(d is not None for d in diags):
        if any(d is None for d in diags):
            raise ValueError(f"{where}: peepholes need all of w_i_diag, w_f_diag and w_o_diag, got "
                             f"{[n for n, d in zip(('w_i_diag', 'w_f_diag', 'w_o_diag'), diags) if d is None]} "
                             "missing")
        parts = [_c.float_array(d, n, where) for d, n in zip(diags, ("w_i_diag", "w_f_diag", "w_o_diag"))]
        for d, n in zip(parts, ("w_i_diag", "w_f_diag", "w_o_diag")):
            _c.expect_shape(d, (H,), n, where, f"H={H} from kernel's columns")
        peep = np.concatenate(parts)
    K, b, R, peep = _c.common_dtype(K, b, R, peep)
    W_ih, W_hh, b_ih = _c.tf_to_torch_arrays(K, b, H, shift, None if R is None else R.shape[1])
    out = _c.torch_out(sfx, W_ih, W_hh, b_ih, b_ih.copy() if grad else None)
    if R is not None:
        out["weight_hr" + sfx] = np.ascontiguousarray(R.T)
    if peep is not None:
        out["weight_peep" + sfx] = peep
    return out
