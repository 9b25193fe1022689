"""What the converters share: reading and validating their arguments (state dicts, TF and Keras arrays,
forget biases, prefixes and suffixes), the gate-block permutations, the forget-bias shift, the TF <-> PyTorch
LSTM array mapping and the discovery and checks of whole stacks. Internal to :mod:`bptt.interop`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..nn import checks as C

# Block permutations (output block k takes input block PERM[k]); each one is its own inverse.
LSTM_TORCH_TF = (0, 2, 1, 3)  # torch i, f, g, o  <->  TF i, j, f, o
GRU_TORCH_KERAS = (1, 0, 2)  # torch r, z, n  <->  Keras z, r, h
F_TORCH = 1  # forget block index in PyTorch's (and Keras') LSTM order
F_TF = 2  # forget block index in TensorFlow's i, j, f, o order

# Keys of whole stacks: PyTorch's (``weight_ih_l0_reverse``, ...) and LayerNormLSTM's (``kernel_l0``, ...).
TORCH_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_peep)_l(\d+)(_reverse)?$")
LN_SCOPE = r"(?:input|transform|forget|output|state)_(?:gamma|beta)"
LN_KEY = re.compile(rf"^(kernel|bias|{LN_SCOPE})_l(\d+)(_reverse)?$")


def suffix(layer: int | None, reverse: bool, where: str) -> str:
    C.boolean(reverse, "reverse", where)
    if layer is None:
        if reverse:
            raise ValueError(
                f"{where}: reverse=True needs a layer index (layer=None means a cell's un-suffixed names)"
            )
        return ""
    layer = C.nonnegative_int(layer, "layer", where)
    return f"_l{layer}" + ("_reverse" if reverse else "")


def prefix_arg(prefix: Any, where: str) -> str:
    if not isinstance(prefix, str):
        got = f"{type(prefix).__name__} {prefix!r}"
        raise TypeError(f"{where}: prefix must be a str (e.g. 'rnn.'), got {got}")
    return prefix


def float_array(value: Any, name: str, where: str) -> np.ndarray:
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


def expect_shape(arr: np.ndarray, shape: tuple[int, ...], name: str, where: str, note: str = "") -> None:
    if arr.shape != shape:
        extra = f" ({note})" if note else ""
        exp, got = C.shape_str(shape), C.shape_str(arr.shape)
        raise ValueError(f"{where}: {name} must have shape {exp}{extra}, got {got}")


def expect_ndim(arr: np.ndarray, ndim: int, name: str, layout: str, where: str) -> None:
    if arr.ndim != ndim:
        raise ValueError(f"{where}: {name} must be {ndim}-D {layout}, got shape {C.shape_str(arr.shape)}")


def mapping(state_dict: Any, where: str) -> Mapping:
    if not isinstance(state_dict, Mapping):
        got = type(state_dict).__name__
        raise TypeError(f"{where}: state_dict must be a mapping of name -> array, got {got}")
    return state_dict


def missing_key(state_dict: Mapping, key: str, name: str, where: str) -> ValueError:
    """The error for a missing key, with a hint when the key exists under some prefix."""
    keys = [str(k) for k in state_dict]
    hint = ""
    near = [k for k in keys if k.endswith(name) and k != key]
    if near:
        hint = f"; did you mean prefix={near[0][: -len(name)]!r}?"
    shown = keys[:8] + (["..."] if len(keys) > 8 else [])
    return ValueError(f"{where}: state_dict has no key {key!r} (its keys: {shown}){hint}")


def get(state_dict: Mapping, prefix: str, name: str, where: str) -> np.ndarray:
    key = prefix + name
    if key not in state_dict:
        raise missing_key(state_dict, key, name, where)
    return float_array(state_dict[key], f"state_dict[{key!r}]", where)


def blocks(a: np.ndarray, perm: tuple[int, ...], axis: int) -> np.ndarray:
    """Reorder the ``len(perm)`` equal blocks of ``a`` along ``axis`` (a fresh contiguous array)."""
    parts = np.split(a, len(perm), axis=axis)
    return np.ascontiguousarray(np.concatenate([parts[k] for k in perm], axis=axis))


def common_dtype(*arrays: Any) -> tuple[Any, ...]:
    """Cast to the arrays' common float dtype (``None`` entries stay ``None``)."""
    dt = np.result_type(*[a for a in arrays if a is not None])
    return tuple(None if a is None else a.astype(dt, copy=False) for a in arrays)


