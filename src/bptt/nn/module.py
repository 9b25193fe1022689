"""``Parameter`` and ``Module``: the PyTorch-like object model, without autograd.

A module's ``__call__`` runs its ``forward`` and pushes the cache of that call on a per-module stack;
``backward`` pops the most recent cache (last in, first out), so a module called at several steps of a loop
is differentiated by calling ``backward`` in the reverse order. ``backward`` **adds** into each
``Parameter.grad``, as autograd accumulates; ``zero_grad`` clears them.

Inside ``with bptt.nn.no_grad():`` nothing is cached (use it for evaluation and sampling, so memory does not
grow with calls that will never be differentiated).

A module that computes one part of a larger batch (a data-parallel process, see :mod:`bptt.training.distributed`)
is told so with :meth:`Module.shard_batch`: its random draws over the batch (dropout masks) are then made for the
whole batch and its own rows kept, so together the processes use exactly the masks one process would draw.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

_GRAD_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("bptt_grad_enabled", default=True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context in which module calls keep no cache (nothing can be differentiated, nothing accumulates)."""
    token = _GRAD_ENABLED.set(False)
    try:
        yield
    finally:
        _GRAD_ENABLED.reset(token)


def is_grad_enabled() -> bool:
    """Whether module calls currently record caches for ``backward``."""
    return _GRAD_ENABLED.get()


class BatchShard(NamedTuple):
    """Rows ``start:stop`` of a batch of ``size`` rows: the part of a batch one data-parallel process computes."""

    start: int
    stop: int
    size: int

    def random(self, rng: np.random.Generator, shape: tuple[int, ...], axis: int) -> np.ndarray:
        """``rng.random`` of ``shape`` as one process drawing for the whole batch would see it: ``size`` rows
        along ``axis`` are drawn (the generator advances exactly as it would there) and rows ``start:stop``
        returned. ``shape[axis]`` must be this shard's ``stop - start``."""
        full = list(shape)
        full[axis] = self.size
        index = [slice(None)] * len(shape)
        index[axis] = slice(self.start, self.stop)
        return rng.random(tuple(full))[tuple(index)]


class Parameter:
    """A trainable array with its gradient: ``data`` and ``grad`` have the same shape and dtype."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def _to_numpy(value: Any, key: str, where: str) -> np.ndarray:
    """Accept NumPy arrays and anything array-like (a torch tensor, possibly requiring grad, included)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, possibly requiring grad
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - re-raised with the key named
        raise TypeError(
            f"{where}: state_dict[{key!r}] must be a numeric array, "
            f"got {type(value).__name__} (not array-like)"
        ) from exc
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        what = f"{type(value).__name__}" if arr.dtype == object else f"dtype {arr.dtype}"
        raise TypeError(f"{where}: state_dict[{key!r}] must be a numeric (float or int) array, got {what}")
    return arr


class Module:
    """Base class: registers ``Parameter`` and ``Module`` attributes in assignment order (PyTorch's order)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_caches", [])
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "batch_shard", None)

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        if isinstance(value, Parameter):
            params[name] = value
            self._modules.pop(name, None)
        elif isinstance(value, Module):
            self._modules[name] = value
            params.pop(name, None)
        else:
            params.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    # ------------------------------------------------------------------ forward / backward plumbing
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def _save(self, cache: Any) -> None:
        """Keep a forward cache for the matching ``backward`` (skipped under ``no_grad``)."""
        if _GRAD_ENABLED.get():
            self._caches.append(cache)

    def _peek(self) -> Any:
        """The cache ``backward`` will consume, without consuming it (validate the gradients first, then
        ``_pop``: a rejected call leaves the cache in place so a corrected call can still succeed)."""
        if not self._caches:
            raise RuntimeError(
                f"{type(self).__name__}.backward: no forward pass to differentiate "
                "(call the module first, outside no_grad(); each backward consumes one forward call)"
            )
        return self._caches[-1]

    def _pop(self) -> Any:
        cache = self._peek()
        self._caches.pop()
        return cache

    def clear_caches(self) -> None:
        """Drop every stored forward cache of this module and its children."""
        for m in self.modules():
            m._caches.clear()

    # ------------------------------------------------------------------ parameters and state
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs with PyTorch's dotted names, own parameters first."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mprefix, m in modules:
            for name, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mprefix}.{name}" if mprefix else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def shard_batch(self, shard: BatchShard | None) -> Module:
        """Compute rows ``shard.start:shard.stop`` of batches of ``shard.size`` rows from now on (``None``: whole
        batches, the default), this module and its children. Random draws over the batch (dropout masks) are
        made for all ``size`` rows and these rows kept (:meth:`BatchShard.random`), so processes that split a
        batch this way draw exactly the masks one process draws for the whole batch. In ``eval()`` mode
        nothing is drawn and any batch is accepted (evaluation, sampling)."""
        if shard is not None:
            start, stop, size = (int(v) for v in shard)
            if not 0 <= start < stop <= size:
                raise ValueError(f"{type(self).__name__}.shard_batch: need 0 <= start < stop <= size, got "
                                 f"start={start}, stop={stop}, size={size}")
            shard = BatchShard(start, stop, size)
        for m in self.modules():
            object.__setattr__(m, "batch_shard", shard)
        return self

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter, keyed by PyTorch's names (a snapshot: later training does not change it)."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Copy values into the parameters (in place, cast to each parameter's dtype).

        Raises ``ValueError`` naming missing, unexpected or misshaped keys; with ``strict=False`` missing and
        unexpected keys are allowed (shapes must still match).
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            got = type(state_dict).__name__
            raise TypeError(f"{where}: state_dict must be a mapping of name -> array, got {got}")
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"{where}: strict must be a bool, got {type(strict).__name__} {strict!r}")
        own = OrderedDict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ValueError(f"{where}: " + "; ".join(parts))
        arrays = {}
        for k, p in own.items():
            if k not in state_dict:
                continue
            v = _to_numpy(state_dict[k], k, where)
            if v.shape != p.shape:
                raise ValueError(f"{where}: state_dict[{k!r}] must have shape {p.shape}, got {v.shape}")
            arrays[k] = v
        for k, v in arrays.items():  # validate everything before changing anything
            own[k].data[...] = v

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        if len(lines) == 1:
            return lines[0] + ")"
        return "\n".join(lines) + "\n)"
