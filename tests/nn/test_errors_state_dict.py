"""``Module.load_state_dict`` rejects bad state dicts with a clear exception and leaves the module unchanged.

``expect`` (tests/bad_input.py) checks the exact exception class, the message fragments in order, and that the
error is raised by bptt's own validation in ``src/bptt/nn``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import bptt.nn as nn
from bad_input import H, expect, make

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
