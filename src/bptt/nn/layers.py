"""Feed-forward modules: ``Linear``, ``Embedding`` and ``Dropout`` (the loss is in :mod:`.loss`)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import functional as F
from . import checks as C
from .module import Module, Parameter


class Linear(Module):
    r"""``y = x W^T + b`` with PyTorch's names (``weight`` ``(out, in)``, ``bias`` ``(out,)``) and init.

    Init as ``torch.nn.Linear``: ``weight`` and ``bias`` are :math:`U(-1/\sqrt{in}, 1/\sqrt{in})`
    (kaiming-uniform with :math:`a = \sqrt 5`).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, *, dtype: Any = np.float32, rng: Any = None
    ) -> None:
        super().__init__()
        where = "Linear"
        self.in_features = C.positive_int(in_features, "in_features", where)
        self.out_features = C.positive_int(out_features, "out_features", where)
        bias = C.boolean(bias, "bias", where)
        self.dtype = C.as_dtype(dtype, where)
        gen = C.as_rng(rng, where)
        k = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(gen.uniform(-k, k, (self.out_features, self.in_features)).astype(self.dtype))
        self.bias = Parameter(gen.uniform(-k, k, self.out_features).astype(self.dtype)) if bias else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        where = "Linear.forward"
        x = C.float_array(x, "x", where, self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{where}: x must have shape (..., {self.in_features}) (in_features={self.in_features}), "
                f"got {C.shape_str(x.shape)}"
            )
        y, cache = F.linear.forward(x, self.weight.data, None if self.bias is None else self.bias.data)
        self._save(cache)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        cache = self._peek()
        x = cache.x
        dy = C.float_array(dy, "dy", "Linear.backward", self.dtype)
        C.expect_shape(dy, x.shape[:-1] + (self.out_features,), "dy", "Linear.backward", "the output's shape")
        self._pop()
        dx, dW, db = F.linear.backward(dy, cache)
        self.weight.grad += dW
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Lookup table ``weight`` ``(num_embeddings, embedding_dim)``, init N(0, 1) as PyTorch.

    ``padding_idx`` rows are initialised to zero and receive no gradient.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        *,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__()
        where = "Embedding"
        self.num_embeddings = C.positive_int(num_embeddings, "num_embeddings", where)
        self.embedding_dim = C.positive_int(embedding_dim, "embedding_dim", where)
        self.dtype = C.as_dtype(dtype, where)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
                raise TypeError(
                    f"{where}: padding_idx must be None or an int in [-{self.num_embeddings}, "
                    f"{self.num_embeddings}), got {type(padding_idx).__name__} {padding_idx!r}"
                )
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"{where}: padding_idx must be an int in [-{self.num_embeddings}, {self.num_embeddings}), "
                    f"got {padding_idx!r}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        gen = C.as_rng(rng, where)
        w = gen.standard_normal((self.num_embeddings, self.embedding_dim)).astype(self.dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.weight = Parameter(w)

    def forward(self, ids: np.ndarray) -> np.ndarray:
        where = "Embedding.forward"
        ids = C.as_array(ids, "ids", where, "an integer array")
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"{where}: ids must be an integer array, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = ids[(ids < 0) | (ids >= self.num_embeddings)].ravel()[0]
            raise ValueError(
                f"{where}: ids must be in [0, {self.num_embeddings}) (num_embeddings={self.num_embeddings}), "
                f"got {int(bad)}"
            )
        e, cache = F.embedding.forward(ids, self.weight.data, self.padding_idx)
        self._save(cache)
        return e

    def backward(self, de: np.ndarray) -> None:
        cache = self._peek()
        de = C.float_array(de, "de", "Embedding.backward", self.dtype)
        C.expect_shape(de, cache.ids.shape + (self.embedding_dim,), "de", "Embedding.backward", "the output's shape")
        self._pop()
        self.weight.grad += F.embedding.backward(de, cache)
        return None

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class Dropout(Module):
    """Inverted dropout: in training mode zero each element with probability ``p``, scale the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        super().__init__()
        self.p = C.probability(p, "p", "Dropout", allow_one=True)
        self.rng = C.as_rng(rng, "Dropout")

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = C.as_array(x, "x", "Dropout.forward", "a float array")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"Dropout.forward: x must be a float array, got dtype {x.dtype}")
        y, cache = F.dropout.forward(x, self.p, self.rng, self.training)
        self._save((cache, x.shape, x.dtype))
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        where = "Dropout.backward"
        cache, shape, dtype = self._peek()
        dy = C.as_array(dy, "dy", where, f"a float array of dtype {dtype}")
        if dy.dtype != dtype:
            raise TypeError(f"{where}: dy must have dtype {dtype} (the input's dtype), got {dy.dtype}")
        C.expect_shape(dy, shape, "dy", where, "the output's shape")
        self._pop()
        return F.dropout.backward(dy, cache)

    def extra_repr(self) -> str:
        return f"p={self.p}"
