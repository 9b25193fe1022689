"""Bad constructor arguments of the nn modules are rejected with a clear exception.

``expect`` (tests/bad_input.py) checks the exact exception class, the message fragments (argument, expected,
actual) in order, and that the error is raised by bptt's own validation in ``src/bptt/nn``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import bptt.nn as nn
from bad_input import CELLS, F32, IN, RECURRENT, H, expect, make

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
