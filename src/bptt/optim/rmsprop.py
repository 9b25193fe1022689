"""RMSprop (as ``torch.optim.RMSprop``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamGroup, ParamsT, _check_bool, _check_real, _effective_grad, _lerp_

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, the update of ``torch.optim.RMSprop`` (single-tensor implementation).

    With learning rate :math:`\gamma`, smoothing constant :math:`\alpha`, momentum :math:`\mu`, weight decay
    :math:`\lambda` and :math:`\epsilon`, for each parameter at step :math:`t = 1, 2, \dots`
    (all buffers start at zero):

    .. math::

        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1} \qquad (-\ \text{if maximize})\\
        v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2\\
        \bar g_t &= \bar g_{t-1} + (1 - \alpha)(g_t - \bar g_{t-1}) \qquad (\text{centered only})\\
        a_t &= \begin{cases} \sqrt{v_t - \bar g_t^{\,2}} + \epsilon & \text{centered} \\
                             \sqrt{v_t} + \epsilon & \text{otherwise} \end{cases}\\
        b_t &= \mu\, b_{t-1} + g_t / a_t, \qquad \theta_t = \theta_{t-1} - \gamma\, b_t
              \qquad (\mu > 0)\\
        \theta_t &= \theta_{t-1} - \gamma\, g_t / a_t \qquad (\mu = 0)

    State per parameter: ``step``, ``square_avg`` (:math:`v_t`), ``momentum_buffer`` (:math:`b_t`, if
    :math:`\mu > 0`), ``grad_avg`` (:math:`\bar g_t`, if centered).
    """

    _STATE_KEYS = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_hparams(self, group: dict[str, Any], where: str) -> dict[str, Any]:
        group["lr"] = _check_real(where, "lr", group["lr"], low=0.0)
        group["momentum"] = _check_real(where, "momentum", group["momentum"], low=0.0)
        group["alpha"] = _check_real(where, "alpha", group["alpha"], low=0.0, high=1.0)
        group["eps"] = _check_real(where, "eps", group["eps"], low=0.0)
        group["centered"] = _check_bool(where, "centered", group["centered"])
        group["weight_decay"] = _check_real(where, "weight_decay", group["weight_decay"], low=0.0)
        group["maximize"] = _check_bool(where, "maximize", group["maximize"])
        return group

    def _required_state(self, group: ParamGroup) -> frozenset[str]:
        keys = {"step", "square_avg"}
        if float(group["momentum"]) > 0:
            keys.add("momentum_buffer")
        if group["centered"]:
            keys.add("grad_avg")
        return frozenset(keys)

    def _update(self, group: ParamGroup) -> None:
        lr = float(group["lr"])
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum = float(group["momentum"])
        centered = bool(group["centered"])
        maximize = bool(group["maximize"])
        for p in group["params"]:
            state = self.state.setdefault(p, {})
            state.setdefault("step", 0)
            if "square_avg" not in state:
                state["square_avg"] = np.zeros_like(p.data)
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = np.zeros_like(p.data)

            g = _effective_grad(p, maximize, weight_decay)
            state["step"] += 1
            sq = state["square_avg"]
            # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            np.multiply(sq, alpha, out=sq)
            t = np.multiply(g, 1 - alpha)
            np.multiply(t, g, out=t)
            np.add(sq, t, out=sq)
            if centered:
                ga = state["grad_avg"]
                _lerp_(ga, g, 1 - alpha)
                # avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                avg = np.multiply(ga, -1.0)
                np.multiply(avg, ga, out=avg)
                np.add(sq, avg, out=avg)
                np.sqrt(avg, out=avg)
            else:
                avg = np.sqrt(sq)
            np.add(avg, eps, out=avg)
            if momentum > 0:
                buf = state["momentum_buffer"]
                # buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
                np.multiply(buf, momentum, out=buf)
                np.add(buf, np.divide(g, avg), out=buf)
                np.add(p.data, np.multiply(buf, -lr), out=p.data)
            else:
                # param.addcdiv_(grad, avg, value=-lr)
                upd = np.multiply(g, -lr)
                np.divide(upd, avg, out=upd)
                np.add(p.data, upd, out=p.data)
