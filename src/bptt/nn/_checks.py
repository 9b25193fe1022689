"""Argument validation at the module boundary: clear messages naming the argument, expected and actual."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_dtype(dtype: Any, where: str) -> np.dtype:
    """Normalise ``dtype`` (``np.float32``, ``"float64"``, ...) and require float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dt}")
    return dt


def as_rng(rng: Any, where: str) -> np.random.Generator:
    """``None`` (fresh OS entropy), an int seed, or a ``numpy.random.Generator``."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{where}: rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


def positive_int(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value}")
    return int(value)


def probability(value: Any, name: str, where: str, *, allow_one: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a float, got {type(value).__name__} {value!r}")
    value = float(value)
    ok = 0.0 <= value <= 1.0 if allow_one else 0.0 <= value < 1.0
    if not ok:
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{where}: {name} must be in {interval}, got {value}")
    return value


def float_array(x: Any, name: str, where: str, dtype: np.dtype) -> np.ndarray:
    """Require a NumPy array (or array-like) of exactly the module's float dtype."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach") and hasattr(x, "numpy"):
            raise TypeError(f"{where}: {name} must be a numpy.ndarray, got a torch tensor (use .numpy())")
        try:
            x = np.asarray(x)
        except Exception as exc:  # noqa: BLE001
            raise TypeError(f"{where}: {name} must be a numpy.ndarray, got {type(x).__name__}") from exc
        if x.dtype == object:
            raise TypeError(f"{where}: {name} must be a numeric array, got a ragged/object sequence")
        if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer):
            if np.issubdtype(x.dtype, np.integer) or x.dtype != dtype:
                x = x.astype(dtype)  # python lists of numbers: take the module's dtype
    if x.dtype != dtype:
        raise TypeError(f"{where}: {name} must have dtype {dtype} (the module's dtype), got {x.dtype}")
    return x


def shape_str(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def expect_shape(x: np.ndarray, expected: tuple, name: str, where: str, note: str = "") -> None:
    """``expected`` may contain ``None`` for free axes."""
    ok = x.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, x.shape))
    if not ok:
        exp = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        extra = f" ({note})" if note else ""
        raise ValueError(f"{where}: {name} must have shape {exp}{extra}, got {shape_str(x.shape)}")
