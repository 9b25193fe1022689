"""Whole stacks: a PyTorch-layout LSTM/GRU state dict <-> one TensorFlow / Keras weight dict per layer and
direction (:func:`torch_to_layers`, :func:`layers_to_torch`), weights or gradients (``kind``), with the Keras
layers' configs checked (``config``) and Keras ``Bidirectional.get_weights()`` flat lists accepted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..nn import checks as C
from . import _common as _c
from ._options import is_grad
from .keras import keras_gru_to_torch, keras_lstm_to_torch, torch_gru_to_keras, torch_lstm_to_keras
from .tensorflow import TF_CELL_WEIGHTS, tf_lstm_to_torch, torch_lstm_to_tf

__all__ = ["LAYOUTS", "layers_to_torch", "torch_to_layers"]

#: Layout names accepted by :func:`torch_to_layers` and :func:`layers_to_torch`.
LAYOUTS: tuple[str, ...] = ("tf_lstm", "keras_lstm", "keras_gru")


def _layout(layout: Any, where: str) -> str:
    return C.choice(layout, LAYOUTS, "layout", where)


def _layout_options(layout: str, tf_forget_bias: Any, torch_forget_bias: Any, where: str, grad: bool = False,
                    config: Any = None) -> None:
    if config is not None and layout == "tf_lstm":
        raise ValueError(f"{where}: config (a Keras layer's get_config()) applies only to the Keras layouts (got "
                         "layout 'tf_lstm')")
    if layout == "tf_lstm" and not grad:
        _c.forget_bias(tf_forget_bias, "tf_forget_bias", where)
    elif tf_forget_bias is not None:
        raise ValueError(f"{where}: tf_forget_bias applies only to layout 'tf_lstm' (got layout {layout!r})")
    fb = _c.forget_bias(torch_forget_bias, "torch_forget_bias", where)
    if layout == "keras_gru" and fb != 0.0:
        raise ValueError(f"{where}: torch_forget_bias applies only to LSTM layouts (got layout 'keras_gru')")


def torch_to_layers(
    state_dict: Mapping[str, Any],
    layout: str,
    *,
    tf_forget_bias: float | None = None,
    torch_forget_bias: float = 0.0,
    prefix: str = "",
    kind: str = "weights",
    config: Mapping[str, Any] | None = None,
) -> list[dict[str, np.ndarray]]:
    """A whole PyTorch-layout LSTM/GRU state dict -> one dict per layer and direction in ``layout``.

    ``layout`` is ``"tf_lstm"`` (:func:`torch_lstm_to_tf`; ``tf_forget_bias`` required for weights; with
    projections and peepholes for TF1's ``LSTMCell``), ``"keras_lstm"`` (:func:`torch_lstm_to_keras`) or
    ``"keras_gru"`` (:func:`torch_gru_to_keras`). The number of layers and directions is read from the
    ``{prefix}weight_ih_l{k}[_reverse]`` keys; the list is in PyTorch's order ``l0, l0_reverse, l1,
    l1_reverse, ...`` (Keras ``Bidirectional``: forward layer, then backward layer). ``kind="grad"``
    converts gradients; ``config`` (Keras layouts) is the target layers' ``get_config()``, checked for each.
    """
    where = "torch_to_layers"
    layout = _layout(layout, where)
    grad = is_grad(kind, where)
    _layout_options(layout, tf_forget_bias, torch_forget_bias, where, grad, config)
    sd = _c.mapping(state_dict, where)
    prefix = _c.prefix_arg(prefix, where)
    L, nd = _c.discover(sd, prefix, _c.TORCH_KEY, "weight_ih", where)
    out, shapes = [], []
    for k in range(L):
        for r in range(nd):
            kw: dict[str, Any] = {"layer": k, "reverse": bool(r), "prefix": prefix, "kind": kind}
            if layout == "tf_lstm":
                d = torch_lstm_to_tf(
                    sd, tf_forget_bias=tf_forget_bias, torch_forget_bias=torch_forget_bias, **kw
                )
                P = d["projection"].shape[1] if "projection" in d else d["kernel"].shape[1] // 4
                shapes.append((d["kernel"].shape[0] - P, P))
            else:
                if layout == "keras_lstm":
                    d = torch_lstm_to_keras(sd, torch_forget_bias=torch_forget_bias, config=config, **kw)
                else:
                    d = torch_gru_to_keras(sd, config=config, **kw)
                shapes.append((d["kernel"].shape[0], d["recurrent_kernel"].shape[0]))
            out.append(d)
    _c.check_stack(shapes, nd, where)
    return out


#: A TF1 ``LSTMCell``'s ``get_weights()`` by length: which of :data:`TF_CELL_WEIGHTS` it holds.
_TF_LISTS = {2: TF_CELL_WEIGHTS[:2], 3: TF_CELL_WEIGHTS[:2] + TF_CELL_WEIGHTS[5:], 5: TF_CELL_WEIGHTS[:5],
             6: TF_CELL_WEIGHTS}


def _tf_entry(entry: Any, j: int, where: str) -> dict[str, Any]:
    """A TF cell's weights as a mapping of :data:`TF_CELL_WEIGHTS` names (or ``cell.get_weights()``)."""
    if isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) in _TF_LISTS:
        return dict(zip(_TF_LISTS[len(entry)], entry))
    values = _entry(entry, TF_CELL_WEIGHTS, 2, j, where)
    return {n: v for n, v in zip(TF_CELL_WEIGHTS, values) if v is not None}


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _split_bidirectional(layers: Sequence[Any], nd: int, layout: str, where: str) -> list[Any]:
    """Keras ``Bidirectional.get_weights()`` (one flat list: the forward layer's arrays, then the backward
    layer's) -> two entries; one layer's flat ``get_weights()`` -> one entry. Lists of those are expanded."""
    if layout == "tf_lstm" or not layers:
        return list(layers)
    if _is_array(layers[0]):  # one layer's (or one Bidirectional's) flat list
        layers = [layers]
    out: list[Any] = []
    for j, entry in enumerate(layers):
        flat = isinstance(entry, Sequence) and not isinstance(entry, str) and entry and _is_array(entry[0])
        if flat and len(entry) in (4, 6):
            if nd != 2:
                raise ValueError(
                    f"{where}: layers[{j}] holds {len(entry)} arrays, a Keras Bidirectional layer's get_weights() "
                    f"(forward kernel, recurrent_kernel[, bias], then the backward layer's): pass "
                    "bidirectional=True"
                )
            half = len(entry) // 2
            out += [list(entry[:half]), list(entry[half:])]
        else:
            out.append(entry)
    return out


