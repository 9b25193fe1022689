"""The recurrent ops' scratch-memory pool (``Workspace``): buffers are recycled, never handed out twice.

A buffer taken, given back and taken again with the same shape and dtype is the *same* array object; a key that
differs in shape or dtype gets a fresh array; views and non-contiguous arrays are never pooled (they share memory
with something the pool does not own); ``clear`` empties the pool and ``nbytes`` counts what it holds.
"""

from __future__ import annotations

import numpy as np
import pytest

from bptt.functional.workspace import Workspace, empty, scaled_transpose, take
from helpers import seeded_rng


def test_take_give_take_recycles_the_same_buffer():
    ws = Workspace()
    a = ws.take((3, 4), np.float64)
    assert a.shape == (3, 4) and a.dtype == np.float64 and a.flags.c_contiguous
    assert ws.nbytes() == 0
    ws.give(a)
    assert ws.nbytes() == a.nbytes == 3 * 4 * 8
    assert ws.take((3, 4), np.float64) is a
    assert ws.nbytes() == 0
    b = ws.take((3, 4), np.float64)  # the pool is empty again: a fresh array
    assert b is not a and not np.shares_memory(a, b)


def test_shape_and_dtype_are_the_key():
    ws = Workspace()
    a = ws.take((3, 4), np.float64)
    ws.give(a)
    for shape, dtype in (((4, 3), np.float64), ((12,), np.float64), ((3, 4), np.float32), ((3, 4), "<f8")):
        got = ws.take(shape, dtype)
        if shape == (3, 4) and np.dtype(dtype) == np.float64:
            assert got is a, "'<f8' is float64: the same key"
        else:
            assert got is not a and got.shape == shape and got.dtype == np.dtype(dtype)
    assert ws.nbytes() == 0


def test_a_buffer_given_twice_is_handed_out_once():
    ws = Workspace()
    a = ws.take((5,), np.float32)
    ws.give(a)
    ws.give(a, a)
    assert ws.nbytes() == a.nbytes
    first, second = ws.take((5,), np.float32), ws.take((5,), np.float32)
    assert first is a and second is not a and not np.shares_memory(first, second)


def test_several_buffers_of_one_key_are_all_kept():
    ws = Workspace()
    bufs = [ws.take((2, 2), np.float64) for _ in range(3)]
    ws.give(*bufs, None)  # None entries are skipped
    assert ws.nbytes() == 3 * bufs[0].nbytes
    again = [ws.take((2, 2), np.float64) for _ in range(3)]
    assert sorted(map(id, again)) == sorted(map(id, bufs))


def test_views_and_non_contiguous_arrays_are_not_pooled():
    ws = Workspace()
    base = np.zeros((4, 6))
    rows = base[1:3]  # a C-contiguous view of memory the pool does not own
    transposed = np.zeros((6, 4)).T  # owns its memory but is not C-contiguous
    strided = np.zeros(12)[::2]
    ws.give(rows, transposed, strided)
    assert ws.nbytes() == 0
    assert ws.take((2, 6), np.float64) is not rows
    assert not np.shares_memory(ws.take((4, 6), np.float64), transposed)
    assert not np.shares_memory(ws.take((6,), np.float64), strided)


def test_clear_and_nbytes():
    ws = Workspace()
    a, b = ws.take((10,), np.float64), ws.take((3, 5), np.float32)
    ws.give(a, b)
    assert ws.nbytes() == 10 * 8 + 15 * 4
    ws.clear()
    assert ws.nbytes() == 0
    assert ws.take((10,), np.float64) is not a


def test_empty_records_owned_buffers_only_with_a_workspace():
    owned: list[np.ndarray] = []
    fresh = empty(None, (2, 3), np.float64, owned)
    assert fresh.shape == (2, 3) and owned == []
    ws = Workspace()
    a = empty(ws, (2, 3), np.float64, owned)
    assert len(owned) == 1 and owned[0] is a
    ws.give(*owned)
    assert empty(ws, (2, 3), np.float64, []) is a


def test_take_goes_through_the_workspace_without_recording():
    fresh = take(None, (4,), np.float32)
    assert fresh.shape == (4,) and fresh.dtype == np.float32
    ws = Workspace()
    a = take(ws, (4,), np.float32)
    ws.give(a)
    assert take(ws, (4,), np.float32) is a and ws.nbytes() == 0


@pytest.mark.parametrize("shape", [(5, 7), (300, 130), (1, 1)])
def test_scaled_transpose_equals_the_plain_expression(shape):
    rng = seeded_rng("scaled_transpose", shape)
    W = rng.standard_normal(shape)
    scale = rng.standard_normal(shape[0])
    out = np.empty(shape[::-1])
    got = scaled_transpose(W, scale, out, block=128)
    assert got is out and out.flags.c_contiguous
    assert np.array_equal(out, (W * scale[:, None]).T)  # each element is one product: exact
