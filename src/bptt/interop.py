r"""Weight converters between PyTorch-layout recurrent state dicts and TensorFlow / Keras layouts.

Pure NumPy (no TensorFlow import). Every function returns fresh NumPy arrays in the input's float dtype;
inputs may be NumPy arrays, nested lists or torch tensors.

Layouts (``H`` hidden size, ``D`` the layer's input size; gate *blocks* of ``H`` rows or columns):

- PyTorch ``LSTM`` / ``LSTMCell``, ``bptt.nn.LSTM``: ``weight_ih (4H, D)``, ``weight_hh (4H, H)``,
  ``bias_ih (4H,)``, ``bias_hh (4H,)``; row blocks ``i, f, g, o``.
- TF1 ``BasicLSTMCell`` / ``LSTMCell`` / ``LayerNormBasicLSTMCell(layer_norm=False)``, and
  ``bptt.nn.LayerNormLSTM(layer_norm=False)`` (``kernel_l{k}``, ``bias_l{k}``): ``kernel (D + H, 4H)``
  applied as ``[x, h] @ kernel``, ``bias (4H,)``; column blocks ``i, j, f, o`` (``j`` = PyTorch's ``g``);
  plus the run-time ``forget_bias`` (below).
- Keras ``LSTM``: ``kernel (D, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H,)``; column blocks
  ``i, f, c, o`` (``c`` = ``g``: PyTorch's order, transposed).
- PyTorch ``GRU`` / ``GRUCell``, ``bptt.nn.GRU``: ``weight_ih (3H, D)``, ``weight_hh (3H, H)``,
  ``bias_ih (3H,)``, ``bias_hh (3H,)``; row blocks ``r, z, n``.
- Keras ``GRU(reset_after=True)``: ``kernel (D, 3H)``, ``recurrent_kernel (H, 3H)``, ``bias (2, 3H)`` (row 0
  the input bias, row 1 the recurrent bias); column blocks ``z, r, h`` (z first!).

**The forget-bias rule (LSTM).** TensorFlow's LSTM cells (and ``bptt.nn.LSTM(forget_bias=...)``,
``bptt.nn.LayerNormLSTM``) add a run-time constant to the forget gate's pre-activation. Two models compute the
same function iff their forget pre-activations agree::

    b_ih[f] + b_hh[f] + torch_forget_bias  ==  bias_tf[f] + tf_forget_bias

so converting PyTorch -> TF sets ``bias_tf[f] = b_ih[f] + b_hh[f] + torch_forget_bias - tf_forget_bias`` and
TF -> PyTorch sets ``bias_ih[f] = bias_tf[f] + tf_forget_bias - torch_forget_bias`` (``bias_hh = 0``).
``tf_forget_bias`` is the ``forget_bias`` of the TF cell that runs (or ran) the weights -- 1.0 for TF's
defaults, 0.0 to *fold* the constant into the bias -- and is a required argument: there is no safe default.
``torch_forget_bias`` is ``bptt.nn.LSTM``'s ``forget_bias`` (0.0, the default, for ``torch.nn.LSTM``).
Keras' ``unit_forget_bias`` is only an initializer (no run-time constant), so for Keras the target side is 0.

**GRU.** PyTorch's GRU is Keras' ``GRU(reset_after=True)`` (the TF2 default): ``b_hn`` sits inside the reset
product. Keras ``reset_after=False`` (and TF1's ``GRUCell``) applies the reset gate *before* the recurrent
matmul, ``n = tanh(x W_n + b_n + (r * h) U_n)``: a different model that no PyTorch GRU equals, so every
converter refuses it with a ``ValueError``.

Per layer and direction, ``layer`` (``None`` for the un-suffixed names of ``LSTMCell`` / ``GRUCell``),
``reverse`` and ``prefix`` (e.g. ``"encoder.rnn."``) select the PyTorch keys
``{prefix}weight_ih_l{layer}[_reverse]`` etc.; :func:`torch_to_layers` / :func:`layers_to_torch` convert
whole stacks, in PyTorch's order ``l0, l0_reverse, l1, ...`` (also Keras' ``Bidirectional`` order: forward
layer, then backward layer). :func:`ln_lstm_to_torch_lstm` / :func:`torch_lstm_to_ln_lstm` convert between
``bptt.nn.LayerNormLSTM(layer_norm=False)`` and ``bptt.nn.LSTM`` state dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .nn import checks as C

__all__ = [
    "LAYOUTS",
    "keras_gru_to_torch",
    "keras_lstm_to_torch",
    "layers_to_torch",
    "ln_lstm_to_torch_lstm",
    "tf_lstm_to_torch",
    "torch_gru_to_keras",
    "torch_lstm_to_keras",
    "torch_lstm_to_ln_lstm",
    "torch_lstm_to_tf",
    "torch_to_layers",
]

#: Layout names accepted by :func:`torch_to_layers` and :func:`layers_to_torch`.
LAYOUTS: tuple[str, ...] = ("tf_lstm", "keras_lstm", "keras_gru")

# Block permutations (output block k takes input block PERM[k]); each one is its own inverse.
_LSTM_TORCH_TF = (0, 2, 1, 3)  # torch i, f, g, o  <->  TF i, j, f, o
_GRU_TORCH_KERAS = (1, 0, 2)  # torch r, z, n  <->  Keras z, r, h
_F_TORCH = 1  # forget block index in PyTorch's (and Keras') LSTM order
_F_TF = 2  # forget block index in TensorFlow's i, j, f, o order

_RESET_BEFORE = (
    "Keras GRU(reset_after=False) (like TF1's GRUCell) computes n = tanh(x W_n + b_n + (r * h) U_n): "
    "the reset gate is applied BEFORE the recurrent matmul. PyTorch's GRU (and bptt.nn.GRU) computes "
    "n = tanh(x W_in + b_in + r * (h W_hn + b_hn)), which is Keras GRU(reset_after=True). These are "
    "different models: no PyTorch GRU computes the same function, so these weights cannot be converted "
    "(build/train the Keras layer with reset_after=True, the TF2 default)"
)


# ---------------------------------------------------------------------------------------------- helpers
def _suffix(layer: int | None, reverse: bool, where: str) -> str:
    C.boolean(reverse, "reverse", where)
    if layer is None:
        if reverse:
            raise ValueError(
                f"{where}: reverse=True needs a layer index (layer=None means a cell's un-suffixed names)"
            )
        return ""
    layer = C.nonnegative_int(layer, "layer", where)
    return f"_l{layer}" + ("_reverse" if reverse else "")


def _prefix(prefix: Any, where: str) -> str:
    if not isinstance(prefix, str):
        got = f"{type(prefix).__name__} {prefix!r}"
        raise TypeError(f"{where}: prefix must be a str (e.g. 'rnn.'), got {got}")
    return prefix


def _array(value: Any, name: str, where: str) -> np.ndarray:
    """A float NumPy array (a torch tensor is detached and copied to the CPU first)."""
    if C.is_torch_tensor(value):
        value = value.detach().cpu().numpy()
    if value is None:
        raise TypeError(f"{where}: {name} must be a float array, got None")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - re-raised with the argument named
        raise TypeError(f"{where}: {name} must be a float array, got {type(value).__name__}") from exc
    if not np.issubdtype(arr.dtype, np.floating):
        got = type(value).__name__ if arr.dtype == object else f"dtype {arr.dtype}"
        raise TypeError(f"{where}: {name} must be a floating-point array, got {got}")
    return arr


def _expect(arr: np.ndarray, shape: tuple[int, ...], name: str, where: str, note: str = "") -> None:
    if arr.shape != shape:
        extra = f" ({note})" if note else ""
        exp, got = C.shape_str(shape), C.shape_str(arr.shape)
        raise ValueError(f"{where}: {name} must have shape {exp}{extra}, got {got}")


def _expect_ndim(arr: np.ndarray, ndim: int, name: str, layout: str, where: str) -> None:
    if arr.ndim != ndim:
        raise ValueError(f"{where}: {name} must be {ndim}-D {layout}, got shape {C.shape_str(arr.shape)}")


def _mapping(state_dict: Any, where: str) -> Mapping:
    if not isinstance(state_dict, Mapping):
        got = type(state_dict).__name__
        raise TypeError(f"{where}: state_dict must be a mapping of name -> array, got {got}")
    return state_dict


def _missing(state_dict: Mapping, key: str, name: str, where: str) -> ValueError:
    """The error for a missing key, with a hint when the key exists under some prefix."""
    keys = [str(k) for k in state_dict]
    hint = ""
    near = [k for k in keys if k.endswith(name) and k != key]
    if near:
        hint = f"; did you mean prefix={near[0][: -len(name)]!r}?"
    shown = keys[:8] + (["..."] if len(keys) > 8 else [])
    return ValueError(f"{where}: state_dict has no key {key!r} (its keys: {shown}){hint}")


def _get(state_dict: Mapping, prefix: str, name: str, where: str) -> np.ndarray:
    key = prefix + name
    if key not in state_dict:
        raise _missing(state_dict, key, name, where)
    return _array(state_dict[key], f"state_dict[{key!r}]", where)


def _blocks(a: np.ndarray, perm: tuple[int, ...], axis: int) -> np.ndarray:
    """Reorder the ``len(perm)`` equal blocks of ``a`` along ``axis`` (a fresh contiguous array)."""
    parts = np.split(a, len(perm), axis=axis)
    return np.ascontiguousarray(np.concatenate([parts[k] for k in perm], axis=axis))


def _common(*arrays: Any) -> tuple[Any, ...]:
    """Cast to the arrays' common float dtype (``None`` entries stay ``None``)."""
    dt = np.result_type(*[a for a in arrays if a is not None])
    return tuple(None if a is None else a.astype(dt, copy=False) for a in arrays)


