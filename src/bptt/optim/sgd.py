"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (``torch.optim.SGD``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamGroup, ParamsT, _check_bool, _check_real, _effective_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, the update of ``torch.optim.SGD`` (single-tensor implementation).

    With learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau`, weight decay
    :math:`\lambda`, for each parameter :math:`\theta` with gradient :math:`\nabla_\theta f` at step
    :math:`t = 1, 2, \dots`:

    .. math::

        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1}
              \qquad (-\ \text{if maximize})\\
        b_t &= \begin{cases} g_t & t = 1 \\ \mu\, b_{t-1} + (1 - \tau)\, g_t & t > 1 \end{cases}
              \qquad (\text{if } \mu \ne 0)\\
        d_t &= \begin{cases} g_t + \mu\, b_t & \text{nesterov} \\ b_t & \text{otherwise}
              \end{cases} \qquad (d_t = g_t \text{ if } \mu = 0)\\
        \theta_t &= \theta_{t-1} - \gamma\, d_t

    State per parameter: ``momentum_buffer`` (:math:`b_t`, only when :math:`\mu \ne 0`).
    Nesterov momentum requires :math:`\mu > 0` and :math:`\tau = 0`.
    """

    _STATE_KEYS = frozenset({"momentum_buffer"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_hparams(self, group: dict[str, Any], where: str) -> dict[str, Any]:
        group["lr"] = _check_real(where, "lr", group["lr"], low=0.0)
        group["momentum"] = _check_real(where, "momentum", group["momentum"], low=0.0)
        group["dampening"] = _check_real(where, "dampening", group["dampening"])
        group["weight_decay"] = _check_real(where, "weight_decay", group["weight_decay"], low=0.0)
        group["nesterov"] = _check_bool(where, "nesterov", group["nesterov"])
        group["maximize"] = _check_bool(where, "maximize", group["maximize"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{where}: nesterov=True requires momentum > 0 and dampening == 0, "
                f"got momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )
        return group

    def _required_state(self, group: ParamGroup) -> frozenset[str]:
        return frozenset({"momentum_buffer"}) if float(group["momentum"]) != 0 else frozenset()

    def _update(self, group: ParamGroup) -> None:
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay = float(group["weight_decay"])
        nesterov = bool(group["nesterov"])
        maximize = bool(group["maximize"])
        for p in group["params"]:
            g = _effective_grad(p, maximize, weight_decay)
            if momentum != 0:
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    # buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                    np.multiply(buf, momentum, out=buf)
                    np.add(buf, np.multiply(g, 1 - dampening), out=buf)
                if nesterov:
                    g = np.add(g, np.multiply(buf, momentum))
                else:
                    g = buf
            # param.add_(grad, alpha=-lr)
            np.add(p.data, np.multiply(g, -lr), out=p.data)