def _entry(entry: Any, names: tuple[str, ...], required: int, j: int, where: str) -> list[Any]:
    """A layer given as a mapping with ``names`` or a sequence in that order (``get_weights()``)."""
    if isinstance(entry, Mapping):
        missing = [n for n in names[:required] if n not in entry]
        unknown = [k for k in entry if k not in names]
        if missing or unknown:
            parts = [f"missing {missing}"] if missing else []
            parts += [f"unexpected {unknown}"] if unknown else []
            optional = f" (optional: {list(names[required:])})" if len(names) > required else ""
            raise ValueError(f"{where}: layers[{j}] must have keys {list(names[:required])}{optional}: "
                             + "; ".join(parts))
        return [entry.get(n) for n in names]
    if isinstance(entry, Sequence) and not isinstance(entry, str) and required <= len(entry) <= len(names):
        return list(entry) + [None] * (len(names) - len(entry))
    raise TypeError(
        f"{where}: layers[{j}] must be a dict with keys {list(names)} or a list of those arrays in that "
        f"order (get_weights()), got {C.describe_pair(entry)}; a Keras Bidirectional layer's get_weights() is "
        "one flat list of both directions' arrays: pass it as it is with bidirectional=True"
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
    kind: str = "weights",
    config: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """One ``layout`` dict per layer and direction -> a whole PyTorch-layout state dict (inverse of
    :func:`torch_to_layers`).

    ``layers`` is ordered ``l0, [l0_reverse,] l1, ...``; each entry is a dict (``"kernel"``, ``"bias"`` and
    optionally ``"w_f_diag"``, ``"w_i_diag"``, ``"w_o_diag"``, ``"projection"`` for ``"tf_lstm"``;
    ``"kernel"``, ``"recurrent_kernel"``, optional ``"bias"`` for Keras) or a list in that order (a TF cell's
    or a Keras layer's ``get_weights()``). A Keras ``Bidirectional.get_weights()`` flat list (both
    directions' arrays) is accepted as one bidirectional layer, alone or in a list of such layers, and so is
    one Keras layer's flat ``get_weights()``. ``bidirectional`` must be given (a list of 2 is 2 layers or 1
    bidirectional layer); the stack is checked for one hidden size and consistent input sizes, and all
    layers must agree on having biases. Keys are ``{prefix}weight_ih_l{k}[_reverse]`` etc. in PyTorch's
    parameter order, ready for ``bptt.nn.LSTM/GRU.load_state_dict`` (or ``torch.nn``'s, as tensors).
    ``kind="grad"`` converts gradients; ``config`` (Keras layouts) is the layers' ``get_config()`` (one for
    the whole stack, or a ``Bidirectional``'s), checked for each.
    """
    where = "layers_to_torch"
    layout = _layout(layout, where)
    grad = is_grad(kind, where)
    _layout_options(layout, tf_forget_bias, torch_forget_bias, where, grad, config)
    if layout != "keras_gru" and reset_after is not None:
        raise ValueError(f"{where}: reset_after applies only to layout 'keras_gru' (got layout {layout!r})")
    nd = 2 if C.boolean(bidirectional, "bidirectional", where) else 1
    prefix = _c.prefix_arg(prefix, where)
    if isinstance(layers, (Mapping, str)) or not isinstance(layers, Sequence):
        raise TypeError(f"{where}: layers must be a list of per-layer weights, got {type(layers).__name__}")
    layers = _split_bidirectional(layers, nd, layout, where)
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
        kw: dict[str, Any] = {"layer": k, "reverse": bool(r), "kind": kind}
        try:
            if layout == "tf_lstm":
                d = tf_lstm_to_torch(**_tf_entry(entry, j, where), tf_forget_bias=tf_forget_bias,
                                     torch_forget_bias=torch_forget_bias, **kw)
            else:
                kernel, rk, bias = _entry(entry, ("kernel", "recurrent_kernel", "bias"), 2, j, where)
                if layout == "keras_lstm":
                    d = keras_lstm_to_torch(kernel, rk, bias, torch_forget_bias=torch_forget_bias, config=config, **kw)
                else:
                    d = keras_gru_to_torch(kernel, rk, bias, reset_after=reset_after, config=config, **kw)
        except (TypeError, ValueError) as exc:
            if str(exc).startswith(where):
                raise
            raise type(exc)(f"{where}: layers[{j}]: {exc}") from exc
        sfx = f"_l{k}" + ("_reverse" if r else "")
        shapes.append((d["weight_ih" + sfx].shape[1], d["weight_hh" + sfx].shape[1]))
        with_bias.append("bias_ih" + sfx in d)
        out.update({prefix + key: v for key, v in d.items()})
    _c.check_stack(shapes, nd, where)
    if any(with_bias) and not all(with_bias):
        raise ValueError(
            f"{where}: layers[j] for j in {[j for j, b in enumerate(with_bias) if not b]} have no bias but "
            "the others do (a PyTorch module has biases in every layer or in none)"
        )
    return out
