"""Finite differences (``bptt.check_function``, central differences in float64) for every reference op.

Every float input is checked (up to 400 entries each), under a random upstream gradient of every output;
options cover lengths with both directions, the projection, ``forget_bias``, layer norm with recurrent
dropout, ReLU, and the three reductions of the cross-entropy.
"""

from __future__ import annotations

import pytest

import bptt
from cases.reference import TWINS, cross_entropy_case, recurrent_case
from helpers import seeded_rng

CASES = [
    ("lstm", {}),
    ("lstm", {"reverse": True, "lengths": True, "proj_size": 2, "forget_bias": 1.0}),
    ("lstm", {"bias": False, "forget_bias": 0.5}),
    ("lstm", {"peepholes": True, "forget_bias": 1.0}),
    ("lstm", {"peepholes": True, "proj_size": 2, "reverse": True, "lengths": True}),
    ("gru", {}),
    ("gru", {"reverse": True, "lengths": True}),
    ("rnn", {"nonlinearity": "tanh", "lengths": True}),
    ("rnn", {"nonlinearity": "relu", "reverse": True}),
    ("ln_lstm", {"layer_norm": True, "g_mask": True, "reverse": True, "lengths": True}),
    ("ln_lstm", {"layer_norm": False, "forget_bias": 1.0}),
]


@pytest.mark.parametrize("op,options", CASES, ids=[f"{op}-{i}" for i, (op, _) in enumerate(CASES)])
def test_reference_recurrent_gradcheck(op, options):
    case = recurrent_case(op, seeded_rng("ref-fd", op, sorted(options.items())), T=3, B=2, D=3, H=3, **options)
    reference = TWINS[op][1]
    report = bptt.check_function(reference.forward, reference.backward, case.args, kwargs=case.kwargs,
                                 names=case.names)
    checked = {n for n, a in zip(case.names, case.args) if a is not None}
    assert set(report.errors) == checked


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reference_cross_entropy_gradcheck(reduction):
    case = cross_entropy_case(seeded_rng("ref-fd-ce", reduction), reduction=reduction)
    reference = TWINS["cross_entropy"][1]
    report = bptt.check_function(reference.forward, reference.backward, case.args, kwargs=case.kwargs,
                                 names=case.names)
    assert set(report.errors) == {"logits"}
