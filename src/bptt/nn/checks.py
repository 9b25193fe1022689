"""Argument validation at the module boundary: clear messages naming the argument, expected and actual."""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_dtype(dtype: Any, where: str) -> np.dtype:
    """Normalise ``dtype`` (``np.float32``, ``"float64"``, ...) and require float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
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
        if rng < 0:
            raise ValueError(f"{where}: rng seed must be a non-negative int, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"{where}: rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


def nonnegative_int(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{where}: {name} must be >= 0, got {value}")
    return int(value)


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


def is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach") and hasattr(x, "numpy")


def contains_torch_tensor(x: Any) -> bool:
    """Whether ``x`` is, or a (nested) list/tuple holding, a torch tensor."""
    if is_torch_tensor(x):
        return True
    if isinstance(x, (list, tuple)):
        return any(contains_torch_tensor(e) for e in x)
    return False


def as_array(x: Any, name: str, where: str, expected: str = "a numpy.ndarray") -> np.ndarray:
    """``np.asarray``, with failures (torch tensors, ``None``, ragged or non-numeric input) reported clearly.

    ``expected`` describes what was wanted (used in the messages). Torch tensors are refused (explicitly
    convert with ``.numpy()``), so no silent device/grad/dtype conversion happens behind the caller's back.
    """
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            raise TypeError(f"{where}: {name} must be {expected}, got an array of dtype object")
        return x
    if is_torch_tensor(x):
        raise TypeError(f"{where}: {name} must be {expected}, got a torch tensor (use .numpy())")
    if contains_torch_tensor(x):
        raise TypeError(
            f"{where}: {name} must be {expected}, got a {type(x).__name__} containing torch tensors "
            "(convert with .numpy() first)"
        )
    if x is None:
        raise TypeError(f"{where}: {name} must be {expected}, got None")
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # inhomogeneous nested sequence
        raise ValueError(
            f"{where}: {name} must be {expected} with a regular (rectangular) shape, "
            f"got a ragged {type(x).__name__}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - re-raised with the argument named
        raise TypeError(f"{where}: {name} must be {expected}, got {type(x).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"{where}: {name} must be {expected}, got {type(x).__name__} (not a numeric array)")
    return arr


def float_array(x: Any, name: str, where: str, dtype: np.dtype) -> np.ndarray:
    """Require a NumPy array (or a nested list of numbers) of exactly the module's float dtype.

    Python lists of numbers take the module's dtype; NumPy arrays must already have it (no silent casts).
    """
    if not isinstance(x, np.ndarray):
        x = as_array(x, name, where, f"a numpy.ndarray of dtype {dtype}")
        if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer):
            x = x.astype(dtype)  # python lists of numbers: take the module's dtype
    if x.dtype != dtype:
        raise TypeError(f"{where}: {name} must have dtype {dtype} (the module's dtype), got {x.dtype}")
    return x


def describe_pair(value: Any) -> str:
    """How to name the actual value where a 2-tuple was expected."""
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return type(value).__name__


def boolean(value: Any, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def finite_float(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: {name} must be a float, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {value}")
    return float(value)


def choice(value: Any, options: tuple[str, ...], name: str, where: str) -> str:
    allowed = ", ".join(repr(o) for o in options)
    if not isinstance(value, str):
        got = f"{type(value).__name__} {value!r}"
        raise TypeError(f"{where}: {name} must be a str, one of {allowed}, got {got}")
    if value not in options:
        raise ValueError(f"{where}: {name} must be one of {allowed}, got {value!r}")
    return value


def shape_str(shape: tuple) -> str:
    """``(2, 3)``, ``(2,)``, ``()``: Python's tuple notation (``None`` axes shown as ``*``)."""
    items = ["*" if s is None else str(s) for s in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def expect_shape(x: np.ndarray, expected: tuple, name: str, where: str, note: str = "") -> None:
    """``expected`` may contain ``None`` for free axes."""
    ok = x.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, x.shape))
    if not ok:
        exp = shape_str(expected)
        extra = f" ({note})" if note else ""
        raise ValueError(f"{where}: {name} must have shape {exp}{extra}, got {shape_str(x.shape)}")


# ---------------------------------------------------------------------------------------------- memory
class MemoryLimitError(ValueError):
    """A request would need more memory than the machine has available (refused before allocating)."""


def available_memory() -> int | None:
    """Bytes this process can still allocate: the system's available memory (``MemAvailable`` of
    ``/proc/meminfo``, else ``os.sysconf`` free pages), lowered to the cgroup's limit minus its usage when the
    process runs in a memory-limited container. None when the system does not say."""
    avail: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            avail = None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, encoding="ascii") as fh:
                limit = fh.read().strip()
            with open(usage_file, encoding="ascii") as fh:
                usage = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**62:
            room = max(0, int(limit) - usage)
            avail = room if avail is None else min(avail, room)
        break
    return avail


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; ``6.4e11`` -> ``"596.0 GiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def require_memory(nbytes: float, what: str, fix: str) -> None:
    """Raise :class:`MemoryLimitError` ("{what} needs about N GiB, but this machine has M GiB available:
    {fix}") when ``nbytes`` exceed the memory available (:func:`available_memory`); nothing when the system
    does not say how much is available."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise MemoryLimitError(f"{what} needs about {format_bytes(nbytes)} of memory, but this machine has "
                               f"{format_bytes(avail)} available: {fix}")
