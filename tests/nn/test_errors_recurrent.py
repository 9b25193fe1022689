"""Bad input is rejected at the API boundary with a clear exception.

Every case checks three things:

* the exception class (``ValueError`` for bad values/shapes, ``TypeError`` for bad types/dtypes,
  ``RuntimeError`` for a backward without its forward);
* the message names the argument, the expected value and the actual value (``expect`` matches the given
  fragments in order);
* the exception is raised by bptt's own validation in ``src/bptt/nn`` (the innermost traceback frame), never
  by NumPy or Python internals deep inside the computation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import bptt.nn as nn
from bptt.nn import utils

NN_DIR = Path(nn.__file__).resolve().parent

IN, H, T, B = 3, 4, 5, 2
F32, F64 = np.float32, np.float64

RECURRENT = ["LSTM", "GRU", "RNN"]
CELLS = ["LSTMCell", "GRUCell", "RNNCell"]


def expect(exc: type[BaseException], fn: Callable[..., Any], *fragments: str) -> pytest.ExceptionInfo:
    """Call ``fn``: require ``exc``, its message holding ``fragments`` in order, raised inside ``bptt.nn``."""
    pattern = ".*".join(re.escape(f) for f in fragments)
    with pytest.raises(exc, match=pattern) as excinfo:
        fn()
    assert type(excinfo.value) is exc, f"expected exactly {exc.__name__}, got {type(excinfo.value).__name__}"
    origin = Path(str(excinfo.traceback[-1].path)).resolve()
    assert origin.is_relative_to(NN_DIR), f"raised from {origin}, not from bptt's validation in {NN_DIR}"
    return excinfo


def make(name: str, **kw: Any) -> Any:
    """A small module of class ``name`` with a fixed seed."""
    kw.setdefault("rng", 0)
    cls = getattr(nn, name)
    if name in RECURRENT or name in CELLS:
        return cls(IN, H, **kw)
    if name == "Linear":
        return cls(IN, 5, **kw)
    if name == "Embedding":
        return cls(5, H, **kw)
    raise AssertionError(name)


def x_seq(dtype: Any = F32, shape: tuple = (T, B, IN)) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(shape).astype(dtype)


def state(shape: tuple = (1, B, H), dtype: Any = F32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def hx_for(name: str, h: np.ndarray) -> Any:
    return (h, h.copy()) if name == "LSTM" else h


def all_grads_zero(module: nn.Module) -> bool:
    return all(not p.grad.any() for p in module.parameters())


# ---------------------------------------------------------------- constructors
SIZE_ARGS = {
    "LSTM": ("input_size", "hidden_size", "num_layers"),
    "GRU": ("input_size", "hidden_size", "num_layers"),
    "RNN": ("input_size", "hidden_size", "num_layers"),
    "LSTMCell": ("input_size", "hidden_size"),
    "GRUCell": ("input_size", "hidden_size"),
    "RNNCell": ("input_size", "hidden_size"),
    "Linear": ("in_features", "out_features"),
    "Embedding": ("num_embeddings", "embedding_dim"),
}
GOOD_SIZES = {
    "input_size": IN,
    "hidden_size": H,
    "num_layers": 1,
    "in_features": IN,
    "out_features": 5,
    "num_embeddings": 5,
    "embedding_dim": H,
}
SIZE_CASES = [(cls, arg) for cls, args in SIZE_ARGS.items() for arg in args]


def build(cls: str, **overrides: Any) -> Any:
    kwargs = {a: GOOD_SIZES[a] for a in SIZE_ARGS[cls]}
    kwargs.update(overrides)
    kwargs.setdefault("rng", 0)
    return getattr(nn, cls)(**kwargs)


@pytest.mark.parametrize(("cls", "arg"), SIZE_CASES)
@pytest.mark.parametrize("value", [0, -1, -7])
def test_size_not_positive(cls: str, arg: str, value: int) -> None:
    expect(ValueError, lambda: build(cls, **{arg: value}), f"{cls}: {arg} must be > 0", f"got {value}")


@pytest.mark.parametrize(("cls", "arg"), SIZE_CASES)
@pytest.mark.parametrize(
    ("value", "shown"),
    [(2.5, "float 2.5"), ("3", "str '3'"), (True, "bool True"), (None, "NoneType None"), (3.0, "float 3.0")],
)
def test_size_not_int(cls: str, arg: str, value: Any, shown: str) -> None:
    expect(TypeError, lambda: build(cls, **{arg: value}), f"{cls}: {arg} must be an int", f"got {shown}")


@pytest.mark.parametrize("cls", list(SIZE_ARGS))
def test_numpy_integer_sizes_are_accepted(cls: str) -> None:
    build(cls, **{a: np.int64(GOOD_SIZES[a]) for a in SIZE_ARGS[cls]})


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_recurrent_dropout_out_of_range(cls: str, value: float) -> None:
    expect(
        ValueError,
        lambda: make(cls, num_layers=2, dropout=value),
        f"{cls}: dropout must be in [0, 1)",
        f"got {float(value)}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("value", "shown"), [("0.5", "str '0.5'"), (None, "NoneType None"), (True, "bool True")]
)
def test_recurrent_dropout_wrong_type(cls: str, value: Any, shown: str) -> None:
    expect(TypeError, lambda: make(cls, dropout=value), f"{cls}: dropout must be a float", f"got {shown}")


@pytest.mark.parametrize("value", [-0.1, 1.5, 2, math.nan])
def test_dropout_module_p_out_of_range(value: float) -> None:
    expect(ValueError, lambda: nn.Dropout(value), "Dropout: p must be in [0, 1]", f"got {float(value)}")


@pytest.mark.parametrize(
    ("value", "shown"), [("0.5", "str '0.5'"), (None, "NoneType None"), (False, "bool False")]
)
def test_dropout_module_p_wrong_type(value: Any, shown: str) -> None:
    expect(TypeError, lambda: nn.Dropout(value), "Dropout: p must be a float", f"got {shown}")


@pytest.mark.parametrize("p", [0.0, 0, 0.5, 1.0, 1])
def test_dropout_module_accepts_closed_interval(p: float) -> None:
    d = nn.Dropout(p, rng=0)
    y = d(np.ones((3, 4), F32))
    if p == 1:
        assert not y.any()


@pytest.mark.parametrize("cls", ["RNN", "RNNCell"])
def test_invalid_nonlinearity(cls: str) -> None:
    expect(
        ValueError,
        lambda: make(cls, nonlinearity="sigmoid"),
        f"{cls}: nonlinearity must be one of",
        "'tanh', 'relu'",
        "got 'sigmoid'",
    )
    expect(ValueError, lambda: make(cls, nonlinearity="TANH"), "nonlinearity must be one of", "got 'TANH'")


@pytest.mark.parametrize("cls", ["RNN", "RNNCell"])
@pytest.mark.parametrize(("value", "shown"), [(1, "int 1"), (None, "NoneType None"), (np.tanh, "ufunc")])
def test_nonlinearity_wrong_type(cls: str, value: Any, shown: str) -> None:
    expect(
        TypeError,
        lambda: make(cls, nonlinearity=value),
        f"{cls}: nonlinearity must be a str",
        "'tanh', 'relu'",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT + CELLS + ["Linear", "Embedding"])
@pytest.mark.parametrize(
    ("dtype", "shown"),
    [
        (np.int32, "int32"),
        ("float16", "float16"),
        (np.complex64, "complex64"),
        (bool, "bool"),
        ("notadtype", "'notadtype'"),
        ([1], "[1]"),
    ],
)
def test_invalid_dtype(cls: str, dtype: Any, shown: str) -> None:
    expect(
        TypeError, lambda: make(cls, dtype=dtype), f"{cls}: dtype must be float32 or float64", f"got {shown}"
    )


@pytest.mark.parametrize("cls", RECURRENT + CELLS + ["Linear", "Embedding"])
@pytest.mark.parametrize("dtype", [np.float32, "float64", np.dtype("float64")])
def test_valid_dtype_spellings(cls: str, dtype: Any) -> None:
    assert make(cls, dtype=dtype).dtype == np.dtype(dtype)


RECURRENT_FLAGS = [(cls, flag) for cls in RECURRENT for flag in ("bias", "batch_first", "bidirectional")]
FLAG_CASES = RECURRENT_FLAGS + [(cls, "bias") for cls in CELLS + ["Linear"]]


@pytest.mark.parametrize(("cls", "flag"), FLAG_CASES)
@pytest.mark.parametrize(
    ("value", "shown"), [(1, "int 1"), (0, "int 0"), ("yes", "str 'yes'"), (None, "NoneType None")]
)
def test_non_bool_flags(cls: str, flag: str, value: Any, shown: str) -> None:
    expect(TypeError, lambda: make(cls, **{flag: value}), f"{cls}: {flag} must be a bool", f"got {shown}")


@pytest.mark.parametrize(("cls", "flag"), FLAG_CASES)
def test_numpy_bool_flags_are_accepted(cls: str, flag: str) -> None:
    make(cls, **{flag: np.bool_(True)})


RNG_CLASSES = RECURRENT + CELLS + ["Linear", "Embedding"]


@pytest.mark.parametrize("cls", RNG_CLASSES + ["Dropout"])
@pytest.mark.parametrize(
    ("rng", "shown"),
    [("seed", "str"), (1.5, "float"), (True, "bool"), (np.random.RandomState(0), "RandomState")],
)
def test_bad_rng_type(cls: str, rng: Any, shown: str) -> None:
    fn = (lambda: nn.Dropout(0.5, rng=rng)) if cls == "Dropout" else (lambda: make(cls, rng=rng))
    expect(TypeError, fn, f"{cls}: rng must be None, an int seed or a numpy.random.Generator", f"got {shown}")


@pytest.mark.parametrize("cls", RNG_CLASSES + ["Dropout"])
def test_negative_rng_seed(cls: str) -> None:
    fn = (lambda: nn.Dropout(0.5, rng=-1)) if cls == "Dropout" else (lambda: make(cls, rng=-1))
    expect(ValueError, fn, f"{cls}: rng seed must be a non-negative int", "got -1")


@pytest.mark.parametrize("cls", ["LSTM", "LSTMCell"])
def test_bad_forget_bias(cls: str) -> None:
    expect(
        TypeError,
        lambda: make(cls, forget_bias="1.0"),
        f"{cls}: forget_bias must be a float",
        "got str '1.0'",
    )
    expect(TypeError, lambda: make(cls, forget_bias=None), "forget_bias must be a float", "got NoneType None")
    expect(ValueError, lambda: make(cls, forget_bias=math.nan), "forget_bias must be finite", "got nan")
    expect(ValueError, lambda: make(cls, forget_bias=-math.inf), "forget_bias must be finite", "got -inf")


@pytest.mark.parametrize("padding_idx", [5, 6, -6, 100])
def test_padding_idx_out_of_range(padding_idx: int) -> None:
    expect(
        ValueError,
        lambda: nn.Embedding(5, H, padding_idx=padding_idx),
        "Embedding: padding_idx must be an int in [-5, 5)",
        f"got {padding_idx}",
    )


@pytest.mark.parametrize(
    ("padding_idx", "shown"), [(1.5, "float 1.5"), (True, "bool True"), ("0", "str '0'")]
)
def test_padding_idx_wrong_type(padding_idx: Any, shown: str) -> None:
    expect(
        TypeError,
        lambda: nn.Embedding(5, H, padding_idx=padding_idx),
        "Embedding: padding_idx must be None or an int in [-5, 5)",
        f"got {shown}",
    )


def test_negative_padding_idx_is_normalised() -> None:
    assert nn.Embedding(5, H, padding_idx=-1, rng=0).padding_idx == 4


@pytest.mark.parametrize(
    ("ignore_index", "shown"),
    [(1.5, "float 1.5"), (True, "bool True"), ("-100", "str '-100'"), (None, "NoneType None")],
)
def test_cross_entropy_bad_ignore_index(ignore_index: Any, shown: str) -> None:
    expect(
        TypeError,
        lambda: nn.CrossEntropyLoss(ignore_index=ignore_index),
        "CrossEntropyLoss: ignore_index must be an int",
        f"got {shown}",
    )


def test_cross_entropy_bad_reduction() -> None:
    expect(
        ValueError,
        lambda: nn.CrossEntropyLoss(reduction="avg"),
        "CrossEntropyLoss: reduction must be one of 'mean', 'sum', 'none'",
        "got 'avg'",
    )
    expect(
        TypeError,
        lambda: nn.CrossEntropyLoss(reduction=None),
        "CrossEntropyLoss: reduction must be a str",
        "'mean', 'sum', 'none'",
        "got NoneType None",
    )
    expect(
        TypeError,
        lambda: nn.CrossEntropyLoss(reduction=np.array(["mean", "sum"])),
        "reduction must be a str",
        "got ndarray",
    )


# ---------------------------------------------------------------- recurrent forward
@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("shape", [(IN,), (T, B, IN, 1), (T, B, 1, IN), ()])
def test_recurrent_x_wrong_rank(cls: str, shape: tuple) -> None:
    m = make(cls)
    shown = str(shape)
    expect(
        ValueError,
        lambda: m(x_seq(shape=shape)),
        f"{cls}.forward: x must have shape (T, B, {IN})",
        f"(input_size={IN}",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("shape", "shown"),
    [
        ((T, B, IN + 1), f"({T}, {B}, {IN + 1})"),
        ((T, B, IN - 1), f"({T}, {B}, {IN - 1})"),
        ((T, IN + 2), f"({T}, {IN + 2})"),
    ],
)
def test_recurrent_x_wrong_last_dim(cls: str, shape: tuple, shown: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(shape=shape)),
        f"{cls}.forward: x must have shape (T, B, {IN})",
        f"(input_size={IN}",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_x_wrong_last_dim_batch_first(cls: str) -> None:
    m = make(cls, batch_first=True)
    expect(
        ValueError,
        lambda: m(x_seq(shape=(B, T, IN + 1))),
        f"x must have shape (B, T, {IN})",
        "batch_first=True",
        f"got ({B}, {T}, {IN + 1})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("module_dtype", "x_dtype"),
    [
        (F32, F64),
        (F64, F32),
        (F32, np.int64),
        (F32, np.int32),
        (F64, np.float16),
        (F32, bool),
        (F32, np.complex64),
    ],
)
def test_recurrent_x_wrong_dtype(cls: str, module_dtype: Any, x_dtype: Any) -> None:
    m = make(cls, dtype=module_dtype)
    x = x_seq(F64).astype(x_dtype)
    expect(
        TypeError,
        lambda: m(x),
        f"{cls}.forward: x must have dtype {np.dtype(module_dtype)}",
        f"got {np.dtype(x_dtype)}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("shape", [(0, B, IN), (T, 0, IN), (0, IN)])
def test_recurrent_empty_time_or_batch(cls: str, shape: tuple) -> None:
    m = make(cls)
    shown = str(shape)
    expect(
        ValueError,
        lambda: m(np.zeros(shape, F32)),
        f"{cls}.forward: x must have at least one time step",
        "T >= 1, B >= 1",
        f"got shape {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_empty_batch_first(cls: str) -> None:
    m = make(cls, batch_first=True)
    expect(
        ValueError,
        lambda: m(np.zeros((0, T, IN), F32)),
        "x must have at least one time step",
        f"got shape (0, {T}, {IN})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_x_torch_tensor(cls: str) -> None:
    m = make(cls)
    x = torch.zeros(T, B, IN)
    expect(TypeError, lambda: m(x), f"{cls}.forward: x must be a numpy.ndarray", "got a torch tensor")
    expect(
        TypeError,
        lambda: m(torch.zeros(T, B, IN, requires_grad=True)),
        "x must be a numpy.ndarray",
        "got a torch tensor",
    )
    expect(
        TypeError,
        lambda: m([x[t] for t in range(T)]),
        "x must be a numpy.ndarray",
        "got a list containing torch tensors",
    )
    nested = [[torch.zeros(IN, requires_grad=True)] * B] * T
    expect(TypeError, lambda: m(nested), "x must be a numpy.ndarray", "got a list containing torch tensors")


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_x_not_array_like(cls: str) -> None:
    m = make(cls)
    expect(
        TypeError, lambda: m(None), f"{cls}.forward: x must be a numpy.ndarray of dtype float32", "got None"
    )
    expect(
        ValueError,
        lambda: m([[[0.0] * IN], [[0.0] * IN] * 2]),
        "x must be a numpy.ndarray",
        "regular (rectangular) shape",
        "got a ragged list",
    )
    expect(TypeError, lambda: m([[["a"] * IN] * B] * T), "x must have dtype float32", "got <U1")
    expect(TypeError, lambda: m(x_seq().astype(object)), "x must have dtype float32", "got object")


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_x_nested_list_of_numbers_is_accepted(cls: str) -> None:
    m = make(cls)
    out, _ = m(x_seq(F64).tolist())
    assert out.dtype == np.float32 and out.shape == (T, B, H)


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("kwargs", "bad", "good"),
    [
        ({}, (2, B, H), (1, B, H)),  # wrong num_layers * num_directions
        ({"num_layers": 2}, (1, B, H), (2, B, H)),
        ({"bidirectional": True}, (1, B, H), (2, B, H)),
        ({"num_layers": 2, "bidirectional": True}, (2, B, H), (4, B, H)),
        ({}, (1, B + 1, H), (1, B, H)),  # wrong batch
        ({}, (1, B, H + 1), (1, B, H)),  # wrong hidden
        ({}, (B, H), (1, B, H)),  # wrong rank
    ],
)
def test_recurrent_hx_wrong_shape(cls: str, kwargs: dict, bad: tuple, good: tuple) -> None:
    m = make(cls, **kwargs)
    x = x_seq()
    exp = str(good)
    got = str(bad)
    note = "(num_layers * num_directions, batch, hidden_size)"
    if cls == "LSTM":
        expect(
            ValueError,
            lambda: m(x, (state(bad), state(good))),
            f"{cls}.forward: h0 must have shape {exp}",
            note,
            f"got {got}",
        )
        expect(
            ValueError,
            lambda: m(x, (state(good), state(bad))),
            f"{cls}.forward: c0 must have shape {exp}",
            note,
            f"got {got}",
        )
    else:
        expect(
            ValueError,
            lambda: m(x, state(bad)),
            f"{cls}.forward: h0 must have shape {exp}",
            note,
            f"got {got}",
        )
    m(x, hx_for(cls, state(good)))  # the right shape works


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(("module_dtype", "h_dtype"), [(F32, F64), (F64, F32), (F32, np.int64)])
def test_recurrent_hx_wrong_dtype(cls: str, module_dtype: Any, h_dtype: Any) -> None:
    m = make(cls, dtype=module_dtype)
    x = x_seq(module_dtype)
    bad, good = state(dtype=h_dtype), state(dtype=module_dtype)
    exp, got = f"must have dtype {np.dtype(module_dtype)}", f"got {np.dtype(h_dtype)}"
    if cls == "LSTM":
        expect(TypeError, lambda: m(x, (bad, good)), f"{cls}.forward: h0 {exp}", got)
        expect(TypeError, lambda: m(x, (good, bad)), f"{cls}.forward: c0 {exp}", got)
    else:
        expect(TypeError, lambda: m(x, bad), f"{cls}.forward: h0 {exp}", got)


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_hx_torch_tensor(cls: str) -> None:
    m = make(cls)
    h = torch.zeros(1, B, H)
    hx = (h, h) if cls == "LSTM" else h
    expect(
        TypeError, lambda: m(x_seq(), hx), f"{cls}.forward: h0 must be a numpy.ndarray", "got a torch tensor"
    )


def test_lstm_hx_not_a_pair() -> None:
    m = make("LSTM")
    x, h = x_seq(), state()
    expect(TypeError, lambda: m(x, h), "LSTM.forward: hx must be a tuple (h0, c0) for LSTM", "got ndarray")
    expect(TypeError, lambda: m(x, (h,)), "hx must be a tuple (h0, c0)", "got a tuple of length 1")
    expect(TypeError, lambda: m(x, (h, h, h)), "hx must be a tuple (h0, c0)", "got a tuple of length 3")
    expect(TypeError, lambda: m(x, {"h0": h, "c0": h}), "hx must be a tuple (h0, c0)", "got dict")
    expect(TypeError, lambda: m(x, (None, h)), "h0 must be a numpy.ndarray", "got None")


@pytest.mark.parametrize("cls", ["GRU", "RNN"])
def test_gru_rnn_hx_given_as_tuple(cls: str) -> None:
    m = make(cls)
    h = state()
    expect(
        TypeError,
        lambda: m(x_seq(), (h, h)),
        f"{cls}.forward: hx must be a single array h0 for {cls}",
        "got a tuple",
    )
    expect(TypeError, lambda: m(x_seq(), (h,)), "hx must be a single array h0", "got a tuple")


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_hx_batched_but_x_unbatched(cls: str) -> None:
    m = make(cls)
    x = x_seq(shape=(T, IN))
    expect(
        ValueError,
        lambda: m(x, hx_for(cls, state((1, B, H)))),
        f"{cls}.forward: h0 must have shape (1, {H})",
        "hidden_size for unbatched input",
        f"got (1, {B}, {H})",
    )
    expect(
        ValueError,
        lambda: m(x, hx_for(cls, state((1, 1, H)))),
        f"h0 must have shape (1, {H})",
        f"got (1, 1, {H})",
    )
    m(x, hx_for(cls, state((1, H))))


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_hx_unbatched_but_x_batched(cls: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(), hx_for(cls, state((1, H)))),
        f"{cls}.forward: h0 must have shape (1, {B}, {H})",
        "batch",
        f"got (1, {H})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_batch_first_layout_mismatch(cls: str) -> None:
    m = make(cls, batch_first=True)
    x_time_major = x_seq(shape=(T, B, IN))  # (T, B, D) given to a batch_first module: read as B=T, T=B
    h = state((1, B, H))
    expect(
        ValueError,
        lambda: m(x_time_major, hx_for(cls, h)),
        f"h0 must have shape (1, {T}, {H})",
        "batch is x.shape[0] since batch_first=True",
        f"got (1, {B}, {H})",
    )
    expect(
        ValueError,
        lambda: m(x_time_major, lengths=np.full(B, T)),
        f"lengths must have shape ({T},)",
        "batch is x.shape[0] since batch_first=True",
        f"got ({B},)",
    )
    out, _ = m(x_seq(shape=(B, T, IN)), hx_for(cls, h), lengths=np.full(B, T))  # the right layout works
    assert out.shape == (B, T, H)


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_lengths_wrong_shape(cls: str) -> None:
    m = make(cls)
    x = x_seq()
    expect(
        ValueError,
        lambda: m(x, lengths=np.array([T] * (B + 1))),
        f"{cls}.forward: lengths must have shape ({B},)",
        f"got ({B + 1},)",
    )
    expect(
        ValueError,
        lambda: m(x, lengths=np.full((1, B), T)),
        f"lengths must have shape ({B},)",
        f"got (1, {B})",
    )
    expect(ValueError, lambda: m(x, lengths=T), f"lengths must have shape ({B},)", "got ()")


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("lengths", "shown"),
    [
        (np.array([3.0, 5.0]), "float64"),
        (np.array([True, True]), "bool"),
        ([3.5, 2.0], "float64"),
        (["3", "2"], "<U1"),
    ],
)
def test_recurrent_lengths_wrong_dtype(cls: str, lengths: Any, shown: str) -> None:
    m = make(cls)
    expect(
        TypeError,
        lambda: m(x_seq(), lengths=lengths),
        f"{cls}.forward: lengths must be an integer array",
        f"of shape ({B},)",
        f"got dtype {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("lengths", "shown"),
    [([0, 3], "min 0 and max 3"), ([3, T + 1], f"min 3 and max {T + 1}"), ([-1, 2], "min -1 and max 2")],
)
def test_recurrent_lengths_out_of_range(cls: str, lengths: list, shown: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(), lengths=np.array(lengths)),
        f"{cls}.forward: lengths must be in [1, {T}] (T={T})",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", RECURRENT)
def test_failed_forward_leaves_no_cache(cls: str) -> None:
    m = make(cls)
    with pytest.raises(ValueError):
        m(x_seq(), lengths=np.array([0, 1]))
    assert m._caches == []
    expect(RuntimeError, lambda: m.backward(np.zeros((T, B, H), F32)), f"{cls}.backward: no forward pass")


# ---------------------------------------------------------------- recurrent backward
@pytest.mark.parametrize("cls", RECURRENT + CELLS + ["Linear", "Embedding", "Dropout", "CrossEntropyLoss"])
def test_backward_before_forward(cls: str) -> None:
    m = {"Dropout": lambda: nn.Dropout(0.5, rng=0), "CrossEntropyLoss": nn.CrossEntropyLoss}.get(
        cls, lambda: make(cls)
    )()
    expect(
        RuntimeError,
        lambda: m.backward(np.zeros(1, F32)),
        f"{cls}.backward: no forward pass to differentiate",
        "call the module first",
    )


def _forward_once(cls: str, m: Any) -> Any:
    """Run one forward; return a matching valid upstream gradient for backward."""
    if cls in RECURRENT:
        out, _ = m(x_seq())
        return (np.ones_like(out),)
    if cls in CELLS:
        h = m(x_seq(shape=(B, IN)))
        h = h[0] if isinstance(h, tuple) else h
        return (np.ones_like(h),)
    if cls == "Linear":
        return (np.ones_like(m(x_seq(shape=(B, IN)))),)
    if cls == "Embedding":
        return (np.ones_like(m(np.array([[0, 1, 2]]))),)
    if cls == "Dropout":
        return (np.ones_like(m(np.ones((B, 3), F32))),)
    if cls == "CrossEntropyLoss":
        m(np.zeros((B, 3), F32), np.array([0, 1]))
        return ()
    raise AssertionError(cls)


@pytest.mark.parametrize("cls", RECURRENT + CELLS + ["Linear", "Embedding", "Dropout", "CrossEntropyLoss"])
def test_backward_twice_after_one_forward(cls: str) -> None:
    m = {"Dropout": lambda: nn.Dropout(0.5, rng=0), "CrossEntropyLoss": nn.CrossEntropyLoss}.get(
        cls, lambda: make(cls)
    )()
    grad = _forward_once(cls, m)
    m.backward(*grad)
    expect(
        RuntimeError,
        lambda: m.backward(*grad),
        f"{cls}.backward: no forward pass to differentiate",
        "each backward consumes one forward call",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("kwargs", "good", "bad"),
    [
        ({}, (T, B, H), (T, B, H + 1)),
        ({}, (T, B, H), (T + 1, B, H)),
        ({}, (T, B, H), (B, T, H)),
        ({}, (T, B, H), (T, B)),
        ({"batch_first": True}, (B, T, H), (T, B, H)),
        ({"bidirectional": True}, (T, B, 2 * H), (T, B, H)),
    ],
)
def test_recurrent_dout_wrong_shape(cls: str, kwargs: dict, good: tuple, bad: tuple) -> None:
    m = make(cls, **kwargs)
    m(x_seq(shape=(B, T, IN)) if kwargs.get("batch_first") else x_seq())
    exp = str(good)
    got = str(bad)
    expect(
        ValueError,
        lambda: m.backward(np.ones(bad, F32)),
        f"{cls}.backward: dout must have shape {exp}",
        "(the output's shape)",
        f"got {got}",
    )
    assert all_grads_zero(m)  # nothing accumulated by the rejected call
    m.backward(np.ones(good, F32))  # the cache survived the rejected call


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_dout_wrong_shape_unbatched(cls: str) -> None:
    m = make(cls)
    m(x_seq(shape=(T, IN)))
    expect(
        ValueError,
        lambda: m.backward(np.ones((T, 1, H), F32)),
        f"dout must have shape ({T}, {H})",
        f"got ({T}, 1, {H})",
    )


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize("dtype", [F64, np.int64, np.float16])
def test_recurrent_dout_wrong_dtype(cls: str, dtype: Any) -> None:
    m = make(cls)
    m(x_seq())
    expect(
        TypeError,
        lambda: m.backward(np.ones((T, B, H), dtype)),
        f"{cls}.backward: dout must have dtype float32",
        f"got {np.dtype(dtype)}",
    )
    expect(
        TypeError,
        lambda: m.backward(torch.ones(T, B, H)),
        "dout must be a numpy.ndarray",
        "got a torch tensor",
    )
    m.backward(np.ones((T, B, H), F32))


@pytest.mark.parametrize("cls", RECURRENT)
@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ((2, B, H), f"(2, {B}, {H})"),
        ((1, B + 1, H), f"(1, {B + 1}, {H})"),
        ((1, B, H + 1), f"(1, {B}, {H + 1})"),
        ((B, H), f"({B}, {H})"),
    ],
)
def test_recurrent_dh_n_wrong_shape(cls: str, bad: tuple, shown: str) -> None:
    m = make(cls)
    m(x_seq())
    dout, good = np.ones((T, B, H), F32), state()
    exp = f"must have shape (1, {B}, {H}) (num_layers * num_directions, batch, hidden_size)"
    if cls == "LSTM":
        expect(
            ValueError,
            lambda: m.backward(dout, (state(bad), good)),
            f"LSTM.backward: dh_n {exp}",
            f"got {shown}",
        )
        expect(
            ValueError,
            lambda: m.backward(dout, (good, state(bad))),
            f"LSTM.backward: dc_n {exp}",
            f"got {shown}",
        )
        expect(
            ValueError,
            lambda: m.backward(None, (None, state(bad))),
            f"LSTM.backward: dc_n {exp}",
            f"got {shown}",
        )
        m.backward(dout, (good, good))
    else:
        expect(
            ValueError, lambda: m.backward(dout, state(bad)), f"{cls}.backward: dh_n {exp}", f"got {shown}"
        )
        m.backward(dout, good)
    assert not all_grads_zero(m)


@pytest.mark.parametrize("cls", RECURRENT)
def test_recurrent_dh_n_wrong_dtype(cls: str) -> None:
    m = make(cls)
    m(x_seq())
    bad = state(dtype=F64)
    dh = (bad, None) if cls == "LSTM" else bad
    expect(
        TypeError,
        lambda: m.backward(None, dh),
        f"{cls}.backward: dh_n must have dtype float32",
        "got float64",
    )


def test_lstm_backward_dhx_not_a_pair() -> None:
    m = make("LSTM")
    m(x_seq())
    dout = np.ones((T, B, H), F32)
    expect(
        TypeError,
        lambda: m.backward(dout, state()),
        "LSTM.backward: dhx must be a tuple (dh_n, dc_n)",
        "got ndarray",
    )
    expect(
        TypeError,
        lambda: m.backward(dout, (state(),)),
        "dhx must be a tuple (dh_n, dc_n)",
        "got a tuple of length 1",
    )
    m.backward(dout, (state(), None))


# ---------------------------------------------------------------- cells
def _cell_h(cls: str, h: np.ndarray) -> Any:
    return (h, h.copy()) if cls == "LSTMCell" else h


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("shape", "shown"),
    [
        ((B, IN + 1), f"({B}, {IN + 1})"),
        ((T, B, IN), f"({T}, {B}, {IN})"),
        ((IN + 1,), f"({IN + 1},)"),
        ((), "()"),
    ],
)
def test_cell_x_wrong_shape(cls: str, shape: tuple, shown: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(x_seq(shape=shape)),
        f"{cls}.forward: x must have shape (B, {IN}) or ({IN},)",
        f"(input_size={IN})",
        f"got {shown}",
    )


@pytest.mark.parametrize("cls", CELLS)
def test_cell_x_empty_batch(cls: str) -> None:
    m = make(cls)
    expect(
        ValueError,
        lambda: m(np.zeros((0, IN), F32)),
        f"{cls}.forward: x must have at least one sequence",
        "B >= 1",
        f"got shape (0, {IN})",
    )


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(("module_dtype", "x_dtype"), [(F32, F64), (F64, F32), (F32, np.int64)])
def test_cell_x_wrong_dtype(cls: str, module_dtype: Any, x_dtype: Any) -> None:
    m = make(cls, dtype=module_dtype)
    expect(
        TypeError,
        lambda: m(np.zeros((B, IN), x_dtype)),
        f"{cls}.forward: x must have dtype {np.dtype(module_dtype)}",
        f"got {np.dtype(x_dtype)}",
    )
    expect(TypeError, lambda: m(torch.zeros(B, IN)), "x must be a numpy.ndarray", "got a torch tensor")


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("x_shape", "bad", "exp"),
    [
        ((B, IN), (B + 1, H), (B, H)),
        ((B, IN), (B, H + 1), (B, H)),
        ((B, IN), (H,), (B, H)),  # unbatched state with batched x
        ((IN,), (1, H), (H,)),  # batched state with unbatched x
        ((IN,), (B, H), (H,)),
    ],
)
def test_cell_hx_wrong_shape(cls: str, x_shape: tuple, bad: tuple, exp: tuple) -> None:
    m = make(cls)
    x = x_seq(shape=x_shape)
    if cls == "LSTMCell":
        good = np.zeros(exp, F32)
        expect(
            ValueError,
            lambda: m(x, (np.zeros(bad, F32), good)),
            f"{cls}.forward: h0 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
        expect(
            ValueError,
            lambda: m(x, (good, np.zeros(bad, F32))),
            f"{cls}.forward: c0 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
    else:
        expect(
            ValueError,
            lambda: m(x, np.zeros(bad, F32)),
            f"{cls}.forward: h0 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
    m(x, _cell_h(cls, np.zeros(exp, F32)))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_hx_wrong_dtype(cls: str) -> None:
    m = make(cls)
    bad = np.zeros((B, H), F64)
    expect(
        TypeError,
        lambda: m(x_seq(shape=(B, IN)), _cell_h(cls, bad)),
        f"{cls}.forward: h0 must have dtype float32",
        "got float64",
    )


def test_lstm_cell_hx_not_a_pair() -> None:
    m = make("LSTMCell")
    x, h = x_seq(shape=(B, IN)), np.zeros((B, H), F32)
    expect(TypeError, lambda: m(x, h), "LSTMCell.forward: hx must be a tuple (h0, c0)", "got ndarray")
    expect(TypeError, lambda: m(x, (h, h, h)), "hx must be a tuple (h0, c0)", "got a tuple of length 3")


@pytest.mark.parametrize("cls", ["GRUCell", "RNNCell"])
def test_gru_rnn_cell_hx_given_as_tuple(cls: str) -> None:
    m = make(cls)
    h = np.zeros((B, H), F32)
    expect(
        TypeError,
        lambda: m(x_seq(shape=(B, IN)), (h, h)),
        f"{cls}.forward: hx must be a single array h0 for {cls}",
        "got a tuple",
    )


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize(
    ("x_shape", "bad", "exp"),
    [((B, IN), (B, H + 1), (B, H)), ((B, IN), (B + 1, H), (B, H)), ((IN,), (1, H), (H,))],
)
def test_cell_backward_wrong_shape(cls: str, x_shape: tuple, bad: tuple, exp: tuple) -> None:
    m = make(cls)
    m(x_seq(shape=x_shape))
    expect(
        ValueError,
        lambda: m.backward(np.ones(bad, F32)),
        f"{cls}.backward: dh1 must have shape {str(exp)}",
        f"got {str(bad)}",
    )
    if cls == "LSTMCell":
        expect(
            ValueError,
            lambda: m.backward(None, np.ones(bad, F32)),
            f"{cls}.backward: dc1 must have shape {str(exp)}",
            f"got {str(bad)}",
        )
    assert all_grads_zero(m)
    m.backward(np.ones(exp, F32))


@pytest.mark.parametrize("cls", CELLS)
def test_cell_backward_wrong_dtype(cls: str) -> None:
    m = make(cls)
    m(x_seq(shape=(B, IN)))
    expect(
        TypeError,
        lambda: m.backward(np.ones((B, H), F64)),
        f"{cls}.backward: dh1 must have dtype float32",
        "got float64",
    )
    expect(
        TypeError, lambda: m.backward(np.ones((B, H), np.int64)), "dh1 must have dtype float32", "got int64"
    )


# ---------------------------------------------------------------- Linear / Embedding
def test_linear_forward_bad_x() -> None:
    m = make("Linear")
    expect(
        ValueError,
        lambda: m(np.zeros((B, IN + 1), F32)),
        f"Linear.forward: x must have shape (..., {IN})",
        f"(in_features={IN})",
        f"got ({B}, {IN + 1})",
    )
    expect(ValueError, lambda: m(np.float32(1.0)), f"x must have shape (..., {IN})", "got ()")
    expect(
        TypeError,
        lambda: m(np.zeros((B, IN), F64)),
        "Linear.forward: x must have dtype float32",
        "got float64",
    )
    expect(TypeError, lambda: m(np.zeros((B, IN), np.int64)), "x must have dtype float32", "got int64")
    expect(TypeError, lambda: m(torch.zeros(B, IN)), "x must be a numpy.ndarray", "got a torch tensor")


def test_linear_backward_bad_dy() -> None:
    m = make("Linear")
    m(np.zeros((T, B, IN), F32))
    expect(
        ValueError,
        lambda: m.backward(np.ones((T, B, 4), F32)),
        f"Linear.backward: dy must have shape ({T}, {B}, 5)",
        "(the output's shape)",
        f"got ({T}, {B}, 4)",
    )
    expect(
        ValueError,
        lambda: m.backward(np.ones((B, 5), F32)),
        f"dy must have shape ({T}, {B}, 5)",
        f"got ({B}, 5)",
    )
    expect(
        TypeError,
        lambda: m.backward(np.ones((T, B, 5), F64)),
        "Linear.backward: dy must have dtype float32",
        "got float64",
    )
    assert all_grads_zero(m)
    m.backward(np.ones((T, B, 5), F32))


@pytest.mark.parametrize(
    "ids", [np.array([0.0, 1.0]), np.array([[1.5]]), [0.0, 2.0], np.array([True, False])]
)
def test_embedding_non_integer_ids(ids: Any) -> None:
    m = make("Embedding")
    expect(
        TypeError,
        lambda: m(ids),
        "Embedding.forward: ids must be an integer array",
        f"got dtype {np.asarray(ids).dtype}",
    )


@pytest.mark.parametrize(
    ("ids", "bad"), [([0, -1, 2], -1), ([[0, 5]], 5), ([7], 7), (np.array([4, 2**40]), 2**40)]
)
def test_embedding_ids_out_of_range(ids: Any, bad: int) -> None:
    m = make("Embedding")
    expect(
        ValueError,
        lambda: m(np.asarray(ids)),
        "Embedding.forward: ids must be in [0, 5) (num_embeddings=5)",
        f"got {bad}",
    )


def test_embedding_ids_not_array_like() -> None:
    m = make("Embedding")
    expect(
        ValueError,
        lambda: m([[0, 1], [2]]),
        "ids must be an integer array",
        "regular (rectangular) shape",
        "got a ragged list",
    )
    expect(TypeError, lambda: m(None), "ids must be an integer array", "got None")
    expect(
        TypeError,
        lambda: m([torch.tensor(1), torch.tensor(2)]),
        "ids must be an integer array",
        "got a list containing torch tensors",
    )


def test_embedding_backward_bad_de() -> None:
    m = make("Embedding")
    m(np.array([[0, 1, 2], [3, 4, 0]]))
    expect(
        ValueError,
        lambda: m.backward(np.ones((2, 3, H + 1), F32)),
        f"Embedding.backward: de must have shape (2, 3, {H})",
        "(the output's shape)",
        f"got (2, 3, {H + 1})",
    )
    expect(
        ValueError,
        lambda: m.backward(np.ones((6, H), F32)),
        f"de must have shape (2, 3, {H})",
        f"got (6, {H})",
    )
    expect(
        TypeError,
        lambda: m.backward(np.ones((2, 3, H), F64)),
        "Embedding.backward: de must have dtype float32",
        "got float64",
    )
    assert all_grads_zero(m)
    m.backward(np.ones((2, 3, H), F32))


# ---------------------------------------------------------------- Dropout
def test_dropout_forward_bad_x() -> None:
    d = nn.Dropout(0.5, rng=0)
    expect(
        TypeError,
        lambda: d(np.ones((2, 3), np.int64)),
        "Dropout.forward: x must be a float array",
        "got dtype int64",
    )
    expect(TypeError, lambda: d(None), "Dropout.forward: x must be a float array", "got None")
    expect(TypeError, lambda: d(torch.ones(2, 3)), "x must be a float array", "got a torch tensor")


def test_dropout_backward_bad_dy() -> None:
    d = nn.Dropout(0.5, rng=0)
    d(np.ones((2, 3), F32))
    expect(
        ValueError,
        lambda: d.backward(np.ones((3, 2), F32)),
        "Dropout.backward: dy must have shape (2, 3)",
        "(the output's shape)",
        "got (3, 2)",
    )
    expect(
        TypeError,
        lambda: d.backward(np.ones((2, 3), F64)),
        "Dropout.backward: dy must have dtype float32",
        "got float64",
    )
    expect(
        TypeError, lambda: d.backward(np.ones((2, 3), np.int64)), "dy must have dtype float32", "got int64"
    )
    d.backward(np.ones((2, 3), F32))


# ---------------------------------------------------------------- CrossEntropyLoss
def test_cross_entropy_float_targets() -> None:
    ce = nn.CrossEntropyLoss()
    expect(
        TypeError,
        lambda: ce(np.zeros((2, 3), F32), np.array([0.0, 1.0])),
        "CrossEntropyLoss.forward: target must be an integer array of class indices",
        "got dtype float64",
    )
    expect(
        TypeError,
        lambda: ce(np.zeros((2, 3), F32), np.array([True, False])),
        "target must be an integer array",
        "got dtype bool",
    )


@pytest.mark.parametrize(("target", "bad"), [([0, 3], 3), ([-1, 0], -1), ([5, 1], 5), ([0, -99], -99)])
def test_cross_entropy_target_out_of_range(target: list, bad: int) -> None:
    ce = nn.CrossEntropyLoss()
    expect(
        ValueError,
        lambda: ce(np.zeros((2, 3), F32), np.array(target)),
        "CrossEntropyLoss.forward: target values must be in [0, 3) or ignore_index=-100",
        f"got {bad}",
    )


def test_cross_entropy_ignore_index_is_allowed() -> None:
    loss = nn.CrossEntropyLoss()(np.zeros((3, 3), F32), np.array([0, -100, 2]))
    assert np.isfinite(loss)
    loss = nn.CrossEntropyLoss(ignore_index=7)(np.zeros((3, 3), F32), np.array([7, 1, 2]))
    assert np.isfinite(loss)
    ce = nn.CrossEntropyLoss(ignore_index=7)
    expect(ValueError, lambda: ce(np.zeros((2, 3), F32), np.array([-100, 0])), "ignore_index=7", "got -100")


@pytest.mark.parametrize(
    ("logits_shape", "target_shape", "exp"),
    [
        ((2, 3), (3,), "(2,)"),
        ((2, 3), (2, 1), "(2,)"),
        ((2, 3), (), "(2,)"),
        ((2, 3, 4), (2,), "(2, 4)"),
        ((2, 3, 4), (2, 5), "(2, 4)"),
        ((3,), (1,), "()"),
    ],
)
def test_cross_entropy_target_shape_mismatch(logits_shape: tuple, target_shape: tuple, exp: str) -> None:
    ce = nn.CrossEntropyLoss()
    got = str(target_shape)
    expect(
        ValueError,
        lambda: ce(np.zeros(logits_shape, F32), np.zeros(target_shape, np.int64)),
        f"CrossEntropyLoss.forward: target must have shape {exp}",
        f"got {got}",
    )


@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool, np.complex64])
def test_cross_entropy_logits_not_float(dtype: Any) -> None:
    ce = nn.CrossEntropyLoss()
    expect(
        TypeError,
        lambda: ce(np.zeros((2, 3), dtype), np.array([0, 1])),
        "CrossEntropyLoss.forward: logits must be a float array",
        f"got dtype {np.dtype(dtype)}",
    )


def test_cross_entropy_degenerate_logits() -> None:
    ce = nn.CrossEntropyLoss()
    expect(
        ValueError,
        lambda: ce(np.float32(0.0), np.array(0)),
        "logits must have shape (N, C) or (C,)",
        "got a scalar",
    )
    expect(
        ValueError,
        lambda: ce(np.zeros((2, 0), F32), np.array([-100, -100])),
        "logits must have at least one class (C >= 1)",
        "got shape (2, 0)",
    )
    expect(
        TypeError,
        lambda: ce(torch.zeros(2, 3), np.array([0, 1])),
        "logits must be a float array",
        "got a torch tensor",
    )


def test_cross_entropy_backward_bad_dloss() -> None:
    ce = nn.CrossEntropyLoss(reduction="none")
    ce(np.zeros((2, 3), F32), np.array([0, 1]))
    expect(
        ValueError,
        lambda: ce.backward(np.ones(3, F32)),
        "CrossEntropyLoss.backward: dloss must have shape (2,)",
        "(the loss's shape)",
        "got (3,)",
    )
    expect(ValueError, lambda: ce.backward(1.0), "dloss must have shape (2,)", "got ()")
    expect(
        TypeError,
        lambda: ce.backward("a"),
        "CrossEntropyLoss.backward: dloss must be a float scalar or array",
        "got dtype <U1",
    )
    assert ce.backward(np.ones(2, F32)).shape == (2, 3)

    ce = nn.CrossEntropyLoss()
    ce(np.zeros((2, 3), F32), np.array([0, 1]))
    expect(
        ValueError,
        lambda: ce.backward(np.ones(2, F32)),
        "CrossEntropyLoss.backward: dloss must be a scalar (reduction='mean')",
        "got shape (2,)",
    )
    expect(TypeError, lambda: ce.backward(None), "dloss must be a float scalar or array", "got None")
    assert ce.backward().shape == (2, 3)


# ---------------------------------------------------------------- load_state_dict
STATE_MODULES = ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "Linear", "Embedding"]


def _snapshot(m: nn.Module) -> dict:
    return {k: v.copy() for k, v in m.state_dict().items()}


def _assert_unchanged(m: nn.Module, before: dict) -> None:
    after = m.state_dict()
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


@pytest.mark.parametrize("cls", STATE_MODULES)
def test_load_state_dict_missing_keys(cls: str) -> None:
    m = make(cls)
    sd = m.state_dict()
    removed = list(sd)[-1]
    del sd[removed]
    before = _snapshot(m)
    expect(
        ValueError,
        lambda: m.load_state_dict({k: v + 1 for k, v in sd.items()}),
        f"{cls}.load_state_dict: missing keys",
        repr([removed]),
    )
    _assert_unchanged(m, before)


@pytest.mark.parametrize("cls", STATE_MODULES)
def test_load_state_dict_unexpected_keys(cls: str) -> None:
    m = make(cls)
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    sd["bogus"] = np.zeros(3)
    sd["other.weight"] = np.zeros(3)
    before = _snapshot(m)
    expect(
        ValueError,
        lambda: m.load_state_dict(sd),
        f"{cls}.load_state_dict: unexpected keys",
        repr(["bogus", "other.weight"]),
    )
    _assert_unchanged(m, before)


def test_load_state_dict_missing_and_unexpected_both_listed() -> None:
    m = make("GRU")
    sd = m.state_dict()
    del sd["bias_hh_l0"]
    sd["bias_hh_l1"] = np.zeros(3 * H)
    expect(
        ValueError,
        lambda: m.load_state_dict(sd),
        "GRU.load_state_dict: missing keys ['bias_hh_l0']",
        "unexpected keys ['bias_hh_l1']",
    )


@pytest.mark.parametrize("cls", STATE_MODULES)
def test_load_state_dict_misshaped_value(cls: str) -> None:
    m = make(cls)
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    key = list(sd)[
        -1
    ]  # the last key: every earlier key would already have been written without pre-validation
    good_shape = sd[key].shape
    bad_shape = good_shape[:-1] + (good_shape[-1] + 1,)
    sd[key] = np.zeros(bad_shape)
    before = _snapshot(m)
    expect(
        ValueError,
        lambda: m.load_state_dict(sd),
        f"{cls}.load_state_dict: state_dict[{key!r}] must have shape {good_shape}",
        f"got {bad_shape}",
    )
    _assert_unchanged(m, before)
    sd[key] = np.zeros(good_shape[::-1] if len(good_shape) == 2 else good_shape + (1,))
    expect(
        ValueError,
        lambda: m.load_state_dict(sd),
        f"state_dict[{key!r}] must have shape {good_shape}",
        f"got {sd[key].shape}",
    )
    _assert_unchanged(m, before)


@pytest.mark.parametrize("cls", STATE_MODULES)
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "dtype <U3"),
        (None, "NoneType"),
        (object(), "object"),
        ("complex", "dtype complex128"),
        ("bool", "dtype bool"),
        ("strings", "dtype <U1"),
        ("ragged", "list"),
    ],
)
def test_load_state_dict_non_numeric_value(cls: str, value: Any, shown: str) -> None:
    m = make(cls)
    sd = {k: v + 1 for k, v in m.state_dict().items()}
    key = list(sd)[-1]
    shape = sd[key].shape
    value = (
        {
            "complex": np.zeros(shape, complex),
            "bool": np.zeros(shape, bool),
            "strings": np.full(shape, "a"),
            "ragged": [[0.0], [0.0, 1.0]],
        }.get(value, value)
        if isinstance(value, str) and value != "abc"
        else value
    )
    sd[key] = value
    before = _snapshot(m)
    expect(
        TypeError,
        lambda: m.load_state_dict(sd),
        f"{cls}.load_state_dict: state_dict[{key!r}] must be a numeric",
        f"got {shown}",
    )
    _assert_unchanged(m, before)


@pytest.mark.parametrize("cls", ["LSTM", "Linear"])
@pytest.mark.parametrize(
    ("arg", "shown"),
    [([("weight", np.zeros(3))], "list"), (None, "NoneType"), (np.zeros(3), "ndarray"), ("weight", "str")],
)
def test_load_state_dict_not_a_mapping(cls: str, arg: Any, shown: str) -> None:
    m = make(cls)
    expect(
        TypeError,
        lambda: m.load_state_dict(arg),
        f"{cls}.load_state_dict: state_dict must be a mapping",
        f"got {shown}",
    )


def test_load_state_dict_strict_must_be_bool() -> None:
    m = make("Linear")
    expect(
        TypeError,
        lambda: m.load_state_dict(m.state_dict(), strict="no"),
        "Linear.load_state_dict: strict must be a bool",
        "got str 'no'",
    )


@pytest.mark.parametrize("cls", STATE_MODULES)
def test_load_state_dict_non_strict_allows_missing_and_unexpected(cls: str) -> None:
    m = make(cls)
    before = _snapshot(m)
    first = list(before)[0]
    new = before[first] + 1
    m.load_state_dict({first: new, "bogus": np.zeros(3)}, strict=False)
    after = m.state_dict()
    np.testing.assert_array_equal(after[first], new)
    for k in list(before)[1:]:
        np.testing.assert_array_equal(after[k], before[k])
    m.load_state_dict({}, strict=False)  # nothing at all is fine too
    # shapes are still checked without strict, and nothing is written on failure
    snap = _snapshot(m)
    bad = {first: before[first] + 2, list(before)[-1]: np.zeros((1, 1, 1))}
    expect(
        ValueError,
        lambda: m.load_state_dict(bad, strict=False),
        f"state_dict[{list(before)[-1]!r}] must have shape",
        "got (1, 1, 1)",
    )
    _assert_unchanged(m, snap)


def test_load_state_dict_accepts_torch_and_casts() -> None:
    m = make("Linear")
    sd = {k: torch.from_numpy(v.astype(F64) + 1).requires_grad_() for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert m.weight.dtype == np.float32
    np.testing.assert_allclose(m.weight.data, sd["weight"].detach().numpy(), rtol=1e-6)


# ---------------------------------------------------------------- gradient clipping
def _params() -> list[nn.Parameter]:
    ps = [nn.Parameter(np.zeros((2, 3), F32)), nn.Parameter(np.zeros(4, F32))]
    ps[0].grad[...] = 3.0
    ps[1].grad[...] = -2.0
    return ps


CLIPPERS = [
    ("clip_grad_norm_", lambda p: utils.clip_grad_norm_(p, 1.0)),
    ("clip_grad_value_", lambda p: utils.clip_grad_value_(p, 1.0)),
]


@pytest.mark.parametrize(("name", "clip"), CLIPPERS)
def test_clip_non_parameter_items(name: str, clip: Callable) -> None:
    ps = _params()
    expect(
        TypeError,
        lambda: clip([ps[0], ps[1].grad]),
        f"{name}: parameters must all be Parameters",
        "got ndarray at index 1",
    )
    expect(
        TypeError, lambda: clip([ps[0], None]), "parameters must all be Parameters", "got NoneType at index 1"
    )
    expect(
        TypeError,
        lambda: clip(np.float32(2.0)),
        f"{name}: parameters must be a Parameter or an iterable of Parameters",
        "got float32",
    )
    expect(TypeError, lambda: clip(5), "parameters must be a Parameter or an iterable", "got int")
    expect(
        TypeError, lambda: clip(make("Linear")), "parameters must be a Parameter or an iterable", "got Linear"
    )
    expect(TypeError, lambda: clip("weight"), "parameters must be a Parameter or an iterable", "got str")
    np.testing.assert_array_equal(ps[0].grad, 3.0)  # nothing clipped


@pytest.mark.parametrize("value", [-1.0, -1e-9, -3])
def test_clip_value_negative(value: float) -> None:
    ps = _params()
    expect(
        ValueError,
        lambda: utils.clip_grad_value_(ps, value),
        "clip_grad_value_: clip_value must be a float >= 0",
        f"got {float(value)}",
    )
    np.testing.assert_array_equal(ps[0].grad, 3.0)


def test_clip_value_bad_type_or_nan() -> None:
    ps = _params()
    expect(
        TypeError,
        lambda: utils.clip_grad_value_(ps, "1"),
        "clip_grad_value_: clip_value must be a float",
        "got str '1'",
    )
    expect(
        TypeError, lambda: utils.clip_grad_value_(ps, None), "clip_value must be a float", "got NoneType None"
    )
    expect(ValueError, lambda: utils.clip_grad_value_(ps, math.nan), "clip_value must not be NaN", "got nan")
    np.testing.assert_array_equal(ps[1].grad, -2.0)


@pytest.mark.parametrize("norm_type", [0, 0.0, -1.0, -math.inf])
@pytest.mark.parametrize("empty", [False, True])
def test_clip_norm_type_not_positive(norm_type: float, empty: bool) -> None:
    ps = [] if empty else _params()
    expect(
        ValueError,
        lambda: utils.clip_grad_norm_(ps, 1.0, norm_type=norm_type),
        "clip_grad_norm_: norm_type must be > 0 or inf",
        f"got {float(norm_type)}",
    )
    if ps:
        np.testing.assert_array_equal(ps[0].grad, 3.0)


def test_clip_norm_bad_arguments() -> None:
    ps = _params()
    expect(
        ValueError,
        lambda: utils.clip_grad_norm_(ps, 1.0, norm_type=math.nan),
        "norm_type must not be NaN",
        "got nan",
    )
    expect(
        TypeError,
        lambda: utils.clip_grad_norm_(ps, 1.0, norm_type="2"),
        "clip_grad_norm_: norm_type must be a float",
        "got str '2'",
    )
    expect(
        ValueError,
        lambda: utils.clip_grad_norm_(ps, -1.0),
        "clip_grad_norm_: max_norm must be >= 0",
        "got -1.0",
    )
    expect(
        TypeError,
        lambda: utils.clip_grad_norm_(ps, "1"),
        "clip_grad_norm_: max_norm must be a float",
        "got str '1'",
    )
    expect(ValueError, lambda: utils.clip_grad_norm_(ps, math.nan), "max_norm must not be NaN", "got nan")
    np.testing.assert_array_equal(ps[0].grad, 3.0)
    assert utils.clip_grad_norm_(ps, 1.0, norm_type=math.inf) == pytest.approx(3.0)
