"""Two options every converter takes: what the arrays are (``kind``: weights or their gradients) and, for Keras,
the layer's configuration (checked so that a layer computing another function is refused). Internal to
:mod:`bptt.interop`.

**Weights and gradients convert differently.** The weight converters sum PyTorch's two LSTM biases into
TensorFlow's / Keras' one (``bias = b_ih + b_hh``) and shift its forget block by the run-time forget biases.
Both are right for weights and wrong for gradients: ``b_ih`` and ``b_hh`` enter the pre-activation as a sum,
so each receives the *same* gradient, which is also the gradient of the summed bias, and a constant shift
changes no gradient. So with ``kind="grad"``:

- PyTorch -> TF / Keras: ``dbias = dbias_ih`` (checked equal to ``dbias_hh``), reordered, no shift;
- TF / Keras -> PyTorch: ``dbias_ih = dbias_hh = dbias``, reordered, no shift;
- kernels, recurrent kernels, projections and peepholes are linear rearrangements: converted as weights.

Keras' ``GRU(reset_after=True)`` keeps both biases (``bias`` is ``(2, 3H)``), so for the GRU both kinds are
the same exact rearrangement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn import checks as C

KINDS = ("weights", "grad")


def is_grad(kind: Any, where: str) -> bool:
    """Whether ``kind`` (``"weights"`` or ``"grad"``) means gradients."""
    return C.choice(kind, KINDS, "kind", where) == "grad"


def shared_bias_grad(db_ih: np.ndarray, db_hh: np.ndarray, names: tuple[str, str], where: str) -> np.ndarray:
    """The gradient of the summed bias: ``db_ih``, which must equal ``db_hh`` (both biases of a PyTorch layer
    receive the same gradient; different arrays mean these are not one layer's gradients, e.g. weights
    passed with ``kind="grad"``)."""
    scale = max(float(np.abs(db_ih).max(initial=0.0)), float(np.abs(db_hh).max(initial=0.0)), 1e-300)
    diff = float(np.abs(db_ih - db_hh).max(initial=0.0))
    tol = 1e-5 if np.result_type(db_ih, db_hh) == np.float32 else 1e-10
    if diff > tol * scale:
        raise ValueError(
            f"{where}: kind='grad' needs the gradients of one layer, whose {names[0]!r} and {names[1]!r} are equal "
            f"(both biases enter the gates as a sum), but they differ by up to {diff:.3g}: are these weights? "
            "(convert weights with kind='weights')"
        )
    return db_ih.copy()


# ------------------------------------------------------------------------------------------ Keras config
_EXPECTED = {"activation": "tanh", "recurrent_activation": "sigmoid"}


def _activation_name(value: Any) -> Any:
    """The name of a serialised Keras activation: ``"tanh"``, or Keras 3's ``{"config": "tanh", ...}``."""
    if isinstance(value, Mapping) and isinstance(value.get("config"), str):
        return value["config"]
    return value


def _layer_configs(config: Mapping, cell: str, where: str) -> list[Mapping]:
    """The layer configs inside ``config``: itself, or a ``Bidirectional``'s forward and backward layers."""
    if "layer" in config and isinstance(config["layer"], Mapping):  # Bidirectional(...).get_config()
        inner = [config["layer"]] + ([config["backward_layer"]] if isinstance(config.get("backward_layer"), Mapping)
                                     else [])
        out = []
        for sub in inner:
            cls = sub.get("class_name")
            if cls is not None and cls != cell:
                raise ValueError(f"{where}: config wraps a Keras {cls} layer, expected a {cell}")
            out.append(sub.get("config", sub))
        return out
    return [config]


def check_keras_config(config: Any, cell: str, H: int, has_bias: bool, where: str) -> None:
    """Refuse a Keras ``LSTM`` / ``GRU`` (``cell``) whose ``get_config()`` says it computes another function
    than bptt's / PyTorch's layer: an activation other than ``tanh`` or a recurrent activation other than
    ``sigmoid`` (e.g. ``"hard_sigmoid"``, old tf.keras' default), ``units`` other than ``H``, ``use_bias``
    disagreeing with the weights, or a GRU with ``reset_after=False``. ``None``: no check (Keras defaults
    assumed). A ``Bidirectional`` layer's config is accepted (both wrapped layers are checked)."""
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise TypeError(f"{where}: config must be the Keras layer's get_config() dict, got {type(config).__name__}")
    for conf in _layer_configs(config, cell, where):
        for key, want in _EXPECTED.items():
            got = _activation_name(conf.get(key, want))
            if got != want:
                raise ValueError(
                    f"{where}: config has {key}={got!r}, but bptt and PyTorch {cell}s use {key}={want!r}: the "
                    f"converted weights would compute another function (outputs off by about 1e-1); build and "
                    f"train the Keras layer with activation='tanh' and recurrent_activation='sigmoid' (the "
                    "Keras 2.3+ defaults)"
                )
        units = conf.get("units", H)
        if units != H:
            raise ValueError(f"{where}: config has units={units!r}, but the weights have H={H}")
        use_bias = conf.get("use_bias", has_bias)
        if bool(use_bias) != has_bias:
            raise ValueError(f"{where}: config has use_bias={use_bias!r}, but the weights "
                             f"{'have' if has_bias else 'have no'} bias")
        if cell == "GRU" and conf.get("reset_after", True) is not True:
            raise ValueError(f"{where}: config has reset_after={conf.get('reset_after')!r}: only Keras "
                             "GRU(reset_after=True) is PyTorch's GRU")
