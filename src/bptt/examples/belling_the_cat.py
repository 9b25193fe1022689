r"""Belling the cat: seed 000's word-level LSTM experiment, loss for loss.

Origin
------
Seed 000 ("RNN Series: LSTM internals, Part 3: the backward propagation") derives LSTM backpropagation
through time and validates it with Deep-Breathe, a pure-Python deep-learning library whose results are
compared number for number with TensorFlow. Its running example is ``tfwordslstm.py``: a TensorFlow 1.x
program that trains ``tf.contrib.rnn.LayerNormBasicLSTMCell(n_hidden, layer_norm=False)`` to predict the
next word of Aesop's fable *The Bell and the Cat* from the previous three. The weights are constants, not
random numbers, so the loss printed at each step is reproducible and any other implementation (Deep-Breathe,
or this library) can be checked against it. This module is that experiment on :class:`bptt.nn.LSTM`.

The experiment
--------------
- Text ``long ago the mice had a general council to consider the`` (11 tokens, 10 distinct words),
  lower-cased and split on whitespace; vocabulary ``sorted(set(tokens))``.
- Input: the one-hot codes of 3 consecutive words, a sequence of ``T = 3`` steps, batch 1, input size
  ``V`` (the vocabulary size). Target: the index of the word that follows.
- Which 3 words: a cursor ``offset`` starts at 2 and advances by 4 after every step; at the top of a step, if
  ``offset > len(tokens) - 4`` (the window would run past the end) it restarts at ``rs.randint(0, 4)``,
  with ``rs = numpy.random.RandomState(42)`` one generator for the whole run.
- LSTM: hidden size 5, float64, every weight 0.1 and every bias 0.1, ``forget_bias = 1.0`` added to the forget
  gate's pre-activation (TensorFlow's cells do this; it is a constant, not a parameter); zero initial state.
- Head: ``Dense(V)`` on the LSTM output at the last step, with the constant kernel and bias below; softmax
  cross-entropy against the target; plain SGD, learning rate 0.001, on every parameter. The printed loss is
  the one computed by the forward pass of that step, before that step's update.

Variants (``--variant``):

``uni``
    one LSTM layer (the seed's experiment; step 1 loss 1.6343186800).
``initstate``
    as ``uni``, but the initial ``h`` and ``c`` are all ones instead of zeros.
``multi``
    two stacked layers (TensorFlow ``MultiRNNCell([cell, cell])``), ``bptt.nn.LSTM(num_layers=2)``.
``bi``
    one forward and one reverse layer (``tf.nn.bidirectional_dynamic_rnn``),
    ``bptt.nn.LSTM(bidirectional=True)``.
    The head reads ``[h_fw; h_bw]`` at the last position ``T - 1``, where the reverse direction has read only
    the last word; the 10x10 kernel is the 5x10 kernel stacked twice.
``bimulti``
    ``bidirectional_dynamic_rnn`` over two ``MultiRNNCell`` stacks of 2 layers each; see below.

TensorFlow vs PyTorch bidirectional stacking
--------------------------------------------
``torch.nn.LSTM(num_layers=2, bidirectional=True)`` (and :class:`bptt.nn.LSTM` with the same arguments)
*interleaves* the directions: layer 2, in both directions, reads the concatenated ``[forward; reverse]``
outputs of layer 1, so information from both ends of the sentence is mixed after the first layer.
TensorFlow's ``bidirectional_dynamic_rnn(MultiRNNCell(...), MultiRNNCell(...))`` instead runs two
*independent* 2-layer stacks, one over the words in order and one over the reversed words, and only
concatenates their top outputs. The two are different networks (the interleaved one's second layer has
input size 10, TensorFlow's has 5). ``bimulti`` reproduces TensorFlow's: two ``bptt.nn.LSTM(num_layers=2)``
modules, the second fed the time-reversed input, its output reversed back to time order before the head.

Other texts
-----------
``--text PATH`` (or ``run(..., text=...)``) trains on another text. The kernel and bias below are for
``V == 10`` outputs and are used whenever the vocabulary has exactly 10 words. For any other ``V`` the head is
initialised deterministically instead: kernel ``RandomState(0).standard_normal((5, V))`` then bias
``standard_normal(V)`` from the same generator (stacked twice for ``bi*`` as usual). A text needs at least 4
words (one window plus its target). With 4 to 6 words a restart value from ``randint(0, 4)`` could still run
past the end, so it is reduced modulo ``len(tokens) - 3`` (the number of valid windows); for 7 or more words,
the default text included, that is the identity and the schedule is exactly the one above.

Usage::

    python -m bptt.examples.belling_the_cat --variant uni --steps 200
    step 1 loss 1.6343186800
    ...
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ..nn import LSTM, CrossEntropyLoss, Linear, Module
from .program import run_program

VARIANTS: tuple[str, ...] = ("uni", "initstate", "multi", "bi", "bimulti")

DEFAULT_TEXT = "long ago the mice had a general council to consider the"

N_INPUT = 3  # words per input window (sequence length T)
N_HIDDEN = 5
LEARNING_RATE = 0.001
FORGET_BIAS = 1.0
SEED = 42
START_OFFSET = 2
OFFSET_STRIDE = 4
DTYPE = np.float64

#: TensorFlow ``Dense`` kernel, shape (in, out) = (5, 10); bptt's ``Linear.weight`` is its transpose.
#: (Row 4 repeated as row 5 is what the original experiment uses.)
KERNEL = np.array(
    [
        [-0.09588283, -2.2044923, -0.74828255, 0.14180686, -0.32083616, -0.9444244, 0.06826905, -0.9728962,
         -0.18506959, 1.0618515],
        [1.156649, 3.2738173, -1.2556943, -0.9079511, -0.82127047, -1.1448543, -0.60807484, -0.5885713,
         1.0378786, -0.7088431],
        [1.006477, 0.28033388, -0.1804534, 0.8093307, -0.36991575, 0.29115433, -0.01028167, -0.7357091,
         0.92254084, -0.10753923],
        [0.19266959, 0.6108299, 2.2495654, 1.5288974, 1.0172302, 1.1311738, 0.2666629, -0.30611828,
         -0.01412263, 0.44799015],
        [0.19266959, 0.6108299, 2.2495654, 1.5288974, 1.0172302, 1.1311738, 0.2666629, -0.30611828,
         -0.01412263, 0.44799015],
    ],
    dtype=DTYPE,
)
#: TensorFlow ``Dense`` bias, shape (10,).
BIAS = np.array(
    [0.1458478, -0.3660951, -2.1647317, -1.9633691, -0.24532059, 0.14005205, -1.0961286, -0.43737876,
     0.7028531, -1.8481724],
    dtype=DTYPE,
)


# ---------------------------------------------------------------------------------------------- data
def tokenize(text: str) -> list[str]:
    """Lower-case and split on whitespace; raise ``ValueError`` if there are fewer than 4 words."""
    if not isinstance(text, str):
        raise TypeError(f"belling_the_cat: text must be a str, got {type(text).__name__}")
    tokens = text.lower().split()
    if not tokens:
        raise ValueError("belling_the_cat: the text is empty (no words)")
    if len(tokens) < N_INPUT + 1:
        raise ValueError(
            f"belling_the_cat: the text needs at least {N_INPUT + 1} words ({N_INPUT} inputs and a target), "
            f"got {len(tokens)}"
        )
    return tokens


def load_text(path: str | Path) -> str:
    """Read a UTF-8 text file, with one-line ``ValueError`` messages for the usual problems."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"belling_the_cat: text file not found: {p}")
    if p.is_dir():
        raise ValueError(f"belling_the_cat: text path is a directory, not a file: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"belling_the_cat: text file is not valid UTF-8: {p} ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ValueError(f"belling_the_cat: cannot read text file {p}: {exc.strerror or exc}") from None
    if not text.strip():
        raise ValueError(f"belling_the_cat: text file is empty: {p}")
    return text


def offset_schedule(n_tokens: int, steps: int, rs: np.random.RandomState | None = None) -> list[int]:
    """The window start used at each of ``steps`` steps (see the module docstring)."""
    return list(offsets(n_tokens, steps, rs))


def offsets(n_tokens: int, steps: int, rs: np.random.RandomState | None = None) -> Iterator[int]:
    """:func:`offset_schedule` one step at a time (any number of steps in constant memory)."""
    if rs is None:
        rs = np.random.RandomState(SEED)
    n_windows = n_tokens - N_INPUT  # valid starts are 0 .. n_windows - 1
    offset = START_OFFSET
    for _ in range(steps):
        if offset > n_tokens - (N_INPUT + 1):
            # ``% n_windows`` is the identity for n_tokens >= 7 (the default text has 11).
            offset = int(rs.randint(0, N_INPUT + 1)) % n_windows
        yield offset
        offset += OFFSET_STRIDE


def one_hot_window(indices: Sequence[int], vocab_size: int) -> np.ndarray:
    """``(T, 1, V)`` float64 one-hot codes of ``indices`` (time-major, batch 1)."""
    x = np.zeros((len(indices), 1, vocab_size), dtype=DTYPE)
    x[np.arange(len(indices)), 0, np.asarray(indices)] = 1.0
    return x


# ---------------------------------------------------------------------------------------------- model
def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"belling_the_cat: variant must be one of {', '.join(VARIANTS)}; got {variant!r}")


