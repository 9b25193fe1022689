"""What every recurrent layer shares besides :class:`~.base.RNNBase`: the result types of the public per-layer
API (:meth:`~.base.RNNBase.layer_forward`, :meth:`~.base.RNNBase.layer_backward`, the inputs a recorder replays)
and the checks of a layer's input and ``lengths`` at the module boundary."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import checks as C

__all__ = ["LayerGrads", "LayerInputs", "LayerOutput", "check_input", "check_lengths"]


class LayerOutput(NamedTuple):
    """What :meth:`RNNBase.layer_forward` returns; ``y``, ``h_n`` and ``c_n`` are views of the cache (copy them
    before keeping them past the matching ``layer_backward``)."""

    y: np.ndarray  # (T, B, P) outputs, time order
    h_n: np.ndarray  # (B, P) final hidden state
    c_n: np.ndarray | None  # (B, H) final cell state (None for GRU/RNN)
    cache: Any  # the functional op's cache, for layer_backward


class LayerGrads(NamedTuple):
    """What :meth:`RNNBase.layer_backward` returns (the parameter gradients went into ``Parameter.grad``)."""

    dx: np.ndarray | None  # (T, B, D); None with need_dx=False
    dh0: np.ndarray  # (B, P) (the state's size: (B, H) for MinGRU/MinLSTM)
    dc0: np.ndarray | None  # (B, H), None for GRU/RNN


class LayerInputs(NamedTuple):
    """What one layer-direction read in a forward call (kept to run it again in the reference tier)."""

    x: np.ndarray  # (T, B, D)
    h0: np.ndarray  # (B, P)
    c0: np.ndarray | None  # (B, H)
    lengths: np.ndarray | None
    dropout_mask: np.ndarray | None  # (T, B, H), LayerNormLSTM's recurrent dropout


def check_lengths(lengths: Any, T: int, B: int, where: str, note: str = "") -> np.ndarray | None:
    """Validated ``lengths`` ``(B,)`` in ``[1, T]`` as int64, or ``None`` (also when every sequence is full)."""
    if lengths is None:
        return None
    arr = C.as_array(lengths, "lengths", where, f"an integer array of shape ({B},)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{where}: lengths must be an integer array of shape ({B},), got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(
            f"{where}: lengths must have shape ({B},) (one length per sequence{note}), "
            f"got {C.shape_str(arr.shape)}"
        )
    if arr.size and (arr.min() < 1 or arr.max() > T):
        raise ValueError(
            f"{where}: lengths must be in [1, {T}] (T={T}), got min {int(arr.min())} and max {int(arr.max())}"
        )
    if arr.size and arr.min() == T:
        return None  # every sequence is full length: plain (faster) path, identical result
    return arr.astype(np.int64)


def check_input(x: Any, input_size: int, batch_first: bool, dtype: np.dtype, where: str) -> tuple[np.ndarray, bool]:
    """A recurrent layer's input ``x`` as a C-contiguous time-major ``(T, B, D)`` array of ``dtype``, and
    whether it was unbatched (``(T, D)``); ``(B, T, D)`` with ``batch_first``."""
    x = C.float_array(x, "x", where, dtype)
    if x.ndim not in (2, 3) or x.shape[-1] != input_size:
        D = input_size
        layout = f"(B, T, {D})" if batch_first else f"(T, B, {D})"
        raise ValueError(
            f"{where}: x must have shape {layout} or unbatched (T, {D}) (input_size={D}"
            f"{', batch_first=True' if batch_first else ''}), got {C.shape_str(x.shape)}"
        )
    unbatched = x.ndim == 2
    if unbatched:
        xt = x[:, None, :]
    elif batch_first:
        xt = x.transpose(1, 0, 2)
    else:
        xt = x
    if xt.shape[0] == 0 or xt.shape[1] == 0:
        raise ValueError(
            f"{where}: x must have at least one time step and one sequence (T >= 1, B >= 1), "
            f"got shape {C.shape_str(x.shape)}"
        )
    return np.ascontiguousarray(xt), unbatched
