"""The textbook tier reads like the seed: named assignments in the seed's order, one equation per line.

The source of each reference ``step_backward`` is parsed with :mod:`ast`: the sequence of assignment targets
must contain the seed's quantities in the seed's order (seed 000: dHt, dOt, dCt, dCprojt, dFt, dIt, dHX,
dC_next), each assigned exactly once, on a line whose comment names the seed's quantity and figures. The
modules must not use the fast tier's devices: ``out=`` buffers, in-place augmented assignments, a sigmoid
through ``tanh``, or imports of the fast modules.
"""

from __future__ import annotations

import ast
import inspect
import re

import numpy as np
import pytest

from bptt.functional import reference
from bptt.functional.reference import common, cross_entropy, gru, ln_lstm, lstm, mlstm, mlstm_parallel, rnn, slstm

MODULES = [common, cross_entropy, gru, ln_lstm, lstm, mlstm, mlstm_parallel, rnn, slstm]

#: (target name, what its line's comment must contain), in the seed's order
LSTM_SEED = [("dh", r"dHt \(figs 12-14\)"), ("do", r"dOt \(figs 15-17\)"), ("dc", r"dCt \(figs 18-19\)"),
             ("dg", r"dCprojt \(figs 20-22\)"), ("df", r"dFt \(figs 23-25\)"), ("di", r"dIt \(figs 26-28\)"),
             ("dz", r"dHX \(figs 29-30\)"), ("dx", r"dxt"), ("dh_next", r"dh_next"),
             ("dc_next", r"dC_next \(fig 31\)")]