def head_init(vocab_size: int, num_directions: int) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, bias)`` for the head's ``Linear``: weight ``(V, 5 * num_directions)``, TF kernel.T."""
    if vocab_size == KERNEL.shape[1]:
        kernel, bias = KERNEL, BIAS
    else:  # documented deterministic init for other vocabulary sizes
        rs = np.random.RandomState(0)
        kernel = rs.standard_normal((N_HIDDEN, vocab_size))
        bias = rs.standard_normal(vocab_size)
    kernel = np.concatenate([kernel] * num_directions, axis=0)  # bi*: [h_fw; h_bw] rows share the 5x10 block
    return np.ascontiguousarray(kernel.T, dtype=DTYPE), np.array(bias, dtype=DTYPE)


def constant_lstm(vocab_size: int, num_layers: int = 1, bidirectional: bool = False) -> LSTM:
    """A float64 ``bptt.nn.LSTM`` (hidden 5, forget_bias 1.0) with every weight 0.1 and every bias 0.1."""
    lstm = LSTM(vocab_size, N_HIDDEN, num_layers=num_layers, bidirectional=bidirectional,
                forget_bias=FORGET_BIAS, dtype=DTYPE, rng=0)
    for name, p in lstm.named_parameters():
        if name.startswith("weight_"):
            p.data[...] = 0.1
        elif name.startswith("bias_ih"):
            # TensorFlow's cell has ONE bias vector (0.1 everywhere); PyTorch-style LSTMs have two that are
            # summed, b_ih + b_hh. The whole 0.1 goes in bias_ih and bias_hh stays 0 and is never updated
            # (see TRAINED below): training both would move their sum by twice TF's step, so the runs would
            # part after step 1. forget_bias is NOT folded in here: it is the constructor's run-time constant.
            p.data[...] = 0.1
        elif name.startswith("bias_hh"):
            p.data[...] = 0.0
        else:  # pragma: no cover - LSTM has only these four kinds
            raise AssertionError(f"unexpected LSTM parameter {name}")
    return lstm


