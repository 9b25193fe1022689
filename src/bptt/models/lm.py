r"""Recurrent language models: tokens -> (one-hot | embedding) -> recurrent stack -> linear -> softmax.

For input ids :math:`x_{t,b}` and targets :math:`y_{t,b}` (the next tokens), the loss is the cross-entropy
averaged over all :math:`T \cdot B` tokens (seed 001's "cross-entropy averaged over time", batched):

.. math::  L = \frac{1}{TB} \sum_{t,b} -\log \mathrm{softmax}(W_y h_{t,b} + b_y)_{y_{t,b}}

``forward`` returns the logits and the final recurrent state (carry it into the next chunk for truncated
BPTT); ``backward(dlogits)`` backpropagates into every parameter and drops the gradient with respect to the
initial state (the chunk boundary "detaches" it).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nn import (
    GRU,
    LSTM,
    MLSTM,
    RNN,
    SLSTM,
    Embedding,
    LayerNormLSTM,
    Linear,
    MinGRU,
    MinLSTM,
    Module,
    XLSTMBase,
    no_grad,
)
from ..nn import checks as C


@dataclass(frozen=True)
class CellType:
    """How the language model builds one kind of recurrent stack.

    ``build(input_size, hidden_size, num_layers, *, dropout, dtype, rng)`` returns a module with PyTorch's
    recurrent call contract (``out, state = m(x, state)``; ``dx, _ = m.backward(dout, input_grad=...)``), e.g. a
    :class:`~bptt.nn.RNNBase` subclass itself. ``states`` names its recurrent state arrays, each
    ``(num_layers, B, hidden_size)`` (or, for an :class:`~bptt.nn.XLSTMBase` layer, the shapes of its own
    ``initial_state``): one name means the state is a single array, several a tuple in that order (the names are
    also the keys of the carried state in training checkpoints).
    """

    build: Callable[..., Module]
    states: tuple[str, ...] = ("h",)
    description: str = ""
    #: parameter values of one layer and direction reading ``D`` inputs with ``H`` units (counted without
    #: building anything: memory estimates and checkpoint checks; None: estimated as an LSTM's)
    layer_parameters: Callable[[int, int], int] | None = None


#: The cells a language model can use: ``bptt train --model NAME`` offers exactly these names. Adding a cell
#: is this one entry (its class must follow the call contract of :class:`CellType`).
CELL_TYPES: dict[str, CellType] = {  # weights W_ih (G*H, D), W_hh (G*H, H), two biases; LN: kernel, 5 gains/shifts
    "lstm": CellType(LSTM, ("h", "c"), "PyTorch's LSTM", lambda D, H: 4 * H * (D + H) + 8 * H),
    "gru": CellType(GRU, ("h",), "PyTorch's GRU", lambda D, H: 3 * H * (D + H) + 6 * H),
    "rnn": CellType(RNN, ("h",), "Elman RNN (tanh)", lambda D, H: H * (D + H) + 2 * H),
    "lnlstm": CellType(LayerNormLSTM, ("h", "c"), "TensorFlow 1's layer-normalised LSTM",
                       lambda D, H: 4 * H * (D + H) + 10 * H),
    "mingru": CellType(MinGRU, ("h",), "minGRU (Feng et al. 2024), parallel scan", lambda D, H: 2 * H * (D + 1)),
    "minlstm": CellType(MinLSTM, ("h",), "minLSTM (Feng et al. 2024), parallel scan", lambda D, H: 3 * H * (D + 1)),
    "slstm": CellType(SLSTM, ("h", "c", "n", "m"), "sLSTM (Beck et al. 2024): exponential gating, one head",
                      lambda D, H: 4 * H * (D + H) + 4 * H),
    "mlstm": CellType(MLSTM, ("C", "n", "m"), "mLSTM (Beck et al. 2024): matrix memory, one head, parallel form",
                      lambda D, H: (4 * H + 2) * (D + 1)),
}
CELLS = tuple(CELL_TYPES)


def _make_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float, dtype: Any,
              rng: np.random.Generator) -> Module:
    if cell not in CELL_TYPES:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    return CELL_TYPES[cell].build(input_size, hidden_size, num_layers, dropout=dropout, dtype=dtype, rng=rng)


def recurrent_parameter_count(cell: str, input_size: int, hidden_size: int, num_layers: int,
                              bidirectional: bool = False) -> int:
    """Number of parameter values of a recurrent stack of ``cell`` (a name of :data:`CELL_TYPES`), without
    building it: the sum over layers and directions of the cell's ``layer_parameters(D, H)``, ``D`` the input
    size for the first layer and ``directions * H`` above it."""
    per_layer = CELL_TYPES[cell].layer_parameters
    if per_layer is None:  # a cell that does not declare its count: estimated as an LSTM's (an upper bound)
        per_layer = CELL_TYPES["lstm"].layer_parameters
    dirs = 2 if bidirectional else 1
    return sum(dirs * per_layer(input_size if layer == 0 else dirs * hidden_size, hidden_size)
               for layer in range(num_layers))


class LanguageModel(Module):
    """A recurrent language model over a vocabulary of ``vocab_size`` tokens.

    ``embedding_dim=None`` feeds one-hot vectors (seed 001's character model); an int uses an
    :class:`~bptt.nn.Embedding` of that size.

    Initialisation is PyTorch's for the same modules (``nn.Embedding``: N(0, 1); an LSTM, GRU or RNN stack:
    U(-1/sqrt(H), 1/sqrt(H)); the ``Linear`` head: U(-1/sqrt(H), 1/sqrt(H)) for weight and bias), drawn from
    ``rng``; ``benchmarks/bench_init.py`` compares the distributions with ``torch.nn``'s. The layer-norm LSTM
    initialises as TensorFlow's cell it reproduces (see :class:`~bptt.nn.LayerNormLSTM`).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 256,
        num_layers: int = 2,
        *,
        cell: str = "lstm",
        embedding_dim: int | None = None,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.vocab_size = C.positive_int(vocab_size, "vocab_size", where)
        self.hidden_size = C.positive_int(hidden_size, "hidden_size", where)
        self.num_layers = C.positive_int(num_layers, "num_layers", where)
        if cell not in CELLS:
            raise ValueError(f"{where}: cell must be one of {CELLS}, got {cell!r}")
        self.cell = cell
        self.dtype = C.as_dtype(dtype, where)
        gen = C.as_rng(rng, where)
        self.embedding_dim = None if embedding_dim is None else C.positive_int(embedding_dim, "embedding_dim", where)
        if self.embedding_dim is not None:
            self.embedding = Embedding(self.vocab_size, self.embedding_dim, dtype=self.dtype, rng=gen)
            in_size = self.embedding_dim
        else:
            self.embedding = None
            in_size = self.vocab_size
        self.rnn = _make_rnn(cell, in_size, self.hidden_size, self.num_layers, dropout, self.dtype, gen)
        self.head = Linear(self.hidden_size, self.vocab_size, dtype=self.dtype, rng=gen)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the recurrent state arrays (``("h",)``, ``("h", "c")``, ...; see :class:`CellType`)."""
        return CELL_TYPES[self.cell].states

    @property
    def has_cell_state(self) -> bool:
        """Whether the state is a tuple of arrays rather than ``h`` alone."""
        return len(self.state_names) > 1

    @staticmethod
    def parameter_count(vocab_size: int, hidden_size: int, num_layers: int, cell: str = "lstm",
                        embedding_dim: int | None = None) -> int:
        """Number of parameter values of the model these arguments build (what :meth:`num_parameters` would
        say), without building it: embedding ``V*E``, the recurrent stack, head ``H*V + V``."""
        V, H = vocab_size, hidden_size
        embedding = 0 if embedding_dim is None else V * embedding_dim
        inputs = V if embedding_dim is None else embedding_dim
        return embedding + recurrent_parameter_count(cell, inputs, H, num_layers) + H * V + V

    def config(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "cell": self.cell,
            "embedding_dim": self.embedding_dim,
            "dropout": float(getattr(self.rnn, "dropout", 0.0)),
            "dtype": str(self.dtype),
        }

    def initial_state(self, batch_size: int) -> Any:
        if isinstance(self.rnn, XLSTMBase):  # state parts of their own shapes (the mLSTM's matrix memory)
            return self.rnn.initial_state(batch_size)
        shape = (self.num_layers, batch_size, self.hidden_size)
        states = tuple(np.zeros(shape, dtype=self.dtype) for _ in self.state_names)
        return states if self.has_cell_state else states[0]

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        if self.embedding is not None:
            return self.embedding(x)
        onehot = np.zeros(x.shape + (self.vocab_size,), dtype=self.dtype)
        np.put_along_axis(onehot, x[..., None], 1.0, axis=-1)
        return onehot

    def forward(self, x: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]:
        """``x`` ``(T, B)`` int ids -> logits ``(T, B, V)`` and the final state."""
        x = np.asarray(x)
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"{type(self).__name__}.forward: x must be a (T, B) integer array, got "
                             f"{x.shape} {x.dtype}")
        if x.size and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ValueError(f"{type(self).__name__}.forward: ids must be in [0, {self.vocab_size})")
        out, state = self.rnn(self._inputs(x), state)
        return self.head(out), state

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate ``dlogits`` ``(T, B, V)``; the initial-state gradient is dropped (detached)."""
        dout = self.head.backward(dlogits)
        # one-hot inputs are constants: skip the input gradient of the first layer (as autograd would)
        dx, _ = self.rnn.backward(dout, input_grad=self.embedding is not None)
        if self.embedding is not None:
            self.embedding.backward(dx)

    def generate(
        self,
        prime: np.ndarray,
        length: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: Any = None,
    ) -> np.ndarray:
        """Sample ``length`` token ids after feeding the ``prime`` ids (seed 001's sampling loop): the first
        ``length`` ids of :meth:`sample`. The result must fit in the memory available (``MemoryLimitError``,
        a ``ValueError``, otherwise: iterate over :meth:`sample` instead)."""
        where = f"{type(self).__name__}.generate"
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"{where}: length must be an int >= 0, got {length!r}")
        C.require_memory(8 * int(length), f"{where}: {int(length):,} token ids", "ask for fewer tokens, or "
                         "iterate over LanguageModel.sample(), which keeps none")
        tokens = self.sample(prime, temperature=temperature, top_k=top_k, rng=rng)
        with contextlib.closing(tokens):
            return np.fromiter(itertools.islice(tokens, int(length)), dtype=np.int64, count=int(length))

    def sample(
        self,
        prime: np.ndarray,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: Any = None,
    ) -> Iterator[int]:
        """Token ids sampled one at a time after feeding the ``prime`` ids, without end (take as many as
        needed: memory stays constant).

        Each step: softmax of ``logits / temperature`` (restricted to the ``top_k`` largest when given), draw
        one token with ``rng`` (a ``numpy.random.Generator`` or seed: the same seed gives the same text), and
        feed it back as the next input. The model is in eval mode until the iterator is closed. Logits that
        are not finite (a damaged model) raise ``FloatingPointError``.
        """
        where = f"{type(self).__name__}.sample"
        prime = np.asarray(prime, dtype=np.int64).reshape(-1)
        if prime.size == 0:
            raise ValueError(f"{where}: prime must contain at least one token")
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
                or not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"{where}: temperature must be a finite number > 0, got {temperature!r}")
        if top_k is not None and not (isinstance(top_k, (int, np.integer)) and top_k > 0):
            raise ValueError(f"{where}: top_k must be a positive int, got {top_k!r}")
        gen = C.as_rng(rng, where)
        return self._sample(prime, float(temperature), top_k, gen)

    def _sample(self, prime: np.ndarray, temperature: float, top_k: int | None,
                gen: np.random.Generator) -> Iterator[int]:
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                logits, state = self.forward(prime[:, None])
            last = logits[-1, 0].astype(np.float64)
            n = 0
            while True:
                if not np.isfinite(last).all():
                    raise FloatingPointError(f"the model's logits are not finite at sampled token {n} (the model "
                                             "is damaged or diverged)")
                # shift before scaling: a tiny temperature then gives -inf (not inf - inf = NaN)
                with np.errstate(over="ignore"):
                    z = (last - last.max()) / temperature
                if top_k is not None and top_k < z.size:
                    kth = np.partition(z, -top_k)[-top_k]
                    z = np.where(z >= kth, z, -np.inf)
                z = z - z.max()
                p = np.exp(z)
                p /= p.sum()
                tok = int(gen.choice(z.size, p=p))
                yield tok
                n += 1
                with no_grad():
                    logits, state = self.forward(np.array([[tok]]), state)
                last = logits[-1, 0].astype(np.float64)
        finally:
            self.train(was_training)


class CharLM(LanguageModel):
    """Character-level language model with one-hot inputs by default (seed 001)."""


class WordLM(LanguageModel):
    """Word-level language model with a learned embedding (default 128) by default."""

    def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 2, *,
                 embedding_dim: int | None = 128, **kwargs: Any) -> None:
        super().__init__(vocab_size, hidden_size, num_layers, embedding_dim=embedding_dim, **kwargs)
