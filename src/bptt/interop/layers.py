"""Whole stacks: a PyTorch-layout LSTM/GRU state dict <-> one TensorFlow / Keras weight dict per layer and
direction (:func:`torch_to_layers`, :func:`layers_to_torch`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..nn import checks as C
from . import _common as _c
from .keras import keras_gru_to_torch, keras_lstm_to_torch, torch_gru_to_keras, torch_lstm_to_keras
from .tensorflow import tf_lstm_to_torch, torch_lstm_to_tf

__all__ = ["LAYOUTS", "layers_to_torch", "torch_to_layers"]

#: Layout names accepted by :func:`torch_to_layers` and :func:`layers_to_torch`.
LAYOUTS: tuple[str, ...] = ("tf_lstm", "keras_lstm", "keras_gru")


def _layout(layout: Any, where: str) -> str:
    return C.choice(layout, LAYOUTS, "layout", where)


def _layout_options(layout: str, tf_forget_bias: Any, torch_forget_bias: Any, where: str) -> None:
    if layout == "tf_lstm":
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
    sd = _c.mapping(state_dict, where)
    prefix = _c.prefix_arg(prefix, where)
    L, nd = _c.discover(sd, prefix, _c.TORCH_KEY, "weight_ih", where)
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
    _c.check_stack(shapes, nd, where)
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
    prefix = _c.prefix_arg(prefix, where)
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
    _c.check_stack(shapes, nd, where)
    if any(with_bias) and not all(with_bias):
        raise ValueError(
            f"{where}: layers[j] for j in {[j for j, b in enumerate(with_bias) if not b]} have no bias but "
            "the others do (a PyTorch module has biases in every layer or in none)"
        )
    return out
