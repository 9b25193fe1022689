"""The minGRU's page (Feng et al., 2024): dHt, the linear recurrence's reverse scan (da, db and dh_next), the
update gate's and the candidate's gradients and dx, quoting :func:`bptt.functional.reference.min_gru.step_backward`;
the flow diagram of one cell (its gates read x_t only, so h_{t-1} enters through the recurrence alone)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .panels_lstm import gate
from .spec import NEXT, T_, TM1, KindView, PanelSpec, dh_panel, sub
from .svg import Svg
from .widgets import PageData

__all__ = ["VIEW"]

PANELS = (
    dh_panel("The gradient reaching h_{t}: from the layer above (dy_{t}; through W_out with a projection) plus the "
             "one carried back from step t+1 by the recurrence."),
    PanelSpec(
        seed="dAt", q="da", eq=f"da{T_} = dh{T_} ⊙ h{TM1},  db{T_} = dh{T_}",
        inputs=(("bw:dh", "dh_{t}"), ("fw:h_prev", "h_{t−1}")), op="⊙",
        results=(("bw:da", "da_{t} (coefficient)"), ("bw:db", "db_{t} (value)")), quote=("da", "db"),
        note="h_{t} = a_{t} ⊙ h_{t−1} + b_{t} is a linear recurrence (a scan) with coefficient a = 1 − z and value "
             "b = z ⊙ h̃: the first step back is the scan's own, before any gate."),
    PanelSpec(
        seed="dH_next", q="dh_next", eq=f"dh{NEXT} = dh{T_} ⊙ a{T_} = dh{T_} ⊙ (1 − z{T_})",
        inputs=(("bw:dh", "dh_{t}"), ("fw:a", "a_{t} = 1 − z_{t}")), op="⊙",
        results=(("bw:dh_next", "dh_{next} (to t−1)"),), quote=("dh_next",),
        note="The only path to step t−1: the gates read x_{t} alone, so no weight matrix stands between dh_{t} and "
             "dh_{t−1}. The gradient shrinks by the factor 1 − z at every step it travels back (the reverse scan)."),
    PanelSpec(
        seed="dZt", q="dz", eq=f"dz{T_} = db{T_} ⊙ h̃{T_} − da{T_}",
        inputs=(("bw:db", "db_{t}"), ("fw:h_tilde", "h̃_{t}"), ("bw:da", "da_{t}")), op="⊙ −",
        results=(("bw:dz", "dz_{t} (update gate)"),), second=("bw:dk_z", "dk_{z}", "⊙ z(1−z)"), quote=("dz", "dk_z"),
        note="z enters twice: in b = z ⊙ h̃ (gradient db ⊙ h̃) and in a = 1 − z (gradient −da). Through the sigmoid, "
             "dk_{z} = dz ⊙ z(1−z) is the gradient of the gate's pre-activation."),
    PanelSpec(
        seed="dHtilde", q="dh_tilde", eq=f"dh̃{T_} = db{T_} ⊙ z{T_},  dk<sub>h</sub> = dh̃{T_} ⊙ g′(k<sub>h</sub>)",
        inputs=(("bw:db", "db_{t}"), ("fw:z", "z_{t}")), op="⊙", results=(("bw:dh_tilde", "dh̃_{t} (candidate)"),),
        second=("bw:dk_h", "dk_{h}", "⊙ g′(k_{h})"), quote=("dh_tilde", "dk_h"),
        note="The candidate h̃ = g(k_{h}) (g keeps it positive: k + ½ for k ≥ 0, σ(k) below; the paper's log-space "
             "variant) gets the z share of db; g′ turns that into dk_{h}."),
    PanelSpec(
        seed="dxt", q="dx", eq=f"dk{T_} = [dk<sub>z</sub>, dk<sub>h</sub>],  dx{T_} = dk{T_} W{sub('ih')}",
        inputs=(("bw:dk", "dk_{t} = [dk_{z}, dk_{h}]"), ("param:W", "W_ih")), op="·W", results=(("bw:dx", "dx_{t}"),),
        weight=True, quote=("dk", "dx", "dW_ih", "db_ih"),
        note="k = x_{t} W_ihᵀ + b reads the input only: the gates' gradient goes to dx_{t} (and to the weights, "
             "dW_{t} = dk_{t}ᵀ x_{t}, below), never to h_{t−1}. This is what lets the forward pass run as a "
             "parallel scan."),
)


def forward_equations(lt: Any) -> str:
    out = f" (y{T_} = h{T_} W<sub>out</sub><sup>⊤</sup>)" if lt.meta.get("projection") else ""
    return (f"[k<sub>z</sub>, k<sub>h</sub>] = x{T_} W{sub('ih')}<sup>⊤</sup> + b{sub('ih')} (x{T_} only); "
            f"z{T_} = σ(k<sub>z</sub>), h̃{T_} = g(k<sub>h</sub>); "
            f"h{T_} = (1 − z{T_}) ⊙ h{TM1} + z{T_} ⊙ h̃{T_} = a{T_} ⊙ h{TM1} + b{T_}{out}")


def weights(lt: Any) -> tuple[np.ndarray, str]:
    return lt.param("W_ih"), "W_ih"


def weight_steps(lt: Any) -> np.ndarray:
    return lt.backward["dW_ih"]  # (T, 2H, D)


_Z, _HT = 360, 520  # the gates' columns
_MIX, _SUM = 680, 840  # the products (1 - z) h_{t-1} (top) and z h~ (bottom); their sum


def mingru_flow(page: PageData, svg: Svg, lt: Any) -> str:
    """One minGRU cell: h_{t-1} on top, multiplied by 1 - z; the gates below read x_t only."""
    svg.node(60, 90, "h_{t−1}", "state")
    page.strip(svg, "fw:h_prev", 20, 114)
    svg.node(200, 410, "x_{t}", "state")
    kw = svg.node(200, 330, "k = x Wᵀ + b", "cat")
    svg.polyline([(200, 394), (200, 348)])
    svg.polyline([(200 + kw / 2, 330), (_HT, 330)], arrow=False)
    for x, op, name, key in ((_Z, "σ", "z (update)", "fw:z"), (_HT, "g", "h̃ (candidate)", "fw:h_tilde")):
        svg.polyline([(x, 330), (x, 258)])
        gate(page, svg, x, 240, op, name, key)
    svg.node(_MIX, 150, "1−z", "op")
    page.strip(svg, "fw:a", _MIX + 22, 156)
    svg.text(_MIX + 22, 184, "a = 1 − z", "sub")
    svg.polyline([(_Z, 222), (_Z, 150), (_MIX - 17, 150)])
    svg.polyline([(_Z, 180), (_MIX, 180), (_MIX, 223)])  # z -> z h~
    svg.node(_MIX, 90, "×", "op")
    svg.polyline([(92, 90), (_MIX - 17, 90)])
    svg.polyline([(_MIX, 134), (_MIX, 107)])
    svg.node(_MIX, 240, "×", "op")
    svg.polyline([(_HT + 24, 240), (_MIX - 17, 240)])  # h~ -> z h~
    svg.text(_MIX + 22, 270, "b = z ⊙ h̃", "sub")
    svg.node(_SUM, 165, "+", "op")
    svg.polyline([(_MIX + 11, 101), (_SUM - 11, 153)])
    svg.polyline([(_MIX + 14, 232), (_SUM - 11, 177)])
    svg.node(_SUM, 290, "h_{t}", "state")
    page.strip(svg, "fw:h", _SUM - 40, 314)
    svg.polyline([(_SUM, 181), (_SUM, 272)])
    return "h_{t} = (1 − z) ⊙ h_{t−1} + z ⊙ h̃_{t}"


VIEW = KindView(
    kind="mingru", panels=PANELS, gates=(("fw:z", "z_{t} σ"), ("fw:h_tilde", "h̃_{t} g")), gate_blocks=("z", "h̃"),
    states=(("fw:a", "a_{t} = 1 − z_{t}"), ("fw:b", "b_{t} = z ⊙ h̃"), ("fw:h", "h_{t}")), weights=weights,
    weight_steps=weight_steps, forward_equations=forward_equations, flow=mingru_flow, pre_activation="k",
    recurrent_weights=False, weight_grad="dk_{t}ᵀ x_{t}",
)
