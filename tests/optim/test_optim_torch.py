"""``bptt.optim`` against ``torch.optim`` (single-tensor implementations, ``foreach=False``).

Every optimizer, over a grid of its options, is run side by side with PyTorch on three parameters of different
shapes, fed the same random gradients; parameters must agree to 1e-12 (relative to the largest value) after
every step in float64 and to ~1e-6 in float32, and the internal buffers must match PyTorch's state.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest
import torch

import bptt.optim as bo
from bptt.nn import Parameter
from cases.optim import FULL, SHAPES, _rng, copy_params

pytestmark = pytest.mark.torch
STEPS = 25

# bptt state key -> torch state key (the same names, checked explicitly)
STATE_KEYS = {
    "SGD": ["momentum_buffer"],
    "Adagrad": ["sum"],
    "RMSprop": ["square_avg", "momentum_buffer", "grad_avg"],
    "Adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "AdamW": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
}


def _sgd_grid() -> list[dict[str, Any]]:
    out = []
    for momentum, dampening, wd, nesterov, maximize in itertools.product(
        [0.0, 0.9], [0.0, 0.3], [0.0, 0.1], [False, True], [False, True]
    ):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        out.append(
            dict(
                lr=0.1,
                momentum=momentum,
                dampening=dampening,
                weight_decay=wd,
                nesterov=nesterov,
                maximize=maximize,
            )
        )
    return out


def _adagrad_grid() -> list[dict[str, Any]]:
    return [
        dict(lr=0.1, lr_decay=d, initial_accumulator_value=a, weight_decay=wd, maximize=mx)
        for d, a, wd, mx in itertools.product([0.0, 0.05], [0.0, 0.5], [0.0, 0.1], [False, True])
    ] + [dict(lr=0.05, eps=1e-3)]


def _rmsprop_grid() -> list[dict[str, Any]]:
    return [
        dict(lr=0.01, centered=c, momentum=m, weight_decay=wd, maximize=mx)
        for c, m, wd, mx in itertools.product([False, True], [0.0, 0.9], [0.0, 0.1], [False, True])
    ] + [
        dict(lr=0.01, alpha=0.3, centered=True, momentum=0.5),  # 1 - alpha >= 0.5: the other lerp branch
        dict(lr=0.02, alpha=0.9, eps=1e-4),
    ]


def _adam_grid() -> list[dict[str, Any]]:
    return [
        dict(lr=0.01, amsgrad=a, weight_decay=wd, maximize=mx)
        for a, wd, mx in itertools.product([False, True], [0.0, 0.1], [False, True])
    ] + [
        dict(lr=0.02, betas=(0.3, 0.9), eps=1e-6, amsgrad=True, weight_decay=0.05),  # 1 - beta1 >= 0.5
        dict(lr=0.01, betas=(0.0, 0.0)),
    ]


GRID = {
    "SGD": _sgd_grid(),
    "Adagrad": _adagrad_grid(),
    "RMSprop": _rmsprop_grid(),
    "Adam": _adam_grid(),
    "AdamW": _adam_grid(),
}
CASES = [(name, kw) for name, kws in GRID.items() for kw in kws]
CASE_IDS = [name + "-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]


def _pair(
    name: str, kw: dict[str, Any], dtype: type = np.float64, seed: Any = 0
) -> tuple[list[Parameter], list[torch.Tensor], Any, Any]:
    rng = _rng("init", seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [Parameter(a.copy()) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(bo, name)(ours, **kw)
    ref = getattr(torch.optim, name)(theirs, foreach=False, **kw)
    return ours, theirs, opt, ref


def _feed(
    ours: list[Parameter], theirs: list[torch.Tensor], rng: np.random.Generator, scale: float = 1.0
) -> None:
    for p, t in zip(ours, theirs, strict=True):
        g = (scale * rng.standard_normal(p.shape)).astype(p.dtype)
        p.grad[...] = g
        t.grad = torch.tensor(g.copy())


def _rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(float(np.abs(ref).max()), 1e-300)
    return float(np.abs(ours - ref).max()) / scale


def _assert_params(ours: list[Parameter], theirs: list[torch.Tensor], rtol: float, where: str) -> None:
    for i, (p, t) in enumerate(zip(ours, theirs, strict=True)):
        ref = t.detach().numpy()
        assert p.data.dtype == ref.dtype, f"{where}: param {i} dtype {p.data.dtype} vs torch {ref.dtype}"
        err = _rel_err(p.data, ref)
        assert err <= rtol, f"{where}: param {i} relative error {err:.3e} > {rtol:g}"


def _assert_state(
    name: str, opt: Any, ref: Any, ours: list[Parameter], theirs: list[torch.Tensor], rtol: float
):
    for i, (p, t) in enumerate(zip(ours, theirs, strict=True)):
        st, tst = opt.state.get(p, {}), ref.state.get(t, {})
        keys = [k for k in STATE_KEYS[name] if k in tst]
        assert sorted(k for k in st if k != "step") == sorted(keys), f"param {i}: state keys {sorted(st)}"
        if "step" in tst:
            assert st["step"] == int(tst["step"].item()), f"param {i}: step {st['step']} vs {tst['step']}"
        for k in keys:
            assert st[k].dtype == p.dtype, f"param {i}: state {k} dtype {st[k].dtype}"
            err = _rel_err(st[k], tst[k].numpy())
            assert err <= rtol, f"param {i}: state {k} relative error {err:.3e} > {rtol:g}"


# ---------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_matches_torch_float64(name: str, kw: dict[str, Any]) -> None:
    ours, theirs, opt, ref = _pair(name, kw, np.float64, seed=(name, sorted(kw.items())))
    rng = _rng("grads", name, sorted(kw.items()))
    for step in range(STEPS):
        _feed(ours, theirs, rng)
        opt.step()
        ref.step()
        _assert_params(ours, theirs, 1e-12, f"{name} {kw} step {step + 1}")
    _assert_state(name, opt, ref, ours, theirs, 1e-12)


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_matches_torch_float32(name: str, kw: dict[str, Any]) -> None:
    ours, theirs, opt, ref = _pair(name, kw, np.float32, seed=(name, "f32", sorted(kw.items())))
    rng = _rng("grads32", name, sorted(kw.items()))
    for step in range(STEPS):
        _feed(ours, theirs, rng)
        opt.step()
        ref.step()
        _assert_params(ours, theirs, 2e-6, f"{name} {kw} float32 step {step + 1}")
    _assert_state(name, opt, ref, ours, theirs, 2e-5)


@pytest.mark.parametrize("name", list(FULL))
def test_zero_grad_is_still_a_step(name: str) -> None:
    """A zero gradient is a step like any other (the step count advances, decay and momentum act)."""
    ours, theirs, opt, ref = _pair(name, FULL[name], seed="zero")
    rng = _rng("zero", name)
    for step in range(6):
        if step % 2:
            for p, t in zip(ours, theirs, strict=True):
                p.grad.fill(0)
                t.grad = torch.zeros_like(t)
        else:
            _feed(ours, theirs, rng)
        before = [p.data.copy() for p in ours]
        opt.step()
        ref.step()
        _assert_params(ours, theirs, 1e-12, f"{name} step {step + 1}")
        assert all(not np.array_equal(b, p.data) for b, p in zip(before, ours, strict=True))
    _assert_state(name, opt, ref, ours, theirs, 1e-12)


def test_adam_float_order_of_bias_correction() -> None:
    """Large step counts and tiny second moments: where the order of Adam's operations shows."""
    ours, theirs, opt, ref = _pair("Adam", dict(lr=0.3, betas=(0.5, 0.6), eps=1e-12), seed="order")
    rng = _rng("order")
    for step in range(40):
        _feed(ours, theirs, rng, scale=1e-6 if step % 3 else 1e3)
        opt.step()
        ref.step()
        _assert_params(ours, theirs, 1e-12, f"step {step + 1}")