def forget_bias(value: Any, name: str, where: str) -> float:
    """A forget bias; ``None`` (not given) is refused with what to pass."""
    if value is None:
        what = {
            "tf_forget_bias": "the forget_bias the TensorFlow cell adds to the forget gate at run time (1.0 "
            "for BasicLSTMCell/LSTMCell/LayerNormBasicLSTMCell defaults; 0.0 to fold it into the bias)",
            "ln_forget_bias": "the LayerNormLSTM's forget_bias (its default is 1.0)",
        }.get(name, "the bptt.nn.LSTM's forget_bias (0.0 for torch.nn.LSTM)")
        raise TypeError(f"{where}: {name} is required: {what}")
    return C.finite_float(value, name, where)


def forget_shift(source: float, source_name: str, target: float, target_name: str, where: str) -> float:
    """What the converted bias's forget block gains: the source's run-time forget bias minus the target's
    (both validated and required, see :func:`forget_bias`)."""
    return forget_bias(source, source_name, where) - forget_bias(target, target_name, where)


def gate_hint(rows: int, H: int, gates: int) -> str:
    if gates == 4 and rows == 3 * H:
        return "; 3H rows: this looks like a GRU state dict"
    if gates == 3 and rows == 4 * H:
        return "; 4H rows: this looks like an LSTM state dict"
    return ""


class TorchLayer(NamedTuple):
    """One layer-direction of a PyTorch-layout state dict, validated, in one float dtype."""

    W_ih: np.ndarray  # (G, D)
    W_hh: np.ndarray  # (G, P)
    b_ih: np.ndarray | None  # (G,), None for bias=False
    b_hh: np.ndarray | None
    W_hr: np.ndarray | None  # (P, H) projection (proj_size), or None
    W_peep: np.ndarray | None  # (3H,) peepholes [p_i, p_f, p_o] (bptt.nn.LSTM(peepholes=True)), or None


#: Why a target has no projection or peepholes (``read_torch``'s ``target``), naming what has them.
NO_EXTRAS = {
    "keras": ("Keras' LSTM has no projection (TF1's LSTMCell(num_proj=...) has one: use torch_lstm_to_tf)",
              "Keras' LSTM has no peepholes (TF1's LSTMCell(use_peepholes=True) has them: use torch_lstm_to_tf)"),
    "ln_lstm": ("a LayerNormLSTM has no projection", "a LayerNormLSTM has no peepholes"),
}


