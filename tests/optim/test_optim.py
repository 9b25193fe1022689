"""``bptt.optim`` without PyTorch: param groups, closures, zero_grad, bit-exact state-dict round trips and
bad input. The side-by-side parity with ``torch.optim`` lives in test_optim_torch.py.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import numpy as np
import pytest

import bptt.optim as bo
from bptt.nn import Linear, Parameter
from cases.optim import FULL, SHAPES, _rng, copy_params


def test_add_param_group_and_repr() -> None:
    a, b = Parameter(np.ones(3)), Parameter(np.ones(2))
    opt = bo.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9  # defaults fill the rest
    assert opt.param_groups[1]["params"] == [b]
    b.grad.fill(1.0)
    opt.step()
    np.testing.assert_array_equal(b.data, np.full(2, 0.5))
    np.testing.assert_array_equal(a.data, np.ones(3))  # zero grad: momentum 0 at start, no weight decay
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 1" in text and "lr: 0.5" in text


def test_module_parameters_and_closure() -> None:
    model = Linear(4, 3)
    opt = bo.Adam(model.parameters(), lr=0.1)
    assert sum(len(g["params"]) for g in opt.param_groups) == 2
    before = [p.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad.fill(0.5)
    assert opt.step(lambda: 1.25) == 1.25
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters(), strict=True))
    assert opt.step() is None


def test_zero_grad_clears_grads_in_place() -> None:
    ps = [Parameter(np.ones(s)) for s in SHAPES]
    opt = bo.RMSprop([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.1}])
    arrays = [p.grad for p in ps]
    for p in ps:
        p.grad[...] = 3.0
    opt.zero_grad()
    for p, arr in zip(ps, arrays, strict=True):
        assert p.grad is arr  # the same array (modules add into it)
        assert not p.grad.any()


@pytest.mark.parametrize("name", list(FULL))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_dict_round_trip_is_bit_exact(name: str, dtype: type) -> None:
    kw = FULL[name]
    rng = _rng("sd-init", name)
    ps = [Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]
    opt = getattr(bo, name)([{"params": ps[:2]}, {"params": ps[2:], "lr": kw["lr"] / 3}], **kw)
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(20)]

    def run(params: list[Parameter], o: Any, gs: list[list[np.ndarray]]) -> None:
        for step_grads in gs:
            for p, g in zip(params, step_grads, strict=True):
                p.grad[...] = g
            o.step()

    run(ps, opt, grads[:10])
    sd = opt.state_dict()
    snapshot = copy.deepcopy(sd)
    qs = copy_params(ps)
    new = getattr(bo, name)([{"params": qs[:2]}, {"params": qs[2:]}])  # default hyperparameters
    new.load_state_dict(sd)
    assert new.param_groups[1]["lr"] == kw["lr"] / 3 and new.param_groups[0]["lr"] == kw["lr"]
    run(ps, opt, grads[10:])
    run(qs, new, grads[10:])
    for p, q in zip(ps, qs, strict=True):
        assert p.data.dtype == q.data.dtype == dtype
        assert np.array_equal(p.data, q.data)
        for k, v in opt.state[p].items():
            assert np.array_equal(v, new.state[q][k]), k
    # the state dict was a snapshot: running on did not change it, and loading did not alias it
    for i, st in sd["state"].items():
        for k, v in st.items():
            assert np.array_equal(v, snapshot["state"][i][k])


def test_state_dict_before_any_step() -> None:
    ps = [Parameter(np.ones(3))]
    sd = bo.Adam(ps, lr=0.5).state_dict()
    assert sd["state"] == {}
    assert sd["param_groups"][0]["lr"] == 0.5 and sd["param_groups"][0]["params"] == [0]
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    new = bo.Adam(copy_params(ps))
    new.load_state_dict(sd)
    assert new.param_groups[0]["lr"] == 0.5 and new.state == {}


def _stepped_adam() -> tuple[bo.Adam, dict[str, Any]]:
    ps = [Parameter(np.ones(s)) for s in SHAPES]
    opt = bo.Adam(ps, amsgrad=True)
    for p in ps:
        p.grad.fill(0.25)
    opt.step()
    return opt, opt.state_dict()


def _mutate(sd: dict[str, Any], how: str) -> Any:
    sd = copy.deepcopy(sd)
    if how == "not a mapping":
        return [sd]
    if how == "no state":
        del sd["state"]
    elif how == "extra group":
        sd["param_groups"].append(dict(sd["param_groups"][0]))
    elif how == "group size":
        sd["param_groups"][0]["params"] = [0, 1]
    elif how == "bad lr":
        sd["param_groups"][0]["lr"] = -1.0
    elif how == "bad betas":
        sd["param_groups"][0]["betas"] = (0.9, 1.5)
    elif how == "unknown index":
        sd["state"][7] = sd["state"].pop(2)
    elif how == "bad index":
        sd["state"]["x"] = sd["state"].pop(2)
    elif how == "shape":
        sd["state"][1]["exp_avg"] = np.zeros(8)
    elif how == "unknown key":
        sd["state"][0]["momentum"] = np.zeros((3, 4))
    elif how == "missing key":
        del sd["state"][0]["max_exp_avg_sq"]
    elif how == "bad step":
        sd["state"][0]["step"] = -1
    elif how == "fractional step":
        sd["state"][0]["step"] = 1.5
    elif how == "strings":
        sd["state"][0]["exp_avg"] = np.full((3, 4), "a")
    return sd


@pytest.mark.parametrize(
    ("how", "exc", "match"),
    [
        ("not a mapping", TypeError, r"Adam\.load_state_dict: state_dict must be a mapping"),
        ("no state", TypeError, r"'state' and 'param_groups'"),
        ("extra group", ValueError, r"2 parameter groups, the optimizer has 1"),
        ("group size", ValueError, r"param_groups\[0\] has 2 parameters, the optimizer's group has 3"),
        ("bad lr", ValueError, r"param_groups\[0\]: lr must be >= 0, got -1\.0"),
        ("bad betas", ValueError, r"betas\[1\] must be in \[0, 1\), got 1\.5"),
        ("unknown index", ValueError, r"parameter index 7"),
        ("bad index", TypeError, r"parameter indices must be integers, got str \('x'\)"),
        ("shape", ValueError, r"state\[1\]: 'exp_avg' must have shape \(7,\), got \(8,\)"),
        ("unknown key", ValueError, r"state\[0\]: unexpected keys \['momentum'\]"),
        ("missing key", ValueError, r"state\[0\]: missing keys \['max_exp_avg_sq'\]"),
        ("bad step", ValueError, r"'step' must be a non-negative integer, got -1"),
        ("fractional step", ValueError, r"'step' must be a non-negative integer, got 1\.5"),
        ("strings", TypeError, r"'exp_avg' must be numeric"),
    ],
)
def test_load_state_dict_rejects_bad_input_atomically(how: str, exc: type, match: str) -> None:
    opt, sd = _stepped_adam()
    before = opt.state_dict()
    with pytest.raises(exc, match=match):
        opt.load_state_dict(_mutate(sd, how))
    after = opt.state_dict()  # nothing changed
    assert after["param_groups"] == before["param_groups"]
    for i, st in before["state"].items():
        for k, v in st.items():
            assert np.array_equal(after["state"][i][k], v)


# ---------------------------------------------------------------------------------------------- validation
def _p() -> list[Parameter]:
    return [Parameter(np.zeros(3))]


BAD = [
    (bo.SGD, dict(lr=-1.0), ValueError, "SGD: lr must be >= 0, got -1.0"),
    (bo.SGD, dict(lr=math.nan), ValueError, "SGD: lr must be finite, got nan"),
    (bo.SGD, dict(lr=math.inf), ValueError, "SGD: lr must be finite, got inf"),
    (bo.SGD, dict(lr="0.1"), TypeError, "SGD: lr must be a real number, got str ('0.1')"),
    (bo.SGD, dict(lr=True), TypeError, "SGD: lr must be a real number, got bool (True)"),
    (bo.SGD, dict(momentum=-0.5), ValueError, "SGD: momentum must be >= 0, got -0.5"),
    (bo.SGD, dict(weight_decay=-1e-4), ValueError, "SGD: weight_decay must be >= 0, got -0.0001"),
    (bo.SGD, dict(dampening=None), TypeError, "SGD: dampening must be a real number, got NoneType (None)"),
    (bo.SGD, dict(nesterov=1), TypeError, "SGD: nesterov must be a bool, got int (1)"),
    (bo.SGD, dict(maximize="no"), TypeError, "SGD: maximize must be a bool, got str ('no')"),
    (
        bo.SGD,
        dict(nesterov=True),
        ValueError,
        "SGD: nesterov=True requires momentum > 0 and dampening == 0, got momentum=0.0, dampening=0.0",
    ),
    (
        bo.SGD,
        dict(nesterov=True, momentum=0.9, dampening=0.1),
        ValueError,
        "SGD: nesterov=True requires momentum > 0 and dampening == 0, got momentum=0.9, dampening=0.1",
    ),
    (bo.Adagrad, dict(lr=-0.1), ValueError, "Adagrad: lr must be >= 0, got -0.1"),
    (bo.Adagrad, dict(lr_decay=-1), ValueError, "Adagrad: lr_decay must be >= 0, got -1.0"),
    (bo.Adagrad, dict(weight_decay=-1), ValueError, "Adagrad: weight_decay must be >= 0, got -1.0"),
    (
        bo.Adagrad,
        dict(initial_accumulator_value=-0.5),
        ValueError,
        "Adagrad: initial_accumulator_value must be >= 0, got -0.5",
    ),
    (bo.Adagrad, dict(eps=-1e-10), ValueError, "Adagrad: eps must be >= 0, got -1e-10"),
    (bo.RMSprop, dict(lr=-1), ValueError, "RMSprop: lr must be >= 0, got -1.0"),
    (bo.RMSprop, dict(alpha=-0.1), ValueError, "RMSprop: alpha must be in [0, 1], got -0.1"),
    (bo.RMSprop, dict(alpha=1.5), ValueError, "RMSprop: alpha must be in [0, 1], got 1.5"),
    (bo.RMSprop, dict(eps=-1.0), ValueError, "RMSprop: eps must be >= 0, got -1.0"),
    (bo.RMSprop, dict(momentum=-0.9), ValueError, "RMSprop: momentum must be >= 0, got -0.9"),
    (bo.RMSprop, dict(weight_decay=-0.1), ValueError, "RMSprop: weight_decay must be >= 0, got -0.1"),
    (bo.RMSprop, dict(centered="yes"), TypeError, "RMSprop: centered must be a bool, got str ('yes')"),
    (bo.Adam, dict(lr=-1.0), ValueError, "Adam: lr must be >= 0, got -1.0"),
    (bo.Adam, dict(betas=(1.0, 0.999)), ValueError, "Adam: betas[0] must be in [0, 1), got 1.0"),
    (bo.Adam, dict(betas=(-0.1, 0.999)), ValueError, "Adam: betas[0] must be in [0, 1), got -0.1"),
    (bo.Adam, dict(betas=(0.9, 1.0)), ValueError, "Adam: betas[1] must be in [0, 1), got 1.0"),
    (bo.Adam, dict(betas=(0.9,)), ValueError, "Adam: betas must be a pair of floats, got 1 values"),
    (bo.Adam, dict(betas=0.9), TypeError, "Adam: betas must be a pair of floats, got float (0.9)"),
    (bo.Adam, dict(betas=(0.9, "x")), TypeError, "Adam: betas[1] must be a real number, got str ('x')"),
    (bo.Adam, dict(eps=-1e-8), ValueError, "Adam: eps must be >= 0, got -1e-08"),
    (bo.Adam, dict(weight_decay=-0.01), ValueError, "Adam: weight_decay must be >= 0, got -0.01"),
    (bo.Adam, dict(amsgrad=None), TypeError, "Adam: amsgrad must be a bool, got NoneType (None)"),
    (bo.AdamW, dict(lr=-1.0), ValueError, "AdamW: lr must be >= 0, got -1.0"),
    (bo.AdamW, dict(betas=(0.9, 2.0)), ValueError, "AdamW: betas[1] must be in [0, 1), got 2.0"),
    (bo.AdamW, dict(weight_decay=-0.01), ValueError, "AdamW: weight_decay must be >= 0, got -0.01"),
]


@pytest.mark.parametrize(
    ("cls", "kw", "exc", "message"), BAD, ids=[f"{c.__name__}-{kw}" for c, kw, _, _ in BAD]
)
def test_bad_hyperparameters_raise_naming_the_argument(
    cls: type, kw: dict[str, Any], exc: type, message: str
):
    with pytest.raises(exc, match=re.escape(message)):
        cls(_p(), **kw)
    # the same value in a parameter group is checked too, and the group is named
    if "nesterov" not in kw:
        with pytest.raises(exc, match=re.escape(message.replace(": ", ": param group 1: ", 1))):
            cls([{"params": _p()}, {"params": _p(), **kw}])


def test_valid_edge_values_are_accepted() -> None:
    bo.SGD(_p(), lr=0, momentum=0.9, nesterov=True)
    bo.Adam(_p(), lr=0, betas=(0.0, 0.0), eps=0, weight_decay=0)
    bo.RMSprop(_p(), alpha=0.0)
    bo.RMSprop(_p(), alpha=1.0)
    opt = bo.Adam(_p(), lr=np.float32(0.5), betas=[np.float64(0.5), 0.25], amsgrad=np.bool_(True))
    g = opt.param_groups[0]
    assert type(g["lr"]) is float and g["betas"] == (0.5, 0.25) and g["amsgrad"] is True


BAD_PARAMS = [
    ([], ValueError, "SGD: got an empty parameter list"),
    (iter(()), ValueError, "SGD: got an empty parameter list"),
    (Parameter(np.zeros(2)), TypeError, "got a single Parameter (wrap it in a list)"),
    ({"params": _p()}, TypeError, "params must be an iterable of Parameters or of dicts"),
    (3, TypeError, "params must be an iterable of Parameters or of dicts (parameter groups), got int"),
    ([np.zeros(3)], TypeError, "SGD: param group 0: params[0] must be a bptt.nn.Parameter, got ndarray"),
    ([Parameter(np.zeros(3, dtype=np.int64))], TypeError, "params[0] must have a floating dtype, got int64"),
    ([{"params": []}], ValueError, "SGD: param group 0: 'params' is empty"),
    ([{"lr": 0.1}], ValueError, "SGD: param group 0 has no 'params' entry"),
    ([{"params": set(_p())}], TypeError, "'params' must be an ordered collection (a list), not a set"),
    ([{"params": _p()}, _p()[0]], TypeError, "not a mix"),
    ([{"params": 5}], TypeError, "'params' must be an iterable of Parameters, got int"),
]


@pytest.mark.parametrize(("params", "exc", "message"), BAD_PARAMS, ids=[m for _, _, m in BAD_PARAMS])
def test_bad_params_raise(params: Any, exc: type, message: str) -> None:
    with pytest.raises(exc, match=re.escape(message)):
        bo.SGD(params, lr=0.1)


def test_duplicate_parameters_are_rejected() -> None:
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    with pytest.raises(ValueError, match=re.escape("SGD: param group 0: params[1] appears more than once")):
        bo.SGD([p, p])
    with pytest.raises(
        ValueError, match="param group 1: some parameters appear in more than one parameter group"
    ):
        bo.SGD([{"params": [p]}, {"params": [q, p]}])
    opt = bo.SGD([p])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(TypeError, match=re.escape("SGD: param group 1 must be a dict, got list")):
        opt.add_param_group([q])
    assert len(opt.param_groups) == 1


def test_grad_of_wrong_shape_is_rejected_before_any_update() -> None:
    p, q = Parameter(np.zeros(3)), Parameter(np.zeros(2))
    opt = bo.Adam([{"params": [p]}, {"params": [q]}])
    p.grad.fill(1.0)
    q.grad = np.zeros(4)
    message = "Adam.step: param group 1, params[0]: grad has shape (4,), but the parameter has shape (2,)"
    with pytest.raises(ValueError, match=re.escape(message)):
        opt.step()
    assert not p.data.any() and opt.state == {}


def test_exports() -> None:
    assert set(bo.__all__) == {"Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW"}
    for name in bo.__all__:
        assert getattr(bo, name).__doc__
    assert issubclass(bo.AdamW, bo.Adam) and issubclass(bo.SGD, bo.Optimizer)
    from bptt.optim import Adam

    assert Adam is bo.Adam
