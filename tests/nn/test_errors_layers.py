"""Bad input to Linear, Embedding, Dropout and CrossEntropyLoss is rejected with a clear exception.

``expect`` (tests/bad_input.py) checks the exact exception class, the message fragments (argument, expected,
actual) in order, and that the error is raised by bptt's own validation in ``src/bptt/nn``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import bptt.nn as nn
from bad_input import F32, F64, IN, B, H, T, all_grads_zero, expect, make


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