def read_torch(state_dict: Any, prefix: str, sfx: str, gates: int, where: str, target: str = "keras") -> TorchLayer:
    """Validated ``weight_ih, weight_hh, bias_ih, bias_hh`` (biases ``None`` for ``bias=False``) and, for
    ``target="tf"`` (TF1's ``LSTMCell``), the projection ``weight_hr`` and peepholes ``weight_peep``, which
    the other targets refuse."""
    sd = mapping(state_dict, where)
    prefix = prefix_arg(prefix, where)
    n_ih, n_hh = prefix + "weight_ih" + sfx, prefix + "weight_hh" + sfx
    n_hr, n_peep = prefix + "weight_hr" + sfx, prefix + "weight_peep" + sfx
    for key, what, k in ((n_hr, "LSTMs with proj_size have no equivalent here", 0),
                         (n_peep, "LSTMs with peepholes have no equivalent here", 1)):
        if key in sd and target != "tf":
            raise ValueError(f"{where}: state_dict has {key!r}: {what}: {NO_EXTRAS[target][k]}")
    W_hh = get(sd, prefix, "weight_hh" + sfx, where)
    W_ih = get(sd, prefix, "weight_ih" + sfx, where)
    W_hr = get(sd, prefix, "weight_hr" + sfx, where) if n_hr in sd else None
    G = f"{gates}H"
    expect_ndim(W_hh, 2, repr(n_hh), f"({G}, H)" if W_hr is None else f"({G}, proj_size)", where)
    if W_hr is None:
        H = P = W_hh.shape[1]
        if H == 0 or W_hh.shape[0] != gates * H:
            raise ValueError(
                f"{where}: state_dict[{n_hh!r}] must have shape ({G}, H) = {C.shape_str((gates * H, H))} "
                f"(H={H} from its columns), got {C.shape_str(W_hh.shape)}{gate_hint(W_hh.shape[0], H, gates)}"
            )
    else:
        expect_ndim(W_hr, 2, repr(n_hr), "(proj_size, H)", where)
        P, H = W_hr.shape
        if not 0 < P < H:
            raise ValueError(f"{where}: state_dict[{n_hr!r}] must have shape (proj_size, H) with 0 < proj_size < H, "
                             f"got {C.shape_str(W_hr.shape)}")
        expect_shape(W_hh, (gates * H, P), f"state_dict[{n_hh!r}]", where,
                     f"{G}, proj_size with H={H}, proj_size={P} from {n_hr!r}")
    expect_ndim(W_ih, 2, repr(n_ih), f"({G}, input_size)", where)
    if W_ih.shape[0] != gates * H or W_ih.shape[1] == 0:
        raise ValueError(
            f"{where}: state_dict[{n_ih!r}] must have shape ({G}, input_size) = ({gates * H}, input_size) "
            f"(H={H} from {n_hh if W_hr is None else n_hr!r}), got {C.shape_str(W_ih.shape)}"
        )
    W_peep = None
    if n_peep in sd:
        W_peep = get(sd, prefix, "weight_peep" + sfx, where)
        expect_shape(W_peep, (3 * H,), f"state_dict[{n_peep!r}]", where, f"3H: p_i, p_f, p_o with H={H}")
    n_bih, n_bhh = prefix + "bias_ih" + sfx, prefix + "bias_hh" + sfx
    has = (n_bih in sd, n_bhh in sd)
    if has == (False, False):
        return TorchLayer(*common_dtype(W_ih, W_hh, None, None, W_hr, W_peep))
    if has != (True, True):
        missing, present = (n_bhh, n_bih) if has[0] else (n_bih, n_bhh)
        raise ValueError(
            f"{where}: state_dict has {present!r} but no {missing!r} (a PyTorch layer has both biases or, "
            "with bias=False, neither)"
        )
    b_ih = get(sd, prefix, "bias_ih" + sfx, where)
    b_hh = get(sd, prefix, "bias_hh" + sfx, where)
    for key, b in ((n_bih, b_ih), (n_bhh, b_hh)):
        expect_shape(b, (gates * H,), f"state_dict[{key!r}]", where, f"{G} with H={H} from {n_hh!r}")
    return TorchLayer(*common_dtype(W_ih, W_hh, b_ih, b_hh, W_hr, W_peep))


def torch_out(
    sfx: str, W_ih: np.ndarray, W_hh: np.ndarray, b_ih: np.ndarray | None, b_hh: np.ndarray | None
) -> dict[str, np.ndarray]:
    out = {"weight_ih" + sfx: W_ih, "weight_hh" + sfx: W_hh}
    if b_ih is not None:
        out["bias_ih" + sfx] = b_ih
        out["bias_hh" + sfx] = np.zeros_like(b_ih) if b_hh is None else b_hh
    return out


