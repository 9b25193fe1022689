"""Adam and AdamW (as ``torch.optim.Adam`` and ``torch.optim.AdamW``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    _check_betas,
    _check_bool,
    _check_real,
    _effective_grad,
    _lerp_,
)

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam, the update of ``torch.optim.Adam`` (single-tensor implementation), with optional AMSGrad.

    With learning rate :math:`\gamma`, betas :math:`(\beta_1, \beta_2)`, weight decay :math:`\lambda` (L2,
    added to the gradient) and :math:`\epsilon`, for each parameter at step :math:`t = 1, 2, \dots`
    (:math:`m_0 = v_0 = \hat v_0 = 0`):

    .. math::

        g_t &= \pm\nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1} \qquad (-\ \text{if maximize})\\
        m_t &= m_{t-1} + (1 - \beta_1)(g_t - m_{t-1})\\
        v_t &= \beta_2\, v_{t-1} + (1 - \beta_2)\, g_t^2\\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \quad \text{(amsgrad; otherwise } \hat v_t = v_t)\\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    evaluated in PyTorch's order: ``step_size = lr / (1 - beta1**t)``,
    ``denom = sqrt(v) / sqrt(1 - beta2**t) + eps``, ``param += (-step_size * m) / denom``.

    State per parameter: ``step``, ``exp_avg`` (:math:`m_t`), ``exp_avg_sq`` (:math:`v_t`),
    ``max_exp_avg_sq`` (:math:`\hat v_t`, amsgrad only).
    """

    _STATE_KEYS = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})
    #: AdamW: decay the parameter directly (``param *= 1 - lr * weight_decay``), not via the gradient
    _decoupled_weight_decay = False

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_hparams(self, group: dict[str, Any], where: str) -> dict[str, Any]:
        group["lr"] = _check_real(where, "lr", group["lr"], low=0.0)
        group["betas"] = _check_betas(where, group["betas"])
        group["eps"] = _check_real(where, "eps", group["eps"], low=0.0)
        group["weight_decay"] = _check_real(where, "weight_decay", group["weight_decay"], low=0.0)
        group["amsgrad"] = _check_bool(where, "amsgrad", group["amsgrad"])
        group["maximize"] = _check_bool(where, "maximize", group["maximize"])
        return group

    def _required_state(self, group: ParamGroup) -> frozenset[str]:
        keys = {"step", "exp_avg", "exp_avg_sq"}
        if group["amsgrad"]:
            keys.add("max_exp_avg_sq")
        return frozenset(keys)

    def _update(self, group: ParamGroup) -> None:
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        amsgrad = bool(group["amsgrad"])
        maximize = bool(group["maximize"])
        decoupled = self._decoupled_weight_decay
        for p in group["params"]:
            state = self.state.setdefault(p, {})
            state.setdefault("step", 0)
            for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
                if key not in state:
                    state[key] = np.zeros_like(p.data)

            if weight_decay != 0 and decoupled:
                g = _effective_grad(p, maximize, 0.0)
                np.multiply(p.data, 1 - lr * weight_decay, out=p.data)  # param.mul_(1 - lr * weight_decay)
            else:
                g = _effective_grad(p, maximize, weight_decay)
            state["step"] += 1
            step = float(state["step"])

            m, v = state["exp_avg"], state["exp_avg_sq"]
            _lerp_(m, g, 1 - beta1)  # exp_avg.lerp_(grad, 1 - beta1)
            # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            np.multiply(v, beta2, out=v)
            t = np.multiply(g, 1 - beta2)
            np.multiply(t, g, out=t)
            np.add(v, t, out=v)

            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            if amsgrad:
                vmax = state["max_exp_avg_sq"]
                np.maximum(vmax, v, out=vmax)
                denom = np.sqrt(vmax)
            else:
                denom = np.sqrt(v)
            # denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
            np.divide(denom, bias_correction2_sqrt, out=denom)
            np.add(denom, eps, out=denom)
            # param.addcdiv_(exp_avg, denom, value=-step_size)
            upd = np.multiply(m, -step_size)
            np.divide(upd, denom, out=upd)
            np.add(p.data, upd, out=p.data)


class AdamW(Adam):
    r"""AdamW, the update of ``torch.optim.AdamW``: Adam with decoupled weight decay.

    Identical to :class:`Adam` except that the weight decay :math:`\lambda` does not enter the gradient; the
    parameter is decayed directly before the moment updates:

    .. math::

        \theta_{t-1}' &= \theta_{t-1}\,(1 - \gamma\lambda)\\
        g_t &= \pm\nabla_\theta f(\theta_{t-1}) \qquad (-\ \text{if maximize})\\
        m_t &= m_{t-1} + (1 - \beta_1)(g_t - m_{t-1}), \qquad
        v_t = \beta_2\, v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad \hat v_t = \max(\hat v_{t-1}, v_t)\\
        \theta_t &= \theta_{t-1}' - \frac{\gamma}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    (:math:`\hat v_t = v_t` without amsgrad). Default ``weight_decay`` is ``1e-2``.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