# ---------------------------------------------------------------------------------------------- groups, lr
@pytest.mark.parametrize("name", list(FULL))
def test_param_groups_with_different_hyperparameters(name: str) -> None:
    kw = dict(FULL[name])
    rng = _rng("groups-init", name)
    init = [rng.standard_normal(s) for s in SHAPES]
    ours = [Parameter(a.copy()) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    override = {"lr": kw["lr"] / 7}
    if "momentum" in kw:
        override["momentum"] = 0.5
    if name in ("Adam", "AdamW"):
        override["betas"] = (0.8, 0.95)
        override["amsgrad"] = False
    opt = getattr(bo, name)([{"params": ours[:2]}, {"params": [ours[2]], **override}], **kw)
    ref = getattr(torch.optim, name)(
        [{"params": theirs[:2]}, {"params": [theirs[2]], **override}], foreach=False, **kw
    )
    assert opt.param_groups[1]["lr"] == kw["lr"] / 7
    assert opt.param_groups[0]["lr"] == kw["lr"]
    grads = _rng("groups", name)
    for step in range(STEPS):
        _feed(ours, theirs, grads)
        opt.step()
        ref.step()
        _assert_params(ours, theirs, 1e-12, f"{name} step {step + 1}")
    _assert_state(name, opt, ref, ours, theirs, 1e-12)


@pytest.mark.parametrize("name", list(FULL))
def test_changing_lr_mid_run_matches_torch(name: str) -> None:
    ours, theirs, opt, ref = _pair(name, FULL[name], seed="lr")
    rng = _rng("lr", name)
    for step in range(STEPS):
        if step == 8:
            for g, tg in zip(opt.param_groups, ref.param_groups, strict=True):
                g["lr"] = tg["lr"] = g["lr"] * 0.3
        if step == 16:
            opt.param_groups[0]["lr"] = ref.param_groups[0]["lr"] = 0.0
        _feed(ours, theirs, rng)
        before = [p.data.copy() for p in ours]
        opt.step()
        ref.step()
        _assert_params(ours, theirs, 1e-12, f"{name} step {step + 1}")
        if step >= 16 and name != "AdamW":  # lr = 0 freezes everything (AdamW's decay is lr * wd: also 0)
            assert all(np.array_equal(b, p.data) for b, p in zip(before, ours, strict=True))


@pytest.mark.parametrize("name", list(FULL))
def test_state_dict_layout_matches_torch_and_survives_json(name: str) -> None:
    kw = FULL[name]
    ours, theirs, opt, ref = _pair(name, kw, seed="layout")
    rng = _rng("layout", name)
    for _ in range(3):
        _feed(ours, theirs, rng)
        opt.step()
        ref.step()
    sd, tsd = opt.state_dict(), ref.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i, st in sd["state"].items():
        assert sorted(st) == sorted(tsd["state"][i])
        for k, v in st.items():
            if k == "step":
                assert isinstance(v, int) and v == int(tsd["state"][i][k].item())
            else:
                assert isinstance(v, np.ndarray)
                assert _rel_err(v, tsd["state"][i][k].numpy()) <= 1e-12
    for g, tg in zip(sd["param_groups"], tsd["param_groups"], strict=True):
        for k, v in g.items():
            assert k in tg and (v == tg[k] or tuple(v) == tuple(tg[k])), k

    # through JSON (arrays as lists, integer keys as strings): the continued run is still bit-identical
    text = json.dumps(
        {
            "state": {
                i: {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
                for i, st in sd["state"].items()
            },
            "param_groups": sd["param_groups"],
        }
    )
    qs = copy_params(ours)
    new = getattr(bo, name)(qs)
    new.load_state_dict(json.loads(text))
    for _ in range(5):
        g = [rng.standard_normal(s) for s in SHAPES]
        for p, q, gi in zip(ours, qs, g, strict=True):
            p.grad[...] = gi
            q.grad[...] = gi
        opt.step()
        new.step()
    for p, q in zip(ours, qs, strict=True):
        assert np.array_equal(p.data, q.data)