def shift_forget(
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


def read_tf(kernel: Any, bias: Any, where: str, kname: str = "kernel", bname: str = "bias",
             bias_optional: bool = False, P: int | None = None) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Validated TF-layout ``kernel (D + H, 4H)`` and ``bias (4H,)``; returns them and ``H``. With a
    projection of size ``P`` (TF1's ``LSTMCell(num_proj=P)``) the kernel is ``(D + P, 4H)``."""
    K = float_array(kernel, kname, where)
    expect_ndim(K, 2, kname, "(input_size + H, 4H)", where)
    if K.shape[1] == 0 or K.shape[1] % 4:
        raise ValueError(
            f"{where}: {kname} must have shape (input_size + H, 4H) (columns i, j, f, o), got "
            f"{C.shape_str(K.shape)}: {K.shape[1]} columns is not a positive multiple of 4"
        )
    H = K.shape[1] // 4
    if P is not None and K.shape[0] <= P:
        raise ValueError(
            f"{where}: {kname} must have shape (input_size + num_proj, 4H) with input_size >= 1 (num_proj={P} "
            f"from the projection, so more than {P} rows), got {C.shape_str(K.shape)}"
        )
    if P is None and K.shape[0] <= H:
        raise ValueError(
            f"{where}: {kname} must have shape (input_size + H, 4H) with input_size >= 1 (H={H} from its "
            f"{4 * H} columns, so more than {H} rows), got {C.shape_str(K.shape)}"
        )
    if bias is None and bias_optional:
        return common_dtype(K)[0], None, H
    b = float_array(bias, bname, where)
    expect_shape(b, (4 * H,), bname, where, f"4H with H={H} from {kname}'s columns")
    K, b = common_dtype(K, b)
    return K, b, H


def tf_to_torch_arrays(K: np.ndarray, b: np.ndarray | None, H: int, shift: float, P: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    D = K.shape[0] - (H if P is None else P)
    KT = blocks(K, LSTM_TORCH_TF, axis=1).T
    W_ih, W_hh = np.ascontiguousarray(KT[:, :D]), np.ascontiguousarray(KT[:, D:])
    b_ih = None if b is None else blocks(b, LSTM_TORCH_TF, axis=0)
    return W_ih, W_hh, shift_forget(b_ih, shift, F_TORCH, 4 * H, K.dtype)


def read_keras(kernel: Any, recurrent_kernel: Any, gates: int, where: str
                ) -> tuple[np.ndarray, np.ndarray, int]:
    G = f"{gates}H"
    U = float_array(recurrent_kernel, "recurrent_kernel", where)
    W = float_array(kernel, "kernel", where)
    expect_ndim(U, 2, "recurrent_kernel", f"(H, {G})", where)
    H = U.shape[0]
    if H == 0 or U.shape[1] != gates * H:
        hint = ""
        if U.shape[1] in (3 * H, 4 * H) and U.shape[1] != gates * H:
            hint = f"; {U.shape[1] // H}H columns: this looks like a Keras {'GRU' if gates == 4 else 'LSTM'}"
        raise ValueError(
            f"{where}: recurrent_kernel must have shape (H, {G}) = {C.shape_str((H, gates * H))} (H={H} from "
            f"its rows), got {C.shape_str(U.shape)}{hint}"
        )
    expect_ndim(W, 2, "kernel", f"(input_size, {G})", where)
    if W.shape[1] != gates * H or W.shape[0] == 0:
        raise ValueError(
            f"{where}: kernel must have shape (input_size, {G}) = (input_size, {gates * H}) (H={H} from "
            f"recurrent_kernel), got {C.shape_str(W.shape)}"
        )
    return W, U, H


def discover(state_dict: Mapping, prefix: str, pattern: re.Pattern, anchor: str, where: str
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
        raise missing_key(state_dict, prefix + anchor + "_l0", anchor + "_l0", where)
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


def check_stack(shapes: list[tuple[int, int]], nd: int, where: str) -> None:
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


def torch_to_tf_arrays(W_ih: np.ndarray, W_hh: np.ndarray, b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                       shift: float) -> tuple[np.ndarray, np.ndarray | None]:
    """PyTorch LSTM arrays (rows ``i, f, g, o``) -> TF ``kernel (D + H, 4H)`` and ``bias (4H,)`` (columns
    ``i, j, f, o``): ``kernel = [[W_ih^T], [W_hh^T]]``, ``bias = b_ih + b_hh`` with ``shift`` added to the
    forget block (``None`` without biases and shift)."""
    G = W_hh.shape[0]
    kernel = blocks(np.concatenate([W_ih.T, W_hh.T], axis=0), LSTM_TORCH_TF, axis=1)
    bias = None if b_ih is None else blocks(b_ih + b_hh, LSTM_TORCH_TF, axis=0)
    return kernel, shift_forget(bias, shift, F_TF, G, W_hh.dtype)


def stack_suffixes(num_layers: int, num_directions: int) -> Iterator[str]:
    """``_l0, [_l0_reverse,] _l1, ...``: the key suffixes of a stack's layer-directions, in PyTorch's order."""
    for k in range(num_layers):
        for r in range(num_directions):
            yield f"_l{k}" + ("_reverse" if r else "")
