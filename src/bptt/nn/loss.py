"""``CrossEntropyLoss``: PyTorch's ``torch.nn.CrossEntropyLoss`` on :mod:`bptt.functional.cross_entropy`."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import functional as F
from . import checks as C
from .module import Module


class CrossEntropyLoss(Module):
    """Softmax cross-entropy on logits, PyTorch's semantics.

    ``logits`` ``(N, C)`` with ``target`` ``(N,)``, ``(C,)`` with a scalar target, or ``(N, C, d1, ...)`` with
    ``target`` ``(N, d1, ...)``. ``reduction`` is ``"mean"`` over the non-ignored targets (default), ``"sum"``
    or ``"none"``.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__()
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
            got = f"{type(ignore_index).__name__} {ignore_index!r}"
            raise TypeError(f"CrossEntropyLoss: ignore_index must be an int, got {got}")
        self.ignore_index = int(ignore_index)
        self.reduction = C.choice(reduction, ("mean", "sum", "none"), "reduction", "CrossEntropyLoss")

    def forward(self, logits: np.ndarray, target: np.ndarray) -> Any:
        where = "CrossEntropyLoss.forward"
        logits = C.as_array(logits, "logits", where, "a float array")
        target = C.as_array(target, "target", where, "an integer array of class indices")
        if not np.issubdtype(logits.dtype, np.floating):
            raise TypeError(f"{where}: logits must be a float array, got dtype {logits.dtype}")
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"{where}: target must be an integer array of class indices, got dtype {target.dtype}")
        if logits.ndim == 0:
            raise ValueError(f"{where}: logits must have shape (N, C) or (C,), got a scalar")
        unbatched = logits.ndim == 1
        x = logits[None] if unbatched else logits
        y = target[None] if unbatched else target
        n_classes = x.shape[1]
        if n_classes == 0:
            raise ValueError(f"{where}: logits must have at least one class (C >= 1), got shape "
                             f"{C.shape_str(logits.shape)}")
        expected = (x.shape[0],) + x.shape[2:]
        if y.shape != expected:
            exp = "()" if unbatched else C.shape_str(expected)
            raise ValueError(f"{where}: target must have shape {exp} for logits {C.shape_str(logits.shape)}, "
                             f"got {C.shape_str(target.shape)}")
        bad = (y != self.ignore_index) & ((y < 0) | (y >= n_classes))
        if bad.any():
            raise ValueError(
                f"{where}: target values must be in [0, {n_classes}) or ignore_index={self.ignore_index}, "
                f"got {int(y[bad].ravel()[0])}"
            )
        x2 = np.moveaxis(x, 1, -1).reshape(-1, n_classes) if x.ndim > 2 else x
        loss, cache = F.cross_entropy.forward(x2, y.reshape(-1), self.ignore_index, self.reduction)
        self._save((cache, logits.shape, unbatched))
        if self.reduction == "none":
            out = loss.reshape(expected)
            return out[0] if unbatched else out
        return loss[()]

    def backward(self, dloss: Any = 1.0) -> np.ndarray:
        where = "CrossEntropyLoss.backward"
        cache, shape, unbatched = self._peek()
        dloss = C.as_array(dloss, "dloss", where, "a float scalar or array")
        if not (np.issubdtype(dloss.dtype, np.floating) or np.issubdtype(dloss.dtype, np.integer)):
            raise TypeError(f"{where}: dloss must be a float scalar or array, got dtype {dloss.dtype}")
        dloss = dloss.astype(cache.p.dtype, copy=False)
        if self.reduction == "none":
            exp = shape[:1] + shape[2:] if not unbatched else ()
            C.expect_shape(dloss, exp, "dloss", where, "the loss's shape")
            dloss = dloss.reshape(-1)
        elif dloss.ndim != 0:
            raise ValueError(
                f"{where}: dloss must be a scalar (reduction={self.reduction!r}), "
                f"got shape {C.shape_str(dloss.shape)}"
            )
        self._pop()
        dx = F.cross_entropy.backward(dloss, cache)
        if unbatched:
            return dx[0]
        if len(shape) > 2:
            moved = (shape[0],) + shape[2:] + (shape[1],)
            return np.moveaxis(dx.reshape(moved), -1, 1)
        return dx

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"