class BellingTheCat(Module):
    """LSTM(s) + Dense head for one variant: ``forward(x)`` -> ``(1, V)`` logits; ``backward(dlogits)``."""

    def __init__(self, variant: str, vocab_size: int) -> None:
        super().__init__()
        _check_variant(variant)
        self.variant = variant
        self.vocab_size = vocab_size
        if variant == "bimulti":
            # TF bidirectional_dynamic_rnn over two MultiRNNCells: two independent 2-layer stacks.
            self.lstm = constant_lstm(vocab_size, num_layers=2)
            self.lstm_bw = constant_lstm(vocab_size, num_layers=2)
            self.num_directions = 2
        else:
            self.lstm = constant_lstm(vocab_size, num_layers=2 if variant == "multi" else 1,
                                      bidirectional=variant == "bi")
            self.num_directions = 2 if variant == "bi" else 1
        self.dense = Linear(N_HIDDEN * self.num_directions, vocab_size, dtype=DTYPE, rng=0)
        w, b = head_init(vocab_size, self.num_directions)
        self.dense.weight.data[...] = w
        self.dense.bias.data[...] = b
        self._state_fill = 1.0 if variant == "initstate" else 0.0

    def _initial_state(self, lstm: LSTM) -> tuple[np.ndarray, np.ndarray]:
        shape = (lstm.num_layers * lstm.num_directions, 1, N_HIDDEN)
        return np.full(shape, self._state_fill, dtype=DTYPE), np.full(shape, self._state_fill, dtype=DTYPE)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``(T, 1, V)`` one-hot -> logits ``(1, V)`` from the time-ordered output at ``T - 1``."""
        out, _ = self.lstm(x, self._initial_state(self.lstm))
        if self.variant == "bimulti":
            out_bw_rev, _ = self.lstm_bw(np.ascontiguousarray(x[::-1]), self._initial_state(self.lstm_bw))
            # time order: out_bw[t] = out_bw_rev[T - 1 - t]; at t = T - 1 the reverse stack has read one word
            feature = np.concatenate([out[-1], out_bw_rev[0]], axis=-1)
        else:
            feature = out[-1]  # bi: [h_fw; h_bw] at T - 1 (PyTorch already returns time order)
        self._save(x.shape[0])
        return self.dense(feature)

    def backward(self, dlogits: np.ndarray) -> None:
        T = self._pop()
        dfeature = self.dense.backward(dlogits)
        width = N_HIDDEN * (1 if self.variant == "bimulti" else self.num_directions)
        dout = np.zeros((T, 1, width), dtype=DTYPE)
        if self.variant == "bimulti":
            dout[-1] = dfeature[:, :N_HIDDEN]
            dout_bw_rev = np.zeros_like(dout)
            dout_bw_rev[0] = dfeature[:, N_HIDDEN:]
            self.lstm_bw.backward(dout_bw_rev)
        else:
            dout[-1] = dfeature
        self.lstm.backward(dout)


# ---------------------------------------------------------------------------------------------- training
def run(
    variant: str,
    steps: int = 200,
    text: str | None = None,
    *,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train one variant for ``steps`` SGD steps and return the per-step losses (before each update).

    ``text`` is the training text itself (not a path; see :func:`load_text`); ``None`` means
    :data:`DEFAULT_TEXT`. ``callback(step, loss)`` is called after each step (the CLI prints from it).
    """
    _check_variant(variant)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"belling_the_cat: steps must be a non-negative int, got {steps!r}")
    tokens = tokenize(DEFAULT_TEXT if text is None else text)
    vocab = sorted(set(tokens))
    index = {w: i for i, w in enumerate(vocab)}
    codes = [index[w] for w in tokens]
    V = len(vocab)

    model = BellingTheCat(variant, V)
    criterion = CrossEntropyLoss()
    # TF's single bias is bias_ih here; bias_hh is a constant 0 (not trained), see constant_lstm.
    params = [p for name, p in model.named_parameters() if ".bias_hh" not in name]
    losses: list[float] = []
    for step, offset in enumerate(offsets(len(tokens), int(steps)), start=1):
        x = one_hot_window(codes[offset : offset + N_INPUT], V)
        target = np.array([codes[offset + N_INPUT]])
        logits = model(x)
        loss = float(criterion(logits, target))
        model.zero_grad()
        model.backward(criterion.backward())
        for p in params:  # plain SGD by hand (no dependency on bptt.optim)
            p.data -= LEARNING_RATE * p.grad
        losses.append(loss)
        if callback is not None:
            callback(step, loss)
    return losses


def _steps_arg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value!r}")
    return n


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bptt.examples.belling_the_cat",
        description="Seed 000's word-level LSTM (Deep-Breathe's tfwordslstm): print each SGD step's loss.",
    )
    parser.add_argument("--variant", choices=VARIANTS, default="uni", help="network variant (default: uni)")
    parser.add_argument("--steps", type=_steps_arg, default=200, help="number of SGD steps (default: 200)")
    parser.add_argument("--text", metavar="PATH", default=None,
                        help="UTF-8 text file to train on instead of the built-in sentence")
    args = parser.parse_args(argv)

    def emit(step: int, loss: float) -> None:
        print(f"step {step} loss {loss:.10f}", flush=True)

    try:
        text = None if args.text is None else load_text(args.text)
        losses = run(args.variant, args.steps, text, callback=emit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not all(math.isfinite(v) for v in losses):  # pragma: no cover - never observed
        print("error: belling_the_cat: a loss is not finite", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(run_program(main, "python -m bptt.examples.belling_the_cat"))