def _fb(value: Any, name: str, where: str) -> float:
    """A forget bias; ``None`` (not given) is refused with what to pass."""
    if value is None:
        what = {
            "tf_forget_bias": "the forget_bias the TensorFlow cell adds to the forget gate at run time (1.0 "
            "for BasicLSTMCell/LSTMCell/LayerNormBasicLSTMCell defaults; 0.0 to fold it into the bias)",
            "ln_forget_bias": "the LayerNormLSTM's forget_bias (its default is 1.0)",
        }.get(name, "the bptt.nn.LSTM's forget_bias (0.0 for torch.nn.LSTM)")
        raise TypeError(f"{where}: {name} is required: {what}")
    return C.finite_float(value, name, where)


def _gate_hint(rows: int, H: int, gates: int) -> str:
    if gates == 4 and rows == 3 * H:
        return "; 3H rows: this looks like a GRU state dict"
    if gates == 3 and rows == 4 * H:
        return "; 4H rows: this looks like an LSTM state dict"
    return ""


def _read_torch(
    state_dict: Any, prefix: str, sfx: str, gates: int, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validated ``weight_ih, weight_hh, bias_ih, bias_hh`` (biases ``None`` for ``bias=False``)."""
    sd = _mapping(state_dict, where)
    prefix = _prefix(prefix, where)
    n_ih, n_hh = prefix + "weight_ih" + sfx, prefix + "weight_hh" + sfx
    if prefix + "weight_hr" + sfx in sd:
        raise ValueError(
            f"{where}: state_dict has {prefix + 'weight_hr' + sfx!r}: LSTMs with proj_size have no "
            "Keras/TensorFlow-cell equivalent in this converter (TF's LSTMCell(num_proj=...) is not "
            "supported)"
        )
    W_hh = _get(sd, prefix, "weight_hh" + sfx, where)
    W_ih = _get(sd, prefix, "weight_ih" + sfx, where)
    G = f"{gates}H"
    _expect_ndim(W_hh, 2, repr(n_hh), f"({G}, H)", where)
    H = W_hh.shape[1]
    if H == 0 or W_hh.shape[0] != gates * H:
        raise ValueError(
            f"{where}: state_dict[{n_hh!r}] must have shape ({G}, H) = {C.shape_str((gates * H, H))} "
            f"(H={H} from its columns), got {C.shape_str(W_hh.shape)}{_gate_hint(W_hh.shape[0], H, gates)}"
        )
    _expect_ndim(W_ih, 2, repr(n_ih), f"({G}, input_size)", where)
    if W_ih.shape[0] != gates * H or W_ih.shape[1] == 0:
        raise ValueError(
            f"{where}: state_dict[{n_ih!r}] must have shape ({G}, input_size) = ({gates * H}, input_size) "
            f"(H={H} from {n_hh!r}), got {C.shape_str(W_ih.shape)}"
        )
    n_bih, n_bhh = prefix + "bias_ih" + sfx, prefix + "bias_hh" + sfx
    has = (n_bih in sd, n_bhh in sd)
    if has == (False, False):
        return _common(W_ih, W_hh, None, None)
    if has != (True, True):
        missing, present = (n_bhh, n_bih) if has[0] else (n_bih, n_bhh)
        raise ValueError(
            f"{where}: state_dict has {present!r} but no {missing!r} (a PyTorch layer has both biases or, "
            "with bias=False, neither)"
        )
    b_ih = _get(sd, prefix, "bias_ih" + sfx, where)
    b_hh = _get(sd, prefix, "bias_hh" + sfx, where)
    for key, b in ((n_bih, b_ih), (n_bhh, b_hh)):
        _expect(b, (gates * H,), f"state_dict[{key!r}]", where, f"{G} with H={H} from {n_hh!r}")
    return _common(W_ih, W_hh, b_ih, b_hh)


def _torch_out(
    sfx: str, W_ih: np.ndarray, W_hh: np.ndarray, b_ih: np.ndarray | None, b_hh: np.ndarray | None
) -> dict[str, np.ndarray]:
    out = {"weight_ih" + sfx: W_ih, "weight_hh" + sfx: W_hh}
    if b_ih is not None:
        out["bias_ih" + sfx] = b_ih
        out["bias_hh" + sfx] = np.zeros_like(b_ih) if b_hh is None else b_hh
    return out


def _shift_forget(
    bias: np.ndarray | None, shift: float, block: int, G: int, dtype: np.dtype
) -> np.ndarray | None:
    """Add ``shift`` to the forget block of ``bias`` (a fresh array; created as zeros when needed)."""
    if shift == 0.0:
        return bias
    if bias is None:
        bias = np.zeros(G, dtype=dtype)
    H = G // 4
    bias[block * H : (block + 1) * H] += dtype.type(shift)
    return bias


# ------------------------------------------------------------------------------------------- LSTM <-> TF
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
    shift = _fb(torch_forget_bias, "torch_forget_bias", where) - _fb(tf_forget_bias, "tf_forget_bias", where)
    W_ih, W_hh, b_ih, b_hh = _read_torch(state_dict, prefix, _suffix(layer, reverse, where), 4, where)
    G = W_hh.shape[0]
    kernel = _blocks(np.concatenate([W_ih.T, W_hh.T], axis=0), _LSTM_TORCH_TF, axis=1)
    bias = np.zeros(G, dtype=W_hh.dtype) if b_ih is None else b_ih + b_hh
    bias = _shift_forget(_blocks(bias, _LSTM_TORCH_TF, axis=0), shift, _F_TF, G, W_hh.dtype)
    return {"kernel": kernel, "bias": bias}


def _read_tf(kernel: Any, bias: Any, where: str, kname: str = "kernel", bname: str = "bias",
             bias_optional: bool = False) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Validated TF-layout ``kernel (D + H, 4H)`` and ``bias (4H,)``; returns them and ``H``."""
    K = _array(kernel, kname, where)
    _expect_ndim(K, 2, kname, "(input_size + H, 4H)", where)
    if K.shape[1] == 0 or K.shape[1] % 4:
        raise ValueError(
            f"{where}: {kname} must have shape (input_size + H, 4H) (columns i, j, f, o), got "
            f"{C.shape_str(K.shape)}: {K.shape[1]} columns is not a positive multiple of 4"
        )
    H = K.shape[1] // 4
    if K.shape[0] <= H:
        raise ValueError(
            f"{where}: {kname} must have shape (input_size + H, 4H) with input_size >= 1 (H={H} from its "
            f"{4 * H} columns, so more than {H} rows), got {C.shape_str(K.shape)}"
        )
    if bias is None and bias_optional:
        return _common(K)[0], None, H
    b = _array(bias, bname, where)
    _expect(b, (4 * H,), bname, where, f"4H with H={H} from {kname}'s columns")
    K, b = _common(K, b)
    return K, b, H


def _tf_to_torch_arrays(K: np.ndarray, b: np.ndarray | None, H: int, shift: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    D = K.shape[0] - H
    KT = _blocks(K, _LSTM_TORCH_TF, axis=1).T
    W_ih, W_hh = np.ascontiguousarray(KT[:, :D]), np.ascontiguousarray(KT[:, D:])
    b_ih = None if b is None else _blocks(b, _LSTM_TORCH_TF, axis=0)
    return W_ih, W_hh, _shift_forget(b_ih, shift, _F_TORCH, 4 * H, K.dtype)


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
    shift = _fb(tf_forget_bias, "tf_forget_bias", where) - _fb(torch_forget_bias, "torch_forget_bias", where)
    sfx = _suffix(layer, reverse, where)
    K, b, H = _read_tf(kernel, bias, where)
    return _torch_out(sfx, *_tf_to_torch_arrays(K, b, H, shift), None)


# ------------------------------------------------------------------------------------------- LSTM <-> Keras
def torch_lstm_to_keras(
    state_dict: Mapping[str, Any],
    *,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
    prefix: str = "",
) -> dict[str, np.ndarray]:
    """One layer-direction of a PyTorch-layout LSTM state dict -> Keras ``LSTM`` weights.

    Returns ``{"kernel": (D, 4H), "recurrent_kernel": (H, 4H), "bias": (4H,)}`` (Keras' ``get_weights()``
    order; gate blocks ``i, f, c, o`` = PyTorch's ``i, f, g, o``): ``kernel = W_ih^T``,
    ``recurrent_kernel = W_hh^T``, ``bias = b_ih + b_hh`` with ``bias[f] += torch_forget_bias``. Keras has no
    run-time forget bias (``unit_forget_bias`` is an initializer), so a ``bptt.nn.LSTM``'s ``forget_bias``
    (``torch_forget_bias``; 0 for ``torch.nn.LSTM``) is folded in. ``"bias"`` is omitted when the source has
    no biases and ``torch_forget_bias`` is 0 (a Keras layer with ``use_bias=False``).
    """
    where = "torch_lstm_to_keras"
    shift = _fb(torch_forget_bias, "torch_forget_bias", where)
    W_ih, W_hh, b_ih, b_hh = _read_torch(state_dict, prefix, _suffix(layer, reverse, where), 4, where)
    out = {"kernel": W_ih.T.copy(), "recurrent_kernel": W_hh.T.copy()}  # copies: never alias the input
    bias = None if b_ih is None else b_ih + b_hh
    bias = _shift_forget(bias, shift, _F_TORCH, W_hh.shape[0], W_hh.dtype)
    if bias is not None:
        out["bias"] = bias
    return out


def _read_keras(kernel: Any, recurrent_kernel: Any, gates: int, where: str
                ) -> tuple[np.ndarray, np.ndarray, int]:
    G = f"{gates}H"
    U = _array(recurrent_kernel, "recurrent_kernel", where)
    W = _array(kernel, "kernel", where)
    _expect_ndim(U, 2, "recurrent_kernel", f"(H, {G})", where)
    H = U.shape[0]
    if H == 0 or U.shape[1] != gates * H:
        hint = ""
        if U.shape[1] in (3 * H, 4 * H) and U.shape[1] != gates * H:
            hint = f"; {U.shape[1] // H}H columns: this looks like a Keras {'GRU' if gates == 4 else 'LSTM'}"
        raise ValueError(
            f"{where}: recurrent_kernel must have shape (H, {G}) = {C.shape_str((H, gates * H))} (H={H} from "
            f"its rows), got {C.shape_str(U.shape)}{hint}"
        )
    _expect_ndim(W, 2, "kernel", f"(input_size, {G})", where)
    if W.shape[1] != gates * H or W.shape[0] == 0:
        raise ValueError(
            f"{where}: kernel must have shape (input_size, {G}) = (input_size, {gates * H}) (H={H} from "
            f"recurrent_kernel), got {C.shape_str(W.shape)}"
        )
    return W, U, H


def keras_lstm_to_torch(
    kernel: Any,
    recurrent_kernel: Any,
    bias: Any = None,
    *,
    torch_forget_bias: float = 0.0,
    layer: int | None = 0,
    reverse: bool = False,
) -> dict[str, np.ndarray]:
    """Keras ``LSTM`` weights -> PyTorch LSTM weights (``keras_lstm_to_torch(*layer.get_weights())``).

    ``kernel`` ``(D, 4H)``, ``recurrent_kernel`` ``(H, 4H)``, ``bias`` ``(4H,)`` or ``None``
    (``use_bias=False``), gate blocks ``i, f, c, o``. Returns ``weight_ih{sfx} = kernel^T`` ``(4H, D)``,
    ``weight_hh{sfx} = recurrent_kernel^T`` ``(4H, H)`` and ``bias_ih{sfx} = bias`` with
    ``bias_ih[f] -= torch_forget_bias``, ``bias_hh{sfx} = 0`` (``sfx = _l{layer}[_reverse]``, empty for
    ``layer=None``). ``torch_forget_bias`` is the target ``bptt.nn.LSTM``'s ``forget_bias`` (0 for
    ``torch.nn.LSTM``). Without a bias (and ``torch_forget_bias=0``) no bias keys are returned (a
    ``bias=False`` PyTorch layer).
    """
    where = "keras_lstm_to_torch"
    shift = -_fb(torch_forget_bias, "torch_forget_bias", where)
    sfx = _suffix(layer, reverse, where)
    W, U, H = _read_keras(kernel, recurrent_kernel, 4, where)
    b = None
    if bias is not None:
        b = _array(bias, "bias", where)
        _expect(b, (4 * H,), "bias", where, f"4H with H={H} from recurrent_kernel")
    W, U, b = _common(W, U, b)
    b = None if b is None else b.copy()
    b = _shift_forget(b, shift, _F_TORCH, 4 * H, U.dtype)
    return _torch_out(sfx, W.T.copy(), U.T.copy(), b, None)  # copies: never alias the input


# ------------------------------------------------------------------------------------------- GRU <-> Keras
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
) -> dict[str, np.ndarray]:
    """One layer-direction of a PyTorch-layout GRU state dict -> Keras ``GRU(reset_after=True)`` weights.

    Returns ``{"kernel": (D, 3H), "recurrent_kernel": (H, 3H), "bias": (2, 3H)}`` with gate blocks
    ``z, r, h`` (PyTorch's ``r, z, n`` reordered: z first): ``kernel = W_ih^T``, ``recurrent_kernel =
    W_hh^T``, ``bias[0] = b_ih``, ``bias[1] = b_hh`` (each reordered; exact, no sums). ``"bias"`` is omitted
    for a ``bias=False`` source (Keras ``use_bias=False``). ``reset_after=False`` raises ``ValueError``: that
    Keras GRU is a different model.
    """
    where = "torch_gru_to_keras"
    _check_reset_after(reset_after, where)
    W_ih, W_hh, b_ih, b_hh = _read_torch(state_dict, prefix, _suffix(layer, reverse, where), 3, where)
    out = {
        "kernel": _blocks(W_ih.T, _GRU_TORCH_KERAS, axis=1),
        "recurrent_kernel": _blocks(W_hh.T, _GRU_TORCH_KERAS, axis=1),
    }
    if b_ih is not None:
        out["bias"] = _blocks(np.stack([b_ih, b_hh]), _GRU_TORCH_KERAS, axis=1)
    return out


def keras_gru_to_torch(
    kernel: Any,
    recurrent_kernel: Any,
    bias: Any = None,
    *,
    reset_after: bool | None = None,
    layer: int | None = 0,
    reverse: bool = False,
) -> dict[str, np.ndarray]:
    """Keras ``GRU(reset_after=True)`` weights -> PyTorch GRU weights.

    Call as ``keras_gru_to_torch(*layer.get_weights())``.

    ``kernel`` ``(D, 3H)``, ``recurrent_kernel`` ``(H, 3H)``, ``bias`` ``(2, 3H)`` (row 0 input bias, row 1
    recurrent bias) or ``None`` (``use_bias=False``), gate blocks ``z, r, h``. Returns ``weight_ih{sfx}``
    ``(3H, D)``, ``weight_hh{sfx}`` ``(3H, H)``, ``bias_ih{sfx} = bias[0]``, ``bias_hh{sfx} = bias[1]`` in
    PyTorch's ``r, z, n`` order (``sfx = _l{layer}[_reverse]``, empty for ``layer=None``).

    ``reset_after`` is detected from the bias: ``(2, 3H)`` is ``reset_after=True``; a ``(3H,)`` bias (or
    ``reset_after=False``) is Keras' reset-before GRU, a different model: ``ValueError``. Without a bias the
    shape cannot tell, so ``reset_after=True`` must then be passed explicitly.
    """
    where = "keras_gru_to_torch"
    _check_reset_after(reset_after, where)
    sfx = _suffix(layer, reverse, where)
    W, U, H = _read_keras(kernel, recurrent_kernel, 3, where)
    b = None
    if bias is None:
        if reset_after is None:
            raise ValueError(
                f"{where}: with no bias (use_bias=False) reset_after cannot be read from the bias shape; "
                "pass reset_after=True if the Keras GRU used reset_after=True (reset_after=False is a "
                "different model that cannot be converted)"
            )
    else:
        b = _array(bias, "bias", where)
        if b.shape == (3 * H,):
            raise ValueError(f"{where}: bias of shape ({3 * H},) means reset_after=False: {_RESET_BEFORE}")
        _expect(b, (2, 3 * H), "bias", where, f"reset_after=True: rows input, recurrent; 3H with H={H}")
    W, U, b = _common(W, U, b)
    W_ih = np.ascontiguousarray(_blocks(W, _GRU_TORCH_KERAS, axis=1).T)
    W_hh = np.ascontiguousarray(_blocks(U, _GRU_TORCH_KERAS, axis=1).T)
    if b is None:
        return _torch_out(sfx, W_ih, W_hh, None, None)
    b = _blocks(b, _GRU_TORCH_KERAS, axis=1)
    return _torch_out(sfx, W_ih, W_hh, b[0].copy(), b[1].copy())


# ---------------------------------------------------------------------------------------------- whole stacks
_TORCH_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")
_LN_SCOPE = r"(?:input|transform|forget|output|state)_(?:gamma|beta)"
_LN_KEY = re.compile(rf"^(kernel|bias|{_LN_SCOPE})_l(\d+)(_reverse)?$")


def _discover(state_dict: Mapping, prefix: str, pattern: re.Pattern, anchor: str, where: str
              ) -> tuple[int, int]:
    """``(num_layers, num_directions)`` from the keys ``{prefix}..._l{k}[_reverse]`` (checked complete)."""
    found: set[tuple[int, bool]] = set()
    for key in state_dict:
        if not (isinstance(key, str) and key.startswith(prefix)):
            continue
        m = pattern.match(key[len(prefix):])
        if m:
            found.add((int(m.group(2)), m.group(3) is not None))
    if not found:
        raise _missing(state_dict, prefix + anchor + "_l0", anchor + "_l0", where)
    layers = sorted({k for k, _ in found})
    nd = 2 if any(r for _, r in found) else 1
    if layers != list(range(len(layers))):
        raise ValueError(
            f"{where}: layers must be numbered 0, 1, ..., got layer indices {layers} (prefix={prefix!r})"
        )
    for k in layers:
        for r in range(nd):
            if (k, bool(r)) not in found:
                sfx = f"_l{k}" + ("_reverse" if r else "")
                raise ValueError(
                    f"{where}: state_dict has reverse-direction keys but no {prefix}{anchor}{sfx!s} "
                    "(a bidirectional stack has both directions in every layer)"
                )
    return len(layers), nd


def _check_stack(shapes: list[tuple[int, int]], nd: int, where: str) -> None:
    """``shapes[j] = (input_size, H)`` per layer-direction: one ``H`` and layer ``k > 0`` reads ``nd * H``."""
    H0 = shapes[0][1]
    for j, (D, H) in enumerate(shapes):
        k, r = divmod(j, nd)
        name = f"layer {k}" + (" reverse" if r else "")
        if H != H0:
            raise ValueError(f"{where}: inconsistent hidden size: layer 0 has H={H0}, {name} has H={H}")
        if k > 0 and D != nd * H0:
            raise ValueError(
                f"{where}: {name} must read the previous layer's output of size num_directions * H = "
                f"{nd} * {H0} = {nd * H0}, but its input size is {D}"
            )
        if r and D != shapes[j - 1][0]:
            raise ValueError(
                f"{where}: {name} has input size {D} but the forward direction has {shapes[j - 1][0]}"
            )


def _layout(layout: Any, where: str) -> str:
    return C.choice(layout, LAYOUTS, "layout", where)


def _layout_options(layout: str, tf_forget_bias: Any, torch_forget_bias: Any, where: str) -> None:
    if layout == "tf_lstm":
        _fb(tf_forget_bias, "tf_forget_bias", where)
    elif tf_forget_bias is not None:
        raise ValueError(f"{where}: tf_forget_bias applies only to layout 'tf_lstm' (got layout {layout!r})")
    fb = _fb(torch_forget_bias, "torch_forget_bias", where)
    if layout == "keras_gru" and fb != 0.0:
        raise ValueError(f"{where}: torch_forget_bias applies only to LSTM layouts (got layout 'keras_gru')")


def torch_to_layers(
    state_dict: Mapping[str, Any],
    layout: str,
    *,
    tf_forget_bias: float | None = None,
    torch_forget_bias: float = 0.0,
    prefix: str = "",
) -> list[dict[str, np.ndarray]]:
    """A whole PyTorch-layout LSTM/GRU state dict -> one dict per layer and direction in ``layout``.

    ``layout`` is ``"tf_lstm"`` (:func:`torch_lstm_to_tf`; ``tf_forget_bias`` required), ``"keras_lstm"``
    (:func:`torch_lstm_to_keras`) or ``"keras_gru"`` (:func:`torch_gru_to_keras`). The number of layers and
    directions is read from the ``{prefix}weight_ih_l{k}[_reverse]`` keys; the list is in PyTorch's order
    ``l0, l0_reverse, l1, l1_reverse, ...`` (Keras ``Bidirectional``: forward layer, then backward layer).
    """
    where = "torch_to_layers"
    layout = _layout(layout, where)
    _layout_options(layout, tf_forget_bias, torch_forget_bias, where)
    sd = _mapping(state_dict, where)
    prefix = _prefix(prefix, where)
    L, nd = _discover(sd, prefix, _TORCH_KEY, "weight_ih", where)
    out, shapes = [], []
    for k in range(L):
        for r in range(nd):
            kw: dict[str, Any] = {"layer": k, "reverse": bool(r), "prefix": prefix}
            if layout == "tf_lstm":
                d = torch_lstm_to_tf(
                    sd, tf_forget_bias=tf_forget_bias, torch_forget_bias=torch_forget_bias, **kw
                )
                H = d["kernel"].shape[1] // 4
                shapes.append((d["kernel"].shape[0] - H, H))
            else:
                if layout == "keras_lstm":
                    d = torch_lstm_to_keras(sd, torch_forget_bias=torch_forget_bias, **kw)
                else:
                    d = torch_gru_to_keras(sd, **kw)
                shapes.append((d["kernel"].shape[0], d["recurrent_kernel"].shape[0]))
            out.append(d)
    _check_stack(shapes, nd, where)
    return out


def _entry(entry: Any, names: tuple[str, ...], required: int, j: int, where: str) -> list[Any]:
    """A layer given as a mapping with ``names`` or a sequence in that order (``get_weights()``)."""
    if isinstance(entry, Mapping):
        missing = [n for n in names[:required] if n not in entry]
        unknown = [k for k in entry if k not in names]
        if missing or unknown:
            parts = [f"missing {missing}"] if missing else []
            parts += [f"unexpected {unknown}"] if unknown else []
            raise ValueError(f"{where}: layers[{j}] must have keys {list(names)}: " + "; ".join(parts))
        return [entry.get(n) for n in names]
    if isinstance(entry, Sequence) and not isinstance(entry, str) and required <= len(entry) <= len(names):
        return list(entry) + [None] * (len(names) - len(entry))
    raise TypeError(
        f"{where}: layers[{j}] must be a dict with keys {list(names)} or a list of those arrays in that "
        f"order (get_weights()), got {C.describe_pair(entry)}"
    )


def layers_to_torch(
    layers: Sequence[Any],
    layout: str,
    *,
    bidirectional: bool = False,
    tf_forget_bias: float | None = None,
    torch_forget_bias: float = 0.0,
    reset_after: bool | None = None,
    prefix: str = "",
) -> dict[str, np.ndarray]:
    """One ``layout`` dict per layer and direction -> a whole PyTorch-layout state dict (inverse of
    :func:`torch_to_layers`).

    ``layers`` is ordered ``l0, [l0_reverse,] l1, ...``; each entry is a dict (``"kernel"``, ``"bias"``
    for ``"tf_lstm"``; ``"kernel"``, ``"recurrent_kernel"``, optional ``"bias"`` for Keras) or a list in
    that order (Keras ``get_weights()``). ``bidirectional`` must be given (a list of 2 is 2 layers or 1
    bidirectional layer); the stack is checked for one hidden size and consistent input sizes, and all
    layers must agree on having biases. Keys are ``{prefix}weight_ih_l{k}[_reverse]`` etc. in PyTorch's
    parameter order, ready for ``bptt.nn.LSTM/GRU.load_state_dict`` (or ``torch.nn``'s, as tensors).
    """
    where = "layers_to_torch"
    layout = _layout(layout, where)
    _layout_options(layout, tf_forget_bias, torch_forget_bias, where)
    if layout != "keras_gru" and reset_after is not None:
        raise ValueError(f"{where}: reset_after applies only to layout 'keras_gru' (got layout {layout!r})")
    nd = 2 if C.boolean(bidirectional, "bidirectional", where) else 1
    prefix = _prefix(prefix, where)
    if isinstance(layers, (Mapping, str)) or not isinstance(layers, Sequence):
        raise TypeError(f"{where}: layers must be a list of per-layer weights, got {type(layers).__name__}")
    if len(layers) == 0 or len(layers) % nd:
        raise ValueError(
            f"{where}: layers must hold num_layers * num_directions entries (num_directions={nd} since "
            f"bidirectional={bool(bidirectional)}), got {len(layers)}"
        )
    out: dict[str, np.ndarray] = {}
    shapes = []
    with_bias = []
    for j, entry in enumerate(layers):
        k, r = divmod(j, nd)
        kw: dict[str, Any] = {"layer": k, "reverse": bool(r)}
        try:
            if layout == "tf_lstm":
                kernel, bias = _entry(entry, ("kernel", "bias"), 2, j, where)
                d = tf_lstm_to_torch(kernel, bias, tf_forget_bias=tf_forget_bias,
                                     torch_forget_bias=torch_forget_bias, **kw)
            else:
                kernel, rk, bias = _entry(entry, ("kernel", "recurrent_kernel", "bias"), 2, j, where)
                if layout == "keras_lstm":
                    d = keras_lstm_to_torch(kernel, rk, bias, torch_forget_bias=torch_forget_bias, **kw)
                else:
                    d = keras_gru_to_torch(kernel, rk, bias, reset_after=reset_after, **kw)
        except (TypeError, ValueError) as exc:
            if str(exc).startswith(where):
                raise
            raise type(exc)(f"{where}: layers[{j}]: {exc}") from exc
        sfx = f"_l{k}" + ("_reverse" if r else "")
        shapes.append((d["weight_ih" + sfx].shape[1], d["weight_hh" + sfx].shape[1]))
        with_bias.append("bias_ih" + sfx in d)
        out.update({prefix + key: v for key, v in d.items()})
    _check_stack(shapes, nd, where)
    if any(with_bias) and not all(with_bias):
        raise ValueError(
            f"{where}: layers[j] for j in {[j for j, b in enumerate(with_bias) if not b]} have no bias but "
            "the others do (a PyTorch module has biases in every layer or in none)"
        )
    return out


# ---------------------------------------------------------------------------------------------- LayerNormLSTM
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
    shift = _fb(ln_forget_bias, "ln_forget_bias", where) - _fb(torch_forget_bias, "torch_forget_bias", where)
    sd = _mapping(state_dict, where)
    prefix = _prefix(prefix, where)
    ln_keys = [k for k in sd if isinstance(k, str) and k.startswith(prefix)
               and re.match(r"^(input|transform|forget|output|state)_(gamma|beta)_l\d", k[len(prefix):])]
    if ln_keys:
        raise ValueError(
            f"{where}: state_dict has layer-norm parameters ({ln_keys[0]!r}, ...): a LayerNormLSTM with "
            "layer_norm=True has no plain LSTM equivalent (only layer_norm=False converts)"
        )
    L, nd = _discover(sd, prefix, _LN_KEY, "kernel", where)
    out: dict[str, np.ndarray] = {}
    shapes = []
    for k in range(L):
        for r in range(nd):
            sfx = f"_l{k}" + ("_reverse" if r else "")
            K = _get(sd, prefix, "kernel" + sfx, where)
            bkey = prefix + "bias" + sfx
            b = sd.get(bkey)
            kname = f"state_dict[{prefix + 'kernel' + sfx!r}]"
            K, b, H = _read_tf(K, b, where, kname, f"state_dict[{bkey!r}]", bias_optional=True)
            b = None if b is None else b.copy()
            W_ih, W_hh, b_ih = _tf_to_torch_arrays(K, b, H, shift)
            out.update({prefix + key: v for key, v in _torch_out(sfx, W_ih, W_hh, b_ih, None).items()})
            shapes.append((K.shape[0] - H, H))
    _check_stack(shapes, nd, where)
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
    shift = _fb(torch_forget_bias, "torch_forget_bias", where) - _fb(ln_forget_bias, "ln_forget_bias", where)
    sd = _mapping(state_dict, where)
    prefix = _prefix(prefix, where)
    L, nd = _discover(sd, prefix, _TORCH_KEY, "weight_ih", where)
    out: dict[str, np.ndarray] = {}
    shapes = []
    for k in range(L):
        for r in range(nd):
            sfx = f"_l{k}" + ("_reverse" if r else "")
            W_ih, W_hh, b_ih, b_hh = _read_torch(sd, prefix, sfx, 4, where)
            G = W_hh.shape[0]
            kernel = np.concatenate([W_ih.T, W_hh.T], axis=0)
            out[prefix + "kernel" + sfx] = _blocks(kernel, _LSTM_TORCH_TF, axis=1)
            bias = None if b_ih is None else _blocks(b_ih + b_hh, _LSTM_TORCH_TF, axis=0)
            bias = _shift_forget(bias, shift, _F_TF, G, W_hh.dtype)
            if bias is not None:
                out[prefix + "bias" + sfx] = bias
            shapes.append((W_ih.shape[1], W_hh.shape[1]))
    _check_stack(shapes, nd, where)
    return out
