"""Bad input given as torch tensors (or compared with torch's own behaviour) is rejected with a clear exception.

The cases that need PyTorch, split from the NumPy-only bad-input tests in tests/nn/test_errors_*.py; ``expect``
(tests/bad_input.py) checks the exact exception class, the message fragments in order and that the error is
raised by bptt's own validation in ``src/bptt/nn``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import bptt.nn as nn
from bad_input import CELLS, F32, F64, IN, RECURRENT, B, H, T, expect, make, x_seq

pytestmark = pytest.mark.torch


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
def test_recurrent_hx_torch_tensor(cls: str) -> None:
    m = make(cls)
    h = torch.zeros(1, B, H)
    hx = (h, h) if cls == "LSTM" else h
    expect(
        TypeError, lambda: m(x_seq(), hx), f"{cls}.forward: h0 must be a numpy.ndarray", "got a torch tensor"
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


def test_load_state_dict_accepts_torch_and_casts() -> None:
    m = make("Linear")
    sd = {k: torch.from_numpy(v.astype(F64) + 1).requires_grad_() for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert m.weight.dtype == np.float32
    np.testing.assert_allclose(m.weight.data, sd["weight"].detach().numpy(), rtol=1e-6)
