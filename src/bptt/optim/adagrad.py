"""Adagrad (as ``torch.optim.Adagrad``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamGroup, ParamsT, _check_bool, _check_real, _effective_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, the update of ``torch.optim.Adagrad`` (single-tensor implementation, dense gradients).

    With learning rate :math:`\gamma`, learning-rate decay :math:`\eta`, weight decay :math:`\lambda`,
    initial accumulator value :math:`\tau` and :math:`\epsilon`, for each parameter at step
    :math:`t = 1, 2, \dots`:

    .. math::

        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1} \qquad (-\ \text{if maximize})\\
        \tilde\gamma_t &= \frac{\gamma}{1 + (t - 1)\,\eta}\\
        s_t &= s_{t-1} + g_t^2, \qquad s_0 = \tau\\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}

    State per parameter: ``step`` (:math:`t`) and ``sum`` (:math:`s_t`).
    """

    _STATE_KEYS = frozenset({"step", "sum"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:  # PyTorch creates Adagrad's state at construction
            for p in group["params"]:
                self._init_state(p, group)

    def _validate_hparams(self, group: dict[str, Any], where: str) -> dict[str, Any]:
        group["lr"] = _check_real(where, "lr", group["lr"], low=0.0)
        group["lr_decay"] = _check_real(where, "lr_decay", group["lr_decay"], low=0.0)
        group["eps"] = _check_real(where, "eps", group["eps"], low=0.0)
        group["weight_decay"] = _check_real(where, "weight_decay", group["weight_decay"], low=0.0)
        group["initial_accumulator_value"] = _check_real(
            where, "initial_accumulator_value", group["initial_accumulator_value"], low=0.0
        )
        group["maximize"] = _check_bool(where, "maximize", group["maximize"])
        return group

    def _init_state(self, p: Any, group: ParamGroup) -> dict[str, Any]:
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, float(group["initial_accumulator_value"]))
        return state

    def _update(self, group: ParamGroup) -> None:
        lr = float(group["lr"])
        lr_decay = float(group["lr_decay"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = bool(group["maximize"])
        for p in group["params"]:
            state = self._init_state(p, group)
            state["step"] += 1
            step = float(state["step"])
            g = _effective_grad(p, maximize, weight_decay)
            clr = lr / (1 + (step - 1) * lr_decay)
            s = state["sum"]
            # state_sum.addcmul_(grad, grad, value=1)
            np.add(s, np.multiply(g, g), out=s)
            # std = state_sum.sqrt().add_(eps); param.addcdiv_(grad, std, value=-clr)
            std = np.sqrt(s)
            np.add(std, eps, out=std)
            upd = np.multiply(g, -clr)
            np.divide(upd, std, out=upd)
            np.add(p.data, upd, out=p.data)