def assignments(func) -> list[tuple[str, int]]:
    """``(target name, line number)`` of every assignment in ``func``'s body, in source order (tuple
    targets give one entry per name)."""
    source = inspect.getsource(func)
    tree = ast.parse(source)
    out: list[tuple[str, int]] = []

    def names(target: ast.expr) -> list[str]:
        if isinstance(target, ast.Name):
            return [target.id]
        if isinstance(target, (ast.Tuple, ast.List)):
            return [n for e in target.elts for n in names(e)]
        return []

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                out += [(n, node.lineno) for n in names(t)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            out += [(n, node.lineno) for n in names(node.target)]
    return sorted(out, key=lambda e: e[1])


def assert_in_order(func, wanted: list[str], once: bool = True) -> list[tuple[str, int]]:
    """The first assignments of ``wanted`` are in that order (and, with ``once``, the only ones)."""
    targets = assignments(func)
    order = [n for n, _ in targets]
    for name in wanted:
        assert name in order, f"{func.__qualname__}: {name} is never assigned"
        if once:
            assert order.count(name) == 1, f"{func.__qualname__}: {name} assigned {order.count(name)} times"
    positions = [order.index(n) for n in wanted]
    assert positions == sorted(positions), (
        f"{func.__qualname__}: assignments in the order {[order[p] for p in sorted(positions)]}, want {wanted}"
    )
    return targets


def test_lstm_step_backward_assigns_each_seed_quantity_by_name_in_the_seed_order():
    targets = assert_in_order(lstm.step_backward, [n for n, _ in LSTM_SEED])
    order = [n for n, _ in targets]
    # the gate pre-activation gradients come between dh and dz, each after its gate's gradient
    for gate, da in [("do", "da_o"), ("dg", "da_g"), ("df", "da_f"), ("di", "da_i")]:
        assert order.index(gate) < order.index(da) < order.index("dz")
    lines, start = inspect.getsourcelines(lstm.step_backward)
    for name, comment in LSTM_SEED:
        lineno = dict(targets)[name]
        line = lines[lineno - 1]
        assert re.search(rf"^\s*{name} = .*#.*{comment}", line), f"line of {name!r} lacks {comment!r}: {line!r}"


@pytest.mark.parametrize("func,wanted", [
    (ln_lstm.step_backward, ["dh", "do", "dc", "dc_tilde", "dg", "df", "di", "da_hat", "da", "dz", "dx", "dh_next",
                             "dc_next"]),
    (gru.step_backward, ["dh", "dn", "da_n", "dz", "da_z", "dr", "da_r", "dgx", "dgh", "dx", "dh_next"]),
    (rnn.step_backward, ["dh", "da", "dz", "dx", "dh_next"]),
    (ln_lstm.layer_norm_backward, ["dxhat", "dv", "dgamma", "dbeta"]),
    (lstm.step_forward, ["z", "a", "i", "f", "g", "c", "o", "tanh_c", "r", "h"]),  # o peeks at c_t (peepholes)
    (ln_lstm.step_forward, ["z", "a", "i", "g_raw", "g", "f", "o", "c_tilde", "tanh_c", "h"]),
    (gru.step_forward, ["gx", "gh", "r", "z", "n", "h"]),
    (rnn.step_forward, ["z", "a", "h"]),
    (slstm.step_forward, ["a", "log_i", "log_f", "m", "i", "f", "z", "o", "c", "n", "h_tilde", "h"]),
    (slstm.step_backward, ["dh", "do", "da_o", "dh_tilde", "dc", "dn", "dz", "da_z", "di", "df", "dm", "dlog_i",
                           "dlog_f", "da_i", "da_f", "da", "dx", "dh_next", "dc_next", "dn_next", "dm_next"]),
    (mlstm.step_forward, ["log_f", "m", "i", "f", "C", "n", "num", "qn", "den", "h_tilde", "o", "h"]),
    (mlstm.step_backward, ["do", "da_o", "dh_tilde", "dnum", "dden", "dqn", "dm_den", "dC", "dn", "dq", "dv", "dk",
                           "di", "df", "dm", "dlog_i", "dlog_f", "da_i", "da_f", "dx", "dC_next", "dn_next",
                           "dm_next"]),
    (mlstm.project, ["q", "k", "v", "a_i", "a_f", "a_o"]),
    (mlstm_parallel.head_forward, ["F", "log_D", "log_w0", "m", "D", "w0", "QK", "Ct", "qn", "den", "num", "h_tilde",
                                   "C_T", "n_T"]),
    (mlstm_parallel.head_backward, ["dnum", "dden", "dqn", "dm_den", "dCt", "dv", "dw0", "dQK", "dD", "dq", "dk",
                                    "dlog_D", "dlog_w0", "dm", "dlog_i", "dF", "dlog_f", "dC0", "dn0", "dm0"]),
])
def test_other_steps_assign_their_quantities_by_name_in_order(func, wanted):
    assert_in_order(func, wanted, once=False)  # with/without layer norm: some names have one line per branch


@pytest.mark.parametrize("module", [gru, ln_lstm, lstm, rnn, slstm, mlstm])
def test_step_grads_fields_are_the_assigned_names(module):
    """A recorder reads the NamedTuples by name: every field of StepGrads is a local of step_backward
    with that name, and every field of StepCache a local of step_forward (or an argument)."""
    bw = {n for n, _ in assignments(module.step_backward)} | set(inspect.signature(module.step_backward).parameters)
    fw = {n for n, _ in assignments(module.step_forward)} | set(inspect.signature(module.step_forward).parameters)
    assert set(module.StepGrads._fields) <= bw, set(module.StepGrads._fields) - bw
    assert set(module.StepCache._fields) <= fw, set(module.StepCache._fields) - fw


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_no_fast_tier_devices(module):
    tree = ast.parse(inspect.getsource(module))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.AugAssign), f"{module.__name__}:{node.lineno}: in-place '+=' style update"
        if isinstance(node, ast.keyword):
            assert node.arg != "out", f"{module.__name__}:{node.lineno}: out= buffer"
        if isinstance(node, ast.ImportFrom):  # the reference stands alone: from the fast tier only result types
            allowed = {0: {"__future__", "collections.abc", "math", "typing"}, 1: {"common"}}.get(node.level)
            if module is mlstm_parallel and node.level == 1:
                allowed = {"common", "mlstm"}  # the parallel form reads the recurrent form's projections
            if node.level == 2:
                assert all(a.name.endswith("Grads") for a in node.names), (
                    f"{module.__name__}:{node.lineno}: imports {[a.name for a in node.names]} from the fast tier"
                )
            else:
                assert node.module in allowed, f"{module.__name__}:{node.lineno}: imports from {node.module!r}"


def test_sigmoid_is_the_plain_logistic_function():
    src = inspect.getsource(common.sigmoid)
    assert "1 / (1 + np.exp(-a))" in src and "tanh" not in src.split('"""')[-1]
    a = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(common.sigmoid(a), 1 / (1 + np.exp(-a)), rtol=0, atol=0)
    assert common.sigmoid(np.array([-1000.0]))[0] == 0.0


def test_twin_signatures_are_the_fast_ones_without_ws():
    from cases.reference import TWINS
    from cases.xlstm import TWINS as XLSTM_TWINS

    for op, (fast, ref) in {**TWINS, **XLSTM_TWINS}.items():
        for fn in ("forward", "backward"):
            f_params = inspect.signature(getattr(fast, fn)).parameters
            r_params = inspect.signature(getattr(ref, fn)).parameters
            want = [(p.name, p.kind, p.default) for p in f_params.values() if p.name != "ws"]
            got = [(p.name, p.kind, p.default) for p in r_params.values()]
            assert got == want, f"{op}.{fn}: reference {got}, fast without ws {want}"


def test_package_docstring_lists_every_twin():
    doc = reference.__doc__
    for name in ("lstm", "gru", "rnn", "ln_lstm", "cross_entropy", "slstm", "mlstm", "mlstm_parallel"):
        assert f":mod:`.{name}`" in doc
    for plain in ("linear", "embedding", "dropout", "sigmoid", "tanh", "relu", "softmax", "log_softmax",
                  "attention"):
        assert plain in doc
